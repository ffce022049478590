"""Whisper's log-mel input: 25 ms periodic Hann, 10 ms hop, centred reflect-padded
STFT, power, Slaney mel (80 or 128 bands), log10 clamped to 8 decades below the
peak, scaled (x + 4) / 4."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import Frontend
from .mel import slaney_mel_matrix


@dataclass(frozen=True)
class WhisperLogMelConfig:
    sample_rate: int = 16000
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 80


class WhisperLogMel(Frontend):
    """Waveform (samples,) -> (n_mels, samples // 160) Whisper features.

    >>> import numpy as np
    >>> WhisperLogMel()(np.zeros(16000, np.float32) + 0.1).shape
    (80, 100)
    """

    def __init__(self, config: WhisperLogMelConfig | None = None):
        self.config = config or WhisperLogMelConfig()
        c = self.config
        self.window = torch.hann_window(c.n_fft, periodic=True)
        self.mel = torch.from_numpy(slaney_mel_matrix(n_mels=c.n_mels, n_fft=c.n_fft, sample_rate=c.sample_rate))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.torch(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        spec = torch.stft(x, c.n_fft, c.hop, window=self.window, center=True, pad_mode="reflect", return_complex=True)
        power = spec[..., :-1].abs() ** 2
        logmel = torch.clamp(self.mel @ power, min=1e-10).log10()
        peak = logmel.amax(dim=(-2, -1), keepdim=True)
        logmel = torch.maximum(logmel, peak - 8.0)
        return (logmel + 4.0) / 4.0
