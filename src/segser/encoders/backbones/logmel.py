"""The paper-001 baseline input: the raw 96x64 VGGish log-mel patch, flattened."""
from __future__ import annotations

from dataclasses import dataclass

from segser.encoders.backbones.base import Backbone, stack_segments
from segser.encoders.features import VGGishLogMel
from segser.errors import check_number


@dataclass(frozen=True)
class LogMelConfig:
    segment_length: float = 1.0  # each segment is cut/zero-padded to this length

    def __post_init__(self):
        check_number("logmel segment_length", self.segment_length, lo=0.1, hi=10.0, unit="s")


class LogMelPatch(Backbone):
    name = "logmel"
    config_type = LogMelConfig
    dim = 96 * 64

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self.frontend = VGGishLogMel()
        self.pad_to = self.config.segment_length

    def embed_segments(self, segments):
        return self.frontend.patches(stack_segments(segments)).reshape(len(segments), -1)
