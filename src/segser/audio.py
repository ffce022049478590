"""Reading and checking audio: soundfile to read, soxr to resample.

Every problem with an input file becomes an :class:`AudioError` naming the
file and the problem, so a batch can report it and go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")
MIN_RATE = 8000
MIN_SECONDS = 0.1  # below this no segment holds enough signal for an emotion (VGGish needs 0.96 s, padded)


class AudioError(ValueError):
    """A file that cannot be used as audio; ``str()`` names the file and why."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def info(path) -> AudioInfo:
    """Header facts of an audio file, or :class:`AudioError`."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file does not exist")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        i = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for non-audio
        raise AudioError(path, f"unreadable or not audio ({_short(exc)})") from None
    return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def to_mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1)


def resample(x: np.ndarray, orig_rate: int, rate: int) -> np.ndarray:
    """Resample a float32 signal with soxr (high quality)."""
    if orig_rate == rate:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x, orig_rate, rate, quality="HQ").astype(np.float32, copy=False)


def check_signal(x: np.ndarray, path, *, min_samples: int = 1) -> np.ndarray:
    """Raise :class:`AudioError` for empty, non-finite or all-silent signals."""
    if x.size < min_samples:
        raise AudioError(path, f"too short ({x.size} samples)" if x.size else "no audio samples")
    if not np.all(np.isfinite(x)):
        raise AudioError(path, "contains NaN or infinite samples")
    if not np.any(x):
        raise AudioError(path, "pure digital silence (all samples are zero)")
    return x


def _checked_info(path):
    meta = info(path)
    if meta.frames == 0:
        raise AudioError(path, "no audio samples")
    if meta.sample_rate < MIN_RATE:
        raise AudioError(path, f"sample rate {meta.sample_rate} Hz is below {MIN_RATE} Hz")
    if meta.frames < MIN_SECONDS * meta.sample_rate:
        raise AudioError(path, f"too short ({meta.frames / meta.sample_rate * 1000:.0f} ms; at least "
                               f"{MIN_SECONDS * 1000:.0f} ms of audio are needed)")
    return meta


def load(path, *, sample_rate: int = 16000) -> np.ndarray:
    """Load a whole file as mono float32 at ``sample_rate``.

    >>> x = load("speech.flac", sample_rate=16000)  # doctest: +SKIP
    """
    meta = _checked_info(path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as exc:
        raise AudioError(path, f"unreadable or not audio ({_short(exc)})") from None
    x = to_mono(np.asarray(x, dtype=np.float32))
    check_signal(x, path)
    return resample(x, sr, sample_rate)


def blocks(path, *, sample_rate: int, block_seconds: float, overlap_seconds: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
    """Stream a long file as (start_time, mono block at ``sample_rate``).

    Memory stays bounded by the block length whatever the file length.
    Consecutive blocks overlap by ``overlap_seconds`` (in the output rate).
    """
    meta = _checked_info(path)
    step = int(round((block_seconds - overlap_seconds) * meta.sample_rate))
    size = int(round(block_seconds * meta.sample_rate))
    any_sound = False
    try:
        with sf.SoundFile(str(path)) as f:
            start = 0
            while start < meta.frames:
                f.seek(start)
                x = f.read(size, dtype="float32", always_2d=False)
                x = to_mono(np.asarray(x, dtype=np.float32))
                if x.size == 0:
                    break
                if not np.all(np.isfinite(x)):
                    raise AudioError(path, f"contains NaN or infinite samples (near {start / meta.sample_rate:.1f} s)")
                any_sound = any_sound or bool(np.any(x))
                yield start / meta.sample_rate, resample(x, meta.sample_rate, sample_rate)
                if start + size >= meta.frames:
                    break
                start += step
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"unreadable or not audio ({_short(exc)})") from None
    if not any_sound:
        raise AudioError(path, "pure digital silence (all samples are zero)")


def find_audio(root) -> list[Path]:
    """All audio files under ``root`` (sorted), by suffix."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
