"""MFCC-40 frames of each segment, flattened (frames x 40): the input of the
TDNN head trained from scratch, paper 003's non-transfer comparison."""
from __future__ import annotations

from dataclasses import dataclass

from segser.encoders.backbones.base import Backbone, stack_segments
from segser.encoders.features.mfcc import MFCC
from segser.errors import check_number


@dataclass(frozen=True)
class MFCCFramesConfig:
    segment_length: float = 1.0

    def __post_init__(self):
        check_number("mfcc segment_length", self.segment_length, lo=0.1, hi=10.0, unit="s")


class MFCCFrames(Backbone):
    name = "mfcc"
    config_type = MFCCFramesConfig

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self.frontend = MFCC()
        self.pad_to = self.config.segment_length
        self.n_frames = 1 + (int(round(self.pad_to * 16000)) - self.frontend.win) // self.frontend.hop
        self.dim = self.n_frames * 40

    def embed_segments(self, segments):
        return self.frontend(stack_segments(segments)).reshape(len(segments), -1)
