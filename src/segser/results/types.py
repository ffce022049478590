"""What a prediction returns, typed: one :class:`FileResult` per input, holding its timeline (a DataFrame,
one row per segment or per utterance), its clip :class:`Decision`, the adaptation applied
(:class:`~segser.adaptation.policy.AdaptationNote`), for a conversation its speaker :class:`Turn` s and a
:class:`SpeakerSummary` per speaker, and when transcribed its :class:`Word` s. ``as_dict()`` gives each one's
JSON form (NaN as None).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from segser.adaptation.policy import AdaptationNote

UNCERTAIN = "uncertain"
NO_SPEECH = "no speech"


def plain(value):
    """JSON-safe scalar: numpy types to Python, NaN to None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


@dataclass(frozen=True)
class Decision:
    """A clip's (or a speaker's) decision. ``probabilities`` are what the rule decided with
    (:mod:`segser.results.aggregate`); ``label`` is the largest of them and ``score`` its probability, or
    ``uncertain`` (the largest is below the minimum score: ``score`` still says it), ``no speech`` (no segment
    held speech: no score, no probabilities), ``undecided (tie)`` (``unique_majority`` abstained), or None
    when there was no segment at all (a stream that has just begun)."""

    label: str | None
    score: float
    probabilities: dict[str, float]
    rule: str
    n_segments: int
    n_speech: int
    duration: float
    notes: str = ""

    @property
    def decided(self) -> bool:
        """Whether the label is one of the classes."""
        return self.label in self.probabilities and not math.isnan(self.score)

    def as_dict(self) -> dict:
        """Flat: ``label, score, rule, n_segments, n_speech, duration, notes, p_<class>...`` (JSON, tables)."""
        return {"label": self.label, "score": plain(self.score), "rule": self.rule, "n_segments": self.n_segments,
                "n_speech": self.n_speech, "duration": self.duration, "notes": self.notes,
                **{f"p_{c}": plain(p) for c, p in self.probabilities.items()}}


@dataclass(frozen=True)
class Turn:
    """Who speaks from ``start`` to ``end`` (s); ``overlap``: the windows around it disagree (two voices, or a
    change of speaker)."""

    start: float
    end: float
    speaker: str
    overlap: bool = False

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "speaker": self.speaker, "overlap": self.overlap}


@dataclass(frozen=True)
class Word:
    """A transcribed word and when it was said (s); ``probability``: the recogniser's confidence."""

    start: float
    end: float
    text: str
    probability: float = math.nan

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "probability": plain(self.probability)}


@dataclass(frozen=True)
class SpeakerSummary:
    """One found speaker: seconds of speech, the share of that speech per emotion, a clip-style decision over
    their segments and the adaptation their segments got."""

    speaker: str
    speech_seconds: float
    share: dict[str, float]
    decision: Decision
    adaptation: AdaptationNote | None = None

    def as_dict(self) -> dict:
        d = self.decision
        return {"speech_seconds": self.speech_seconds, "share": dict(self.share),
                "decision": {"label": d.label, "score": plain(d.score), "n_segments": d.n_segments, "n_speech": d.n_speech},
                "adaptation": self.adaptation.as_dict() if self.adaptation is not None else {}}


@dataclass
class FileResult:
    """One input's outcome: its timeline and decision, or the error that stopped it."""

    file: str
    segments: pd.DataFrame | None = None  # results.timeline.columns(classes) [+ speaker, text, ...]
    decision: Decision | None = None
    error: str | None = None
    error_kind: str | None = field(default=None, repr=False)  # the AudioError subclass, e.g. LimitExceeded (HTTP 413)
    envelope: tuple | None = field(default=None, repr=False)  # (times, min, max) of the waveform, for plots
    adaptation: AdaptationNote | None = None
    turns: list[Turn] | None = None  # speaker turns when speakers were found
    speakers: dict[str, SpeakerSummary] | None = None
    words: list[Word] | None = None  # the transcript, when words were transcribed
    language: str | None = None  # the transcript's language

    @property
    def ok(self) -> bool:
        return self.error is None
