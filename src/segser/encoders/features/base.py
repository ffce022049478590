"""What every frontend shares: a dataclass config, framing, windows, and scipy's FFT."""
from __future__ import annotations

import dataclasses

import numpy as np


class Frontend:
    """A feature extractor with a dataclass ``config``; ``__call__`` maps a
    mono waveform at ``config.sample_rate`` to a numpy array."""

    config: object

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def describe(self) -> dict:
        # options left at None are omitted: adding one keeps earlier cache keys valid
        return {"frontend": type(self).__name__, **{k: v for k, v in dataclasses.asdict(self.config).items() if v is not None}}

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def frame_signal(x: np.ndarray, *, frame_length: int, hop: int) -> np.ndarray:
    """Frames (n_frames, frame_length) of a 1-D or (batch, samples) signal, no padding."""
    n = x.shape[-1]
    if n < frame_length:
        pad = [(0, 0)] * (x.ndim - 1) + [(0, frame_length - n)]
        x = np.pad(x, pad)
        n = frame_length
    count = 1 + (n - frame_length) // hop
    view = np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=-1)
    return view[..., ::hop, :][..., :count, :]


def periodic_hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def fft():
    """scipy.fft (single-precision FFTs; numpy's compute in double precision and were slower), imported when first
    used: it costs 0.2 s, a fifth of a one-clip command's start-up."""
    import scipy.fft

    return scipy.fft
