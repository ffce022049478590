"""``segser listen``: the live timeline in the terminal, from the default
microphone (``sounddevice``), a file played at real-time speed, or raw PCM on
standard input. ``--out`` appends one whole line per segment as it comes
(``.csv``, ``.jsonl`` or ``.txt`` Audacity labels), each with a single write,
so a crash or Ctrl-C leaves a valid file."""
from __future__ import annotations

import json
import os
import queue
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from segser.errors import AudioError, ConfigError, SegserError, check_number, display_path
from segser.io.audio import info
from segser.results.rows import cells
from segser.results.timeline import columns
from segser.results.types import Decision, plain
from segser.serving.stream import Stream

BLOCK_SECONDS = 0.1
PCM_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


def microphone(rate: int, channels: int):
    """Blocks from the default input device (checked now, so a missing one is an error before anything starts)."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise SegserError(f"no microphone support ({str(exc).splitlines()[0]}): pip install sounddevice and the "
                          "PortAudio library (Debian: apt install libportaudio2), or use --file / --stdin") from None
    try:
        sd.query_devices(kind="input")
    except Exception:
        raise SegserError("no audio input device found; use --file FILE (played at real-time speed) or --stdin") from None

    def blocks():
        q: queue.Queue = queue.Queue()
        with sd.InputStream(samplerate=rate, channels=channels, dtype="float32", blocksize=int(rate * BLOCK_SECONDS),
                            callback=lambda data, frames, t, status: q.put(data.copy())):
            while True:
                yield q.get()

    return blocks()


def file_blocks(path, *, speed: float = 1.0):
    """Blocks of a file, paced at ``speed`` times real time (0: as fast as it reads)."""

    meta = info(path)
    start = time.monotonic()
    with sf.SoundFile(str(path)) as f:
        done = 0
        for block in f.blocks(blocksize=max(1, int(meta.sample_rate * BLOCK_SECONDS)), dtype="float32", always_2d=True):
            done += len(block)
            if speed > 0:
                wait = done / meta.sample_rate / speed - (time.monotonic() - start)
                if wait > 0:
                    time.sleep(wait)
            yield block


def stdin_blocks(rate: int, channels: int, fmt: str, stream=None):
    """Raw PCM blocks from standard input (``s16le`` or ``f32le``, interleaved channels)."""
    dtype = PCM_FORMATS[fmt]
    frame = dtype.itemsize * channels
    size = max(1, int(rate * BLOCK_SECONDS)) * frame
    src = stream or sys.stdin.buffer
    rest = b""
    while True:
        data = src.read(size)
        if not data:
            break
        data = rest + data
        usable = len(data) - len(data) % frame
        rest = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype=dtype).reshape(-1, channels)
    if rest:
        raise AudioError("<stdin>", f"input ended inside a sample frame ({len(rest)} stray bytes)")


class LineLog:
    """Appends one complete line per segment, each in a single write call: CSV (the timeline's columns, as
    ``segser predict --csv`` writes them), JSON lines, or Audacity labels."""

    def __init__(self, path, classes, *, adapting: bool = False):
        self.path, self.classes = Path(path), classes
        self.extra = ("adapted_on_s",) if adapting else ()
        self.kind = self.path.suffix.lower()
        if self.kind not in (".csv", ".jsonl", ".txt"):
            raise ConfigError(f"{display_path(path)}: --out must end in .csv, .jsonl or .txt")
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"{display_path(path)}: cannot write there ({exc.strerror})") from None
        if self.kind == ".csv" and os.fstat(self.fd).st_size == 0:
            self._write(",".join(columns(classes, self.extra)))

    def _write(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def add(self, r: dict) -> None:
        row = {k: plain(v) for k, v in r.items()}
        if self.kind == ".jsonl":
            self._write(json.dumps(row))
        elif self.kind == ".csv":
            self._write(",".join(cells(row, self.classes, self.extra)))
        else:
            score = "" if row["score"] is None else f" {row['score']:.2f}"
            self._write(f"{row['start']:.3f}\t{row['end']:.3f}\t{row['label']}{score}")

    def close(self) -> None:
        os.close(self.fd)


def listen(blocks, live: Stream, *, out=None, echo=print) -> Decision:
    """Feed ``blocks`` to the stream, print and log each segment, and return the clip decision; Ctrl-C ends the
    stream as if the input had ended."""
    adapting = live.adaptation is not None
    log = LineLog(out, live.model.classes, adapting=adapting) if out else None

    def emit(results):
        for r in results:
            heard = f"  adapted on {r['adapted_on_s']:.0f} s" if adapting and r["adapted_on_s"] else ""
            score = "" if r["score"] != r["score"] else f"{r['score']:.2f}"
            echo(f"{r['start']:8.2f} {r['end']:8.2f}  {r['label']:<10} {score}{heard}")
            if log:
                log.add(r)

    echo(f"{'start':>8} {'end':>8}  {'emotion':<10} score   (model {live.model.name}; Ctrl-C to stop)")
    try:
        try:
            for block in blocks:
                emit(live.push(block))
        except KeyboardInterrupt:
            pass
        emit(live.finish())
    finally:
        if log:
            log.close()
    d = live.decision()
    if d.n_segments:
        score = "" if d.score != d.score else f"score {d.score:.2f}, "
        echo(f"clip: {d.label} ({score}rule {d.rule}, {d.n_segments} segments, {d.duration:.1f} s)")
    return d


def check_speed(speed: float) -> float:
    return check_number("--speed", speed, lo=0.0, hi=1000.0)
