"""Whisper's log-mel input: 25 ms periodic Hann, 10 ms hop, centred reflect-padded
STFT, power, Slaney mel (80 or 128 bands), log10 clamped to 8 decades below the
peak, scaled (x + 4) / 4. A numpy implementation (the torch-free runtime) and a
torch one (differentiable, for fine-tuning); they agree to float32 rounding.

Optionally each input (a window) is first scaled to a fixed speech level: the
corpora differ by 20 dB in recording level (EmoDB is peak-normalised, RAVDESS
sits near -39 dBFS RMS), and a level the model learned per corpus does not
transfer to a new microphone."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.encoders.features.base import Frontend, fft, frame_signal, periodic_hann
from segser.encoders.features.mel import slaney_mel_matrix
from segser.errors import check_number


@dataclass(frozen=True)
class WhisperLogMelConfig:
    sample_rate: int = 16000
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 80
    level: float | None = None  # dBFS of the input's speech level after scaling (see level_gain); None keeps it

    def __post_init__(self):
        if self.level is not None:
            object.__setattr__(self, "level", check_number("whisper level", self.level, lo=-60.0, hi=0.0, unit="dBFS"))


LEVEL_FRAME = 320  # 20 ms at 16 kHz
LEVEL_FLOOR = 1e-3  # -60 dBFS: quieter inputs (silence) get at most this much gain


def level_gain(x: np.ndarray, level: float) -> np.ndarray:
    """Gain per input row of (..., samples) that brings its speech level to
    ``level`` dBFS. The speech level is the 90th percentile of the RMS of 20 ms
    frames: pauses and leading silence do not lower it, one click does not raise it.

    >>> x = np.full((1, 16000), 0.01, np.float32)
    >>> round(float(level_gain(x, -20.0)[0, 0]), 3)  # 0.01 RMS is -40 dBFS: +20 dB
    10.0
    """
    n = max(1, x.shape[-1] // LEVEL_FRAME)
    frames = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, max(0, n * LEVEL_FRAME - x.shape[-1]))])[..., : n * LEVEL_FRAME]
    rms = np.sqrt(np.mean(frames.reshape(*x.shape[:-1], n, LEVEL_FRAME).astype(np.float64) ** 2, axis=-1))
    speech = np.maximum(np.percentile(rms, 90, axis=-1, keepdims=True), LEVEL_FLOOR)
    return (10.0 ** (level / 20.0) / speech).astype(np.float32)


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
        if c.level is not None:
            x = x * level_gain(x, c.level)
        pad = [(0, 0)] * (x.ndim - 1) + [(c.n_fft // 2, c.n_fft // 2)]
        frames = frame_signal(np.pad(x, pad, mode="reflect"), frame_length=c.n_fft, hop=c.hop)[..., :-1, :]
        power = np.abs(fft().rfft(frames * self.window, axis=-1)) ** 2  # (..., frames, bins)
        logmel = np.log10(np.maximum(np.swapaxes(power @ self.mel.T, -1, -2), 1e-10))
        peak = logmel.max(axis=(-2, -1), keepdims=True)
        return np.ascontiguousarray((np.maximum(logmel, peak - 8.0) + 4.0) / 4.0, dtype=np.float32)

    def torch(self, x):
        import torch

        if self._torch is None:
            self._torch = (torch.hann_window(self.config.n_fft, periodic=True), torch.from_numpy(self.mel.copy()))
        window, mel = self._torch
        c = self.config
        if c.level is not None:
            x = x * torch.from_numpy(level_gain(x.detach().cpu().numpy(), c.level)).to(x)
        spec = torch.stft(x, c.n_fft, c.hop, window=window, center=True, pad_mode="reflect", return_complex=True)
        power = spec[..., :-1].abs() ** 2
        logmel = torch.clamp(mel @ power, min=1e-10).log10()
        peak = logmel.amax(dim=(-2, -1), keepdim=True)
        logmel = torch.maximum(logmel, peak - 8.0)
        return (logmel + 4.0) / 4.0
