"""VGGish log-mel patches (paper 001 section 3.2; the VGGish reference input).

16 kHz, 25 ms periodic Hann window, 10 ms hop, |STFT| with a 512-point FFT,
64 HTK-mel bands 125-7500 Hz, log(mel + 0.01), 96 x 64 patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.encoders.features.base import Frontend, fft, frame_signal, periodic_hann
from segser.encoders.features.mel import htk_mel_matrix


@dataclass(frozen=True)
class VGGishLogMelConfig:
    sample_rate: int = 16000
    window_seconds: float = 0.025
    hop_seconds: float = 0.010
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.01
    patch_frames: int = 96


class VGGishLogMel(Frontend):
    """Waveform -> log-mel frames (n_frames, 64); :meth:`patches` -> (n, 96, 64).

    >>> import numpy as np
    >>> VGGishLogMel()(np.zeros(16000, np.float32)).shape
    (98, 64)
    """

    def __init__(self, config: VGGishLogMelConfig | None = None):
        self.config = config or VGGishLogMelConfig()
        c = self.config
        self.win = int(round(c.window_seconds * c.sample_rate))
        self.hop = int(round(c.hop_seconds * c.sample_rate))
        self.n_fft = 1 << int(np.ceil(np.log2(self.win)))
        self.window = periodic_hann(self.win)
        self.mel = htk_mel_matrix(n_mels=c.n_mels, n_fft=self.n_fft, sample_rate=c.sample_rate, fmin=c.fmin, fmax=c.fmax)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        frames = frame_signal(np.asarray(x, dtype=np.float32), frame_length=self.win, hop=self.hop)
        mag = np.abs(fft().rfft(frames * self.window, n=self.n_fft, axis=-1, workers=-1))
        return np.log(mag @ self.mel + self.config.log_offset).astype(np.float32)

    def patches(self, segments: np.ndarray) -> np.ndarray:
        """One 96x64 patch per segment (first 0.96 s; a 1 s segment has 98 frames).

        ``segments`` is (n, samples); shorter segments are zero-padded.
        """
        segments = np.atleast_2d(np.asarray(segments, dtype=np.float32))
        need = (self.config.patch_frames - 1) * self.hop + self.win
        if segments.shape[1] < need:
            segments = np.pad(segments, ((0, 0), (0, need - segments.shape[1])))
        logmel = self(segments)
        return np.ascontiguousarray(logmel[:, : self.config.patch_frames, :])
