"""Cutting a clip into segments: fixed windows (paper 001) or speech regions (VAD).

A segment is (start, end) in seconds of the original clip. Fixed segments all
have the same nominal length; the last one may run past the clip end and is
zero-padded when its samples are taken.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segmentation:
    """How a clip is cut. ``hop == length`` is non-overlapping (001, Table 3)."""

    length: float = 1.0
    hop: float = 1.0
    method: str = "fixed"  # "fixed" | "vad" | "clip" (one span: the whole clip)
    min_speech: float = 0.25  # VAD: shortest speech region kept (s)
    max_length: float = 4.0  # VAD: longer regions are split (s)

    def __post_init__(self):
        if self.length <= 0 or self.hop <= 0:
            raise ValueError(f"segment length and hop must be > 0 (got {self.length}, {self.hop})")
        if self.method not in ("fixed", "vad", "clip"):
            raise ValueError(f"unknown segmentation method {self.method!r} (fixed, vad, clip)")


def fixed_spans(duration: float, *, length: float = 1.0, hop: float = 1.0) -> list[tuple[float, float]]:
    """Start/end times of fixed segments covering ``duration`` seconds.

    The last segment is kept if it starts before the end; a clip shorter than
    one segment gives exactly one (padded) segment.

    >>> fixed_spans(2.5, length=1.0, hop=1.0)
    [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    >>> fixed_spans(2.0, length=1.0, hop=0.5)
    [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]
    """
    if duration <= 0:
        return []
    spans = []
    k = 0
    eps = 1e-9
    while True:
        start = round(k * hop, 6)
        if k > 0 and start + eps >= duration:
            break
        spans.append((start, round(start + length, 6)))
        if start + length >= duration - eps:
            break
        k += 1
    return spans


def cut(x: np.ndarray, spans, *, sample_rate: int, length: float | None = None) -> np.ndarray:
    """Samples of each span, zero-padded to ``length`` seconds (default: span length).

    Returns an array (n_segments, n_samples).
    """
    if not spans:
        return np.zeros((0, 0), dtype=np.float32)
    n = int(round((length if length is not None else spans[0][1] - spans[0][0]) * sample_rate))
    out = np.zeros((len(spans), n), dtype=np.float32)
    for i, (s, e) in enumerate(spans):
        a = int(round(s * sample_rate))
        piece = x[a: min(a + n, x.size)]
        out[i, : piece.size] = piece
    return out


def speech_spans(x: np.ndarray, *, sample_rate: int, min_speech: float = 0.25, max_length: float = 4.0,
                 min_silence: float = 0.2) -> list[tuple[float, float]]:
    """Speech regions found by Silero VAD (weights ship in the ``silero-vad`` package).

    Regions shorter than ``min_speech`` are dropped; longer than ``max_length``
    are split into near-equal parts, so silence gets no emotion.
    """
    from .backbones.vad import silero_speech_regions

    regions = silero_speech_regions(x, sample_rate=sample_rate, min_speech=min_speech, min_silence=min_silence)
    spans = []
    for s, e in regions:
        d = e - s
        parts = max(1, int(np.ceil(d / max_length - 1e-9)))
        for k in range(parts):
            spans.append((round(s + k * d / parts, 3), round(s + (k + 1) * d / parts, 3)))
    return spans


def spans_for(x: np.ndarray, *, sample_rate: int, segmentation: Segmentation) -> list[tuple[float, float]]:
    duration = x.size / sample_rate
    if segmentation.method == "clip":
        return [(0.0, round(duration, 6))]
    if segmentation.method == "vad":
        return speech_spans(x, sample_rate=sample_rate, min_speech=segmentation.min_speech,
                            max_length=segmentation.max_length)
    return fixed_spans(duration, length=segmentation.length, hop=segmentation.hop)
