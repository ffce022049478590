"""The paper-001 baseline input: the raw 96x64 VGGish log-mel patch, flattened."""
from __future__ import annotations


from ..features import VGGishLogMel
from ..segments import cut
from .base import Backbone


class LogMelPatch(Backbone):
    name = "logmel"
    dim = 96 * 64
    layers = ("patch",)

    def __init__(self, segment_length: float = 1.0):
        super().__init__()
        self.frontend = VGGishLogMel()
        self.segment_length = segment_length

    def describe(self) -> dict:
        return {"backbone": self.name, **self.frontend.describe(), "segment_length": self.segment_length}

    def embed(self, x, spans):
        segs = cut(x, spans, sample_rate=self.sample_rate, length=self.segment_length)
        return self.frontend.patches(segs).reshape(len(spans), -1)
