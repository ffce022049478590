"""Frontends: waveform -> time-frequency features, each with a dataclass config."""
from segser.encoders.features.base import Frontend
from segser.encoders.features.mel import htk_mel_matrix, hz_to_mel_htk, slaney_mel_matrix
from segser.encoders.features.vggish_logmel import VGGishLogMel, VGGishLogMelConfig
from segser.encoders.features.whisper_logmel import WhisperLogMel, WhisperLogMelConfig

__all__ = [
    "Frontend", "VGGishLogMel", "VGGishLogMelConfig", "WhisperLogMel", "WhisperLogMelConfig",
    "hz_to_mel_htk", "htk_mel_matrix", "slaney_mel_matrix",
]
