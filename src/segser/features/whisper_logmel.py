"""Whisper's log-mel input: 25 ms periodic Hann, 10 ms hop, centred reflect-padded
STFT, power, Slaney mel (80 or 128 bands), log10 clamped to 8 decades below the
peak, scaled (x + 4) / 4. A numpy implementation (the torch-free runtime) and a
torch one (differentiable, for fine-tuning); they agree to float32 rounding."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from .base import Frontend, frame_signal, periodic_hann
from .mel import slaney_mel_matrix


@dataclass(frozen=True)
class WhisperLogMelConfig:
    sample_rate: int = 16000
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 80


class WhisperLogMel(Frontend):
    """Waveform (samples,) or (batch, samples) -> (..., n_mels, samples // 160) Whisper features.

    >>> import numpy as np
    >>> WhisperLogMel()(np.zeros(16000, np.float32) + 0.1).shape
    (80, 100)
    """

    def __init__(self, config: WhisperLogMelConfig | None = None):
        self.config = config or WhisperLogMelConfig()
        c = self.config
        self.window = periodic_hann(c.n_fft)
        self.mel = slaney_mel_matrix(n_mels=c.n_mels, n_fft=c.n_fft, sample_rate=c.sample_rate)
        self._torch = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.asarray(x, dtype=np.float32)
        pad = [(0, 0)] * (x.ndim - 1) + [(c.n_fft // 2, c.n_fft // 2)]
        frames = frame_signal(np.pad(x, pad, mode="reflect"), frame_length=c.n_fft, hop=c.hop)[..., :-1, :]
        power = np.abs(scipy.fft.rfft(frames * self.window, axis=-1)) ** 2  # (..., frames, bins)
        logmel = np.log10(np.maximum(np.swapaxes(power @ self.mel.T, -1, -2), 1e-10))
        peak = logmel.max(axis=(-2, -1), keepdims=True)
        return np.ascontiguousarray((np.maximum(logmel, peak - 8.0) + 4.0) / 4.0, dtype=np.float32)

    def torch(self, x):
        import torch

        if self._torch is None:
            self._torch = (torch.hann_window(self.config.n_fft, periodic=True), torch.from_numpy(self.mel.copy()))
        window, mel = self._torch
        c = self.config
        spec = torch.stft(x, c.n_fft, c.hop, window=window, center=True, pad_mode="reflect", return_complex=True)
        power = spec[..., :-1].abs() ** 2
        logmel = torch.clamp(mel @ power, min=1e-10).log10()
        peak = logmel.amax(dim=(-2, -1), keepdim=True)
        logmel = torch.maximum(logmel, peak - 8.0)
        return (logmel + 4.0) / 4.0
