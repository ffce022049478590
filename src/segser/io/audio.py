"""Reading and checking audio: soundfile to read, soxr to resample.

Every problem with an input becomes an :class:`AudioError` naming the file and
the problem, so a batch can report it and go on. Long files are read as a
stream of blocks (:func:`stream_file`), resampled with soxr's streaming
resampler, whose output does not depend on the block size: a file streamed in
blocks gives exactly the samples :func:`load` gives.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from segser.errors import AudioError, LimitExceeded

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
MIN_RATE = 8000
MIN_SECONDS = 0.25  # the tail rule's minimum (segmenters.MIN_TAIL): less audio holds no reliable emotion
FLOAT_PEAK_OK = 2.0  # float samples may overshoot full scale a little (processing); more is a scale error
INT16_SCALE = 32768.0
_BLOCK_FRAMES = 1 << 18


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    subtype: str = ""

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def is_float(self) -> bool:
        return self.subtype in ("FLOAT", "DOUBLE")


def _check_file(path: Path) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError(path, "broken symbolic link" if os.path.islink(path) else "file does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioError(path, "symbolic link loop") from None
        raise AudioError(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(path, "not a regular file (a FIFO, socket or device)")
    if st.st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _open(path: Path):
    """A SoundFile over a Python file object, so any byte in the name works."""
    try:
        handle = open(path, "rb")
    except PermissionError:
        raise AudioError(path, "permission denied") from None
    except OSError as exc:
        raise AudioError(path, f"cannot be read ({exc.strerror})") from None
    try:
        return sf.SoundFile(handle)
    except Exception as exc:  # soundfile raises several types for non-audio
        handle.close()
        raise AudioError(path, f"unreadable or not audio ({_short(exc)})") from None


def info(path) -> AudioInfo:
    """Header facts of an audio file, or :class:`AudioError`."""
    path = Path(path)
    _check_file(path)
    with _open(path) as f:
        return AudioInfo(str(path), int(f.samplerate), int(f.channels), int(f.frames), str(f.subtype))


def _short(exc: Exception) -> str:
    """The reason in a library's error, without the file object (whose repr names the path)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^Error opening <[^>]*>:\s*", "", text)
    return re.sub(r"<_io\.\w+ name=[^>]*>", "file", text)[:160]


def to_mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, orig_rate: int, rate: int) -> np.ndarray:
    """Resample a float32 signal with soxr (high quality)."""
    if orig_rate == rate:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x, orig_rate, rate, quality="HQ").astype(np.float32, copy=False)


class Resampler:
    """soxr's streaming resampler: feed blocks of any size; the output equals
    :func:`resample` of the whole signal."""

    def __init__(self, orig_rate: int, rate: int):
        self.orig_rate, self.rate = int(orig_rate), int(rate)
        self._stream = None if self.orig_rate == self.rate else soxr.ResampleStream(
            self.orig_rate, self.rate, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray, *, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x, last=last)


def check_samples(x: np.ndarray, where, *, at: float | None = None) -> None:
    """NaN, infinity or samples far outside [-1, 1] are an :class:`AudioError`."""
    if x.size == 0:
        return
    peak = float(np.max(np.abs(x)))
    near = f" near {at:.1f} s" if at is not None else ""
    if not np.isfinite(peak):
        raise AudioError(where, f"contains NaN or infinite samples{near}")
    if peak > FLOAT_PEAK_OK:
        raise AudioError(where, f"samples out of range{near} (peak {peak:.3g}; float audio must lie in [-1, 1])")


def _checked_info(path) -> AudioInfo:
    meta = info(path)
    if meta.frames == 0:
        raise AudioError(path, "no audio samples")
    if meta.sample_rate < MIN_RATE:
        raise AudioError(path, f"sample rate {meta.sample_rate} Hz is below {MIN_RATE} Hz")
    if meta.frames < MIN_SECONDS * meta.sample_rate:
        raise AudioError(path, f"too short ({meta.frames / meta.sample_rate * 1000:.0f} ms; at least "
                               f"{MIN_SECONDS * 1000:.0f} ms of audio are needed)")
    return meta


def float_scale(path, meta: AudioInfo) -> tuple[float, str]:
    """For float files: the factor that brings the samples to [-1, 1] and a note
    (samples written at 16-bit integer scale are rescaled by 1/32768; samples
    beyond that, NaN or infinity are an :class:`AudioError`). Integer files: 1."""
    if not meta.is_float:
        return 1.0, ""
    peak = 0.0
    with _open(Path(path)) as f:
        for block in f.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
            p = float(np.max(np.abs(block))) if block.size else 0.0
            if not np.isfinite(p):
                raise AudioError(path, "contains NaN or infinite samples")
            peak = max(peak, p)
    if peak <= FLOAT_PEAK_OK:
        return 1.0, ""
    if peak <= INT16_SCALE * 1.01:
        return 1.0 / INT16_SCALE, f"float samples at 16-bit integer scale (peak {peak:.0f}) rescaled to [-1, 1]"
    raise AudioError(path, f"samples out of range (peak {peak:.3g}; float audio must lie in [-1, 1])")


def load(path, *, sample_rate: int = 16000) -> np.ndarray:
    """Load a whole file as mono float32 at ``sample_rate``.

    >>> x = load("speech.flac", sample_rate=16000)  # doctest: +SKIP
    """
    meta = _checked_info(path)
    scale, _ = float_scale(path, meta)
    with _open(Path(path)) as f:
        try:
            x = f.read(dtype="float32", always_2d=False)
        except Exception as exc:
            raise AudioError(path, f"unreadable or not audio ({_short(exc)})") from None
    x = to_mono(np.asarray(x, dtype=np.float32))
    if scale != 1.0:
        x = x * np.float32(scale)
    if x.size == 0:
        raise AudioError(path, "no audio samples")
    check_samples(x, path)
    if not np.any(x):
        raise AudioError(path, "pure digital silence (all samples are zero)")
    return resample(x, meta.sample_rate, sample_rate)


@dataclass
class FileStream:
    """A file read block by block as mono float32 at ``sample_rate``;
    ``notes`` says what was done to it (mixed to mono, upsampled, rescaled)."""

    path: str
    sample_rate: int
    block_seconds: float = 30.0
    max_seconds: float | None = None
    meta: AudioInfo = field(init=False)
    notes: list[str] = field(init=False, default_factory=list)

    def __post_init__(self):
        self.meta = _checked_info(self.path)
        if self.max_seconds is not None and self.meta.duration > self.max_seconds:
            raise LimitExceeded(self.path, f"{self.meta.duration:.0f} s of audio is more than the limit of "
                                           f"{self.max_seconds:g} s")
        self.scale, note = float_scale(self.path, self.meta)
        if self.meta.sample_rate < self.sample_rate:
            self.notes.append(f"upsampled from {self.meta.sample_rate} Hz (bandwidth below the model's "
                              f"{self.sample_rate // 2} Hz)")
        if self.meta.channels > 1:
            self.notes.append(f"{self.meta.channels} channels mixed to mono")
        if note:
            self.notes.append(note)

    @property
    def duration(self) -> float:
        return self.meta.duration

    def __iter__(self) -> Iterator[np.ndarray]:
        rate = self.meta.sample_rate
        resampler = Resampler(rate, self.sample_rate)
        size = max(1, int(round(self.block_seconds * rate)))
        read, any_sound = 0, False
        with _open(Path(self.path)) as f:
            while True:
                try:
                    x = f.read(size, dtype="float32", always_2d=False)
                except Exception as exc:
                    raise AudioError(self.path, f"unreadable or not audio near {read / rate:.1f} s ({_short(exc)})") from None
                x = to_mono(np.asarray(x, dtype=np.float32))
                last = x.size < size
                if self.scale != 1.0:
                    x = x * np.float32(self.scale)
                check_samples(x, self.path, at=read / rate)
                any_sound = any_sound or bool(np.any(x))
                read += x.size
                if self.max_seconds is not None and read > self.max_seconds * rate:
                    raise LimitExceeded(self.path, f"more than the limit of {self.max_seconds:g} s of audio")
                y = resampler(x, last=last)
                if y.size:
                    yield y
                if last:
                    break
        if read == 0:
            raise AudioError(self.path, "no audio samples")
        if not any_sound:
            raise AudioError(self.path, "pure digital silence (all samples are zero)")


def find_audio(root) -> list[Path]:
    """All audio files under ``root`` (sorted), by suffix."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
