"""Noise mix-up at an exact SNR (paper 002), from real noise recordings.

SNR is speech power over the ACTIVE speech (frames within 40 dB of the loudest)
against noise power over the noise excerpt actually used; silent stretches of
noise files (zero-padded events) are never used as noise. After mixing, 002's
infinity-norm normalisation scales the mixture to a peak of 1.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segser.errors import ConfigError
from segser.io.audio import find_audio, load

FRAME = 400  # 25 ms at 16 kHz


def _frame_power(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = max(1, x.size // frame)
    return (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1) if x.size >= frame else np.array([np.mean(x ** 2)])


def active_power(x: np.ndarray, *, floor_db: float = 40.0) -> float:
    """Mean power of frames within ``floor_db`` of the loudest frame."""
    p = _frame_power(x)
    active = p[p >= p.max() * 10 ** (-floor_db / 10)]
    return float(active.mean())


def active_noise(x: np.ndarray, *, floor_db: float = 50.0, abs_floor: float = 1e-8) -> np.ndarray:
    """The noise with silent frames removed (digital zeros and near-silence)."""
    n = x.size // FRAME
    if n == 0:
        return x[np.abs(x) > 0]
    frames = x[: n * FRAME].reshape(n, FRAME)
    p = (frames ** 2).mean(axis=1)
    keep = (p > abs_floor) & (p >= p.max() * 10 ** (-floor_db / 10))
    return frames[keep].reshape(-1)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, *, normalise: bool = True) -> np.ndarray:
    """``speech + a * noise`` (noise already cut to length) at ``snr_db``."""
    if noise.size != speech.size:
        raise ValueError("noise must have the speech's length")
    pn = float(np.mean(noise ** 2))
    if pn <= 0:
        raise ValueError("noise excerpt is silent")
    a = np.sqrt(active_power(speech) / (pn * 10 ** (snr_db / 10)))
    y = speech + a * noise
    if normalise:
        y = y / max(float(np.max(np.abs(y))), 1e-12)
    return y.astype(np.float32)


@dataclass
class NoiseBank:
    """Noise recordings under a folder; excerpts drawn reproducibly by seed."""

    files: list[Path]
    sample_rate: int = 16000
    _active: dict = field(default_factory=dict, repr=False)  # path -> non-silent noise samples

    @classmethod
    def from_dir(cls, root, *, split: str | None = None, sample_rate: int = 16000) -> "NoiseBank":
        root = Path(root)
        if split is not None and (root / split).is_dir():
            root = root / split
        files = find_audio(root) if root.is_dir() else []
        if not files:
            raise ConfigError(f"{root}: no noise recordings found")
        return cls(files, sample_rate)

    @property
    def id(self) -> str:
        """Names the bank's content in cache keys: file names and sizes, not where the bank lies."""
        common = Path(os.path.commonpath([str(f) for f in self.files])) if len(self.files) > 1 else self.files[0].parent
        text = "|".join(f"{Path(f).relative_to(common)}:{Path(f).stat().st_size}" for f in sorted(self.files))
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def excerpt(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        for _ in range(20):
            path = self.files[int(rng.integers(len(self.files)))]
            if path not in self._active:
                self._active[path] = active_noise(load(path, sample_rate=self.sample_rate))
            noise = self._active[path]
            if noise.size >= FRAME:
                break
        else:
            raise ValueError("no usable (non-silent) noise found in the bank")
        if noise.size < n:
            noise = np.tile(noise, int(np.ceil(n / noise.size)) + 1)
        start = int(rng.integers(0, noise.size - n + 1))
        return noise[start: start + n], str(path)

    def mix(self, speech: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
        noise, _ = self.excerpt(speech.size, rng)
        return mix_at_snr(speech, noise, snr_db)
