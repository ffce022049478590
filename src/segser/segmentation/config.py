"""How a recording is cut into segments (:class:`Segmentation`): fixed windows (paper 001), speech regions
(Silero VAD) or the whole clip; validated where it is made, and overridden by a prediction's options one way.

>>> Segmentation(length=1.0, hop=0.5).segmenter().spans(np.ones(32000, np.float32), 16000)
[(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from segser.errors import ConfigError, LimitExceeded, check_choice, check_number
from segser.segmentation.vad import SpeechRegions
from segser.segmentation.windows import (
    CLIP_PIECE_SECONDS,
    MAX_LENGTH,
    MAX_SEGMENTS_PER_FILE,
    MIN_HOP,
    MIN_LENGTH,
    MIN_TAIL,
    FixedWindows,
    Segmenter,
    WholeClip,
)


@dataclass(frozen=True)
class Segmentation:
    """How a clip is cut. ``hop == length`` is non-overlapping (001, Table 3).
    Validated where it is made: finite, within [0.02, 60] s (hop >= 0.01 s)."""

    length: float = 1.0
    hop: float = 1.0
    method: str = "fixed"  # "fixed" | "vad" | "clip"
    min_speech: float = 0.25  # VAD: shortest speech region kept (s)
    max_length: float = 4.0  # VAD: longer regions are cut into pieces of this length (s)
    context: str = "tiled"  # window encoders: CONTEXTS

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "method", check_choice("segmentation method", self.method, METHODS))
        set_(self, "context", check_choice("encoder context", self.context, CONTEXTS))
        set_(self, "length", check_number("segment length", self.length, lo=MIN_LENGTH, hi=MAX_LENGTH, unit="s"))
        set_(self, "hop", check_number("segment hop", self.hop, lo=MIN_HOP, hi=MAX_LENGTH, unit="s"))
        set_(self, "min_speech", check_number("VAD min_speech", self.min_speech, lo=0.03, hi=10.0, unit="s"))
        set_(self, "max_length", check_number("VAD max_length", self.max_length, lo=0.5, hi=MAX_LENGTH, unit="s"))
        if self.max_length < self.min_speech:
            raise ConfigError(f"VAD max_length ({self.max_length}) must be >= min_speech ({self.min_speech})")

    def with_overrides(self, *, length: float | None = None, hop: float | None = None, vad: bool = False) -> "Segmentation":
        """This segmentation with a new length, hop or VAD (the one rule for the
        CLI, the service and the API): a new length without a hop gives
        non-overlapping segments of that length."""
        if not vad and length is None and hop is None:
            return self
        new_length = self.length if length is None else length
        new_hop = hop if hop is not None else (new_length if length is not None else self.hop)
        return Segmentation(length=new_length, hop=new_hop, method="vad" if vad else "fixed",
                            min_speech=self.min_speech, max_length=self.max_length, context=self.context)

    def segmenter(self, *, vad_file=None) -> "Segmenter":
        """The segmenter; ``vad_file``: a Silero VAD ONNX file to use instead of the resolver's."""
        if self.method == "vad":
            return SpeechRegions(min_speech=self.min_speech, max_length=self.max_length,
                                 vad_file=str(vad_file) if vad_file else None)
        if self.method == "clip":
            return WholeClip(min_tail=MIN_TAIL)
        return FixedWindows(length=self.length, hop=self.hop, min_tail=min(MIN_TAIL, self.length),
                            merge_tail=self.context == "tiled")

    def max_segments(self, duration: float) -> int:
        """An upper bound on the number of segments of ``duration`` seconds."""
        step = {"fixed": self.hop, "vad": self.min_speech + 0.2, "clip": CLIP_PIECE_SECONDS}[self.method]
        return int(math.ceil(duration / step)) + 1

    def check_duration(self, duration: float, where, *, limit: int = MAX_SEGMENTS_PER_FILE) -> None:
        """Refuse, before any work, a file that would give more than ``limit`` segments."""
        n = self.max_segments(duration)
        if n > limit:
            raise LimitExceeded(where, f"{duration:.0f} s at a {self.hop:g} s hop would give up to {n:,} segments "
                                    f"(limit {limit:,}); use a larger hop or cut the recording")

    def describe(self) -> dict:
        trailing = {"context": "trailing"} if self.context == "trailing" else {}
        if self.method == "fixed":
            return {"method": "fixed", "length": self.length, "hop": self.hop, **trailing}
        if self.method == "vad":
            return {"method": "vad", "min_speech": self.min_speech, "max_length": self.max_length, **trailing}
        return {"method": "clip", **trailing}



METHODS = ("fixed", "vad", "clip")



# Where a window encoder's window lies: "tiled" from 0 (each window shared by the segments inside it; a segment
# waits for its window's end) or "trailing" (a window per segment, ending where the segment ends: its result as
# soon as its audio is there, at one encoding per segment).
CONTEXTS = ("tiled", "trailing")

