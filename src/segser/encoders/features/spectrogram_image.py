"""Spectrograms as RGB images for ImageNet CNNs (papers 002 and 004).

002: 1 s blocks at 16 kHz, STFT with a 16 ms Hamming window, FFT 512, hop 62
samples (257 x 259), power in dB, jet colormap, resized to the network's input
and normalised with the ImageNet statistics. 004's variant uses a log-mel
spectrogram instead of the linear STFT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps

from segser.encoders.features.base import Frontend
from segser.encoders.features.mel import slaney_mel_matrix

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SpectrogramImageConfig:
    sample_rate: int = 16000
    window_seconds: float = 0.016
    n_fft: int = 512
    hop: int = 62
    window: str = "hamming"
    kind: str = "stft"  # "stft" (002) or "logmel" (004)
    n_mels: int = 128
    dynamic_range_db: float = 80.0
    size: int = 224
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD


def _jet_lut() -> torch.Tensor:

    return torch.from_numpy(colormaps["jet"](np.linspace(0, 1, 256))[:, :3].astype(np.float32))


class SpectrogramImage(Frontend):
    """Segments (n, samples) -> normalised RGB images (n, 3, size, size).

    >>> import numpy as np
    >>> SpectrogramImage().db(np.random.randn(16000).astype("float32")).shape
    (257, 259)
    """

    def __init__(self, config: SpectrogramImageConfig | None = None):
        self.config = config or SpectrogramImageConfig()
        c = self.config
        win = int(round(c.window_seconds * c.sample_rate))
        self.window = torch.hamming_window(win, periodic=True) if c.window == "hamming" else torch.hann_window(win)
        self.lut = _jet_lut()
        self.mel = torch.from_numpy(slaney_mel_matrix(n_mels=c.n_mels, n_fft=c.n_fft, sample_rate=c.sample_rate)) \
            if c.kind == "logmel" else None

    def db(self, x) -> np.ndarray:
        """Power spectrogram in dB (freq, frames), low frequencies first."""
        return self._db(torch.as_tensor(np.atleast_2d(np.asarray(x, dtype=np.float32))))[0].numpy()

    def _db(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        spec = torch.stft(x, c.n_fft, c.hop, win_length=self.window.numel(), window=self.window, center=True,
                          pad_mode="constant", return_complex=True)
        power = spec.abs() ** 2
        if self.mel is not None:
            power = self.mel @ power
        return 10.0 * torch.log10(power + 1e-10)

    def colorize(self, db: torch.Tensor) -> torch.Tensor:
        """(n, freq, frames) dB -> (n, 3, freq, frames) jet RGB in [0, 1], top row = highest frequency."""
        top = db.amax(dim=(-2, -1), keepdim=True)
        level = ((db - (top - self.config.dynamic_range_db)) / self.config.dynamic_range_db).clamp(0, 1)
        idx = (level * 255).round().long().flip(-2)
        return self.lut[idx].permute(0, 3, 1, 2)

    def __call__(self, segments) -> np.ndarray:
        return self.torch(torch.as_tensor(np.atleast_2d(np.asarray(segments, dtype=np.float32)))).numpy()

    def torch(self, segments: torch.Tensor) -> torch.Tensor:
        c = self.config
        rgb = self.colorize(self._db(segments))
        rgb = F.interpolate(rgb, size=(c.size, c.size), mode="bilinear", align_corners=False)
        mean = torch.tensor(c.mean).view(1, 3, 1, 1)
        std = torch.tensor(c.std).view(1, 3, 1, 1)
        return (rgb - mean) / std
