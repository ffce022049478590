"""What a prediction returns: one :class:`FileResult` per input."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class FileResult:
    """One input's outcome: its timeline and decision, or the error that stopped it."""

    file: str
    segments: pd.DataFrame | None = None  # columns(classes) [+ extra columns such as speaker]
    decision: dict = field(default_factory=dict)  # decision_columns(classes)
    error: str | None = None
    error_kind: str | None = field(default=None, repr=False)  # the AudioError subclass, e.g. LimitExceeded (HTTP 413)
    envelope: tuple | None = field(default=None, repr=False)  # (times, min, max) of the waveform, for plots
    adaptation: dict = field(default_factory=dict)  # what adaptation was applied, with how much speech
    turns: list | None = None  # speaker turns (start, end, speaker, overlap) when speakers were found
    speakers: dict | None = None  # per found speaker: seconds of speech, share per emotion, decision, adaptation

    @property
    def ok(self) -> bool:
        return self.error is None

