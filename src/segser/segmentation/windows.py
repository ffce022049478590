"""Cutting audio into segments: fixed windows (paper 001), speech regions
(Silero VAD) or the whole clip. One interface for training, offline predict,
live streams and the command line.

A segment is ``(start, end)`` in seconds. Every segmenter works on a stream:
``state = segmenter.start(sample_rate)``, then ``state.push(samples)`` returns
the segments that became complete, ``state.finish()`` the rest. Cutting a
whole signal is the same stream fed once, so a file streamed in blocks and a
live stream in chunks of any size are cut exactly as training cut its clips.

>>> Segmentation(length=1.0, hop=0.5).segmenter().spans(np.ones(32000, np.float32), 16000)
[(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LENGTH, MAX_LENGTH = 0.02, 60.0  # seconds per segment (0.02: one Whisper frame, paper 003)
MIN_HOP = 0.01  # at most 100 segments per second of audio
# A final piece with less real audio than this is merged into the segment before it (the tail rule):
# below it labels are no better than chance (benchmarks/segment_evidence.py).
MIN_TAIL = 0.25
MAX_SEGMENTS_PER_FILE = 1_000_000
CLIP_PIECE_SECONDS = 30.0  # "whole clip" segments of long recordings are cut every 30 s
_EPS = 1e-9


class Segmenter:
    """Makes a streaming state; :meth:`spans` cuts a whole signal the same way."""

    def start(self, sample_rate: int) -> "SegmenterState":  # pragma: no cover - interface
        raise NotImplementedError

    def spans(self, x: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        state = self.start(sample_rate)
        return state.push(x) + state.finish()


class SegmenterState:
    sample_rate: int
    received: int = 0

    def push(self, x: np.ndarray) -> list[tuple[float, float]]:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> list[tuple[float, float]]:  # pragma: no cover - interface
        raise NotImplementedError

    def horizon(self) -> float:
        """No segment to come starts before this time (s): older audio may be dropped."""
        raise NotImplementedError  # pragma: no cover


@dataclass(frozen=True)
class FixedWindows(Segmenter):
    """Windows of ``length`` every ``hop`` seconds; the last one starts before
    the end and is zero-padded; a clip shorter than one window gives one.

    Tail rule: a final window holding less than ``min_tail`` seconds of real
    audio is not a segment of its own: it is merged into the previous segment
    (whose end becomes the end of the audio) or dropped where the previous
    segment already reaches the end. A live stream therefore holds a segment
    back until ``min_tail`` seconds past the next one's start have arrived.
    With ``merge_tail=False`` such a tail is dropped instead, so no segment is
    held back: each is out as soon as its audio is (trailing windows)."""

    length: float = 1.0
    hop: float = 1.0
    min_tail: float = 0.0
    merge_tail: bool = True

    def start(self, sample_rate):
        return _FixedState(self, sample_rate)


class _FixedState(SegmenterState):
    def __init__(self, spec: FixedWindows, sample_rate: int):
        self.spec, self.sample_rate = spec, sample_rate
        self.k, self.received = 0, 0

    def _span(self, k):
        start = round(k * self.spec.hop, 6)
        return start, round(start + self.spec.length, 6)

    def push(self, x):
        self.received += len(x)
        now, out = self.received / self.sample_rate, []
        while True:
            s, e = self._span(self.k)
            held = self.spec.merge_tail and self._span(self.k + 1)[0] + self.spec.min_tail > now + _EPS
            if e > now + _EPS or (self.spec.min_tail and held):
                return out
            out.append((s, e))
            self.k += 1

    def finish(self):
        duration, out = self.received / self.sample_rate, []
        if duration <= 0 or (self.k > 0 and self._span(self.k - 1)[1] >= duration - _EPS):
            return out
        while True:
            s, e = self._span(self.k)
            if self.k > 0 and s + _EPS >= duration:
                break
            out.append((s, e))
            self.k += 1
            if e >= duration - _EPS:
                break
        if out and duration - out[-1][0] < self.spec.min_tail - _EPS:
            out.pop()  # too little real audio for a segment of its own
            # push() held the previous segment back, so it is in ``out`` (unless the clip had one segment only)
            if self.spec.merge_tail and out and out[-1][1] < duration - _EPS:  # the one before takes the tail
                out[-1] = (out[-1][0], round(duration, 6))
        return out

    def horizon(self):
        return self._span(self.k)[0]


@dataclass(frozen=True)
class WholeClip(Segmenter):
    """One segment: the whole clip (recordings longer than 30 s: one per 30 s;
    a last piece shorter than ``min_tail`` joins the one before it)."""

    piece: float = CLIP_PIECE_SECONDS
    min_tail: float = 0.0

    def start(self, sample_rate):
        return _ClipState(self, sample_rate)


class _ClipState(SegmenterState):
    def __init__(self, spec: WholeClip, sample_rate: int):
        self.spec, self.sample_rate, self.k, self.received = spec, sample_rate, 0, 0

    def push(self, x):
        self.received += len(x)
        out, piece = [], self.spec.piece
        while (self.k + 1) * piece + self.spec.min_tail <= self.received / self.sample_rate + _EPS:
            out.append((round(self.k * piece, 6), round((self.k + 1) * piece, 6)))
            self.k += 1
        return out

    def finish(self):
        duration, piece = self.received / self.sample_rate, self.spec.piece
        out = []
        while (self.k + 1) * piece < duration - _EPS:  # whole pieces held back for the tail rule
            out.append((round(self.k * piece, 6), round((self.k + 1) * piece, 6)))
            self.k += 1
        start = self.k * piece
        if duration > start + _EPS or (self.k == 0 and duration > 0):
            if out and duration - start < self.spec.min_tail - _EPS:
                out[-1] = (out[-1][0], round(duration, 6))
            else:
                out.append((round(start, 6), round(duration, 6)))
        return out

    def horizon(self):
        return self.k * self.spec.piece


# --- speech regions -------------------------------------------------------------------------------


