"""Frontends: waveform -> time-frequency features, each with a dataclass config."""
from .base import Frontend
from .mel import htk_mel_matrix, hz_to_mel_htk, slaney_mel_matrix
from .vggish_logmel import VGGishLogMel, VGGishLogMelConfig
from .whisper_logmel import WhisperLogMel, WhisperLogMelConfig

__all__ = [
    "Frontend", "VGGishLogMel", "VGGishLogMelConfig", "WhisperLogMel", "WhisperLogMelConfig",
    "hz_to_mel_htk", "htk_mel_matrix", "slaney_mel_matrix",
]
