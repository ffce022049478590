"""MFCC-40 frames of each segment, flattened (frames x 40): the input of the
TDNN head trained from scratch, paper 003's non-transfer comparison."""
from __future__ import annotations

from ..features.mfcc import MFCC
from ..segments import cut
from .base import Backbone


class MFCCFrames(Backbone):
    name = "mfcc"
    layers = ("frames",)

    def __init__(self, segment_length: float = 1.0):
        super().__init__()
        self.frontend = MFCC()
        self.segment_length = segment_length
        self.n_frames = 1 + (int(round(segment_length * 16000)) - self.frontend.win) // self.frontend.hop
        self.dim = self.n_frames * 40

    def describe(self) -> dict:
        return {"backbone": self.name, **self.frontend.describe(), "segment_length": self.segment_length}

    def embed(self, x, spans):
        segs = cut(x, spans, sample_rate=self.sample_rate, length=self.segment_length)
        return self.frontend(segs).reshape(len(spans), -1)
