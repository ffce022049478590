"""Mel filterbanks: HTK-scale triangles as in VGGish, Slaney-normalised as in Whisper."""
from __future__ import annotations

import numpy as np


def hz_to_mel_htk(hz):
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def htk_mel_matrix(*, n_mels: int = 64, n_fft: int = 512, sample_rate: int = 16000,
                   fmin: float = 125.0, fmax: float = 7500.0) -> np.ndarray:
    """VGGish's mel matrix (n_fft//2+1, n_mels): triangles on the HTK mel scale,
    unnormalised, DC bin excluded."""
    n_bins = n_fft // 2 + 1
    bins_mel = hz_to_mel_htk(np.linspace(0.0, sample_rate / 2, n_bins))
    edges = np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights.astype(np.float32)


def _hz_to_mel_slaney(hz):
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz_slaney(mel):
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def slaney_mel_matrix(*, n_mels: int = 80, n_fft: int = 400, sample_rate: int = 16000,
                      fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-style, area-normalised mel filterbank (n_mels, n_fft//2+1), the
    one Whisper was trained with (librosa's default)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)
