"""MFCC-40 as in Kaldi's high-resolution ASR features (paper 003's input):
25 ms Hamming window, 10 ms hop, FFT 512, 40 HTK-mel bands 20-7600 Hz,
log energies, DCT-II (orthonormal), 40 cepstra."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.encoders.features.base import Frontend, fft, frame_signal
from segser.encoders.features.mel import htk_mel_matrix


@dataclass(frozen=True)
class MFCCConfig:
    sample_rate: int = 16000
    window_seconds: float = 0.025
    hop_seconds: float = 0.010
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 40
    fmin: float = 20.0
    fmax: float = 7600.0


class MFCC(Frontend):
    """Waveform -> (n_frames, 40) MFCCs.

    >>> import numpy as np
    >>> MFCC()(np.random.randn(16000).astype("float32")).shape
    (98, 40)
    """

    def __init__(self, config: MFCCConfig | None = None):
        self.config = config or MFCCConfig()
        c = self.config
        self.win = int(round(c.window_seconds * c.sample_rate))
        self.hop = int(round(c.hop_seconds * c.sample_rate))
        self.window = np.hamming(self.win).astype(np.float32)
        self.mel = htk_mel_matrix(n_mels=c.n_mels, n_fft=c.n_fft, sample_rate=c.sample_rate, fmin=c.fmin, fmax=c.fmax)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        frames = frame_signal(np.asarray(x, dtype=np.float32), frame_length=self.win, hop=self.hop)
        frames = frames - frames.mean(axis=-1, keepdims=True)
        power = np.abs(fft().rfft(frames * self.window, n=self.config.n_fft, axis=-1, workers=-1)) ** 2
        logmel = np.log(np.maximum(power @ self.mel, 1e-10))
        return fft().dct(logmel, type=2, norm="ortho", axis=-1)[..., : self.config.n_mfcc].astype(np.float32)
