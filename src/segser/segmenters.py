"""Cutting audio into segments: fixed windows (paper 001), speech regions
(Silero VAD) or the whole clip. One interface for training, offline predict,
live streams and the command line.

A segment is ``(start, end)`` in seconds. Every segmenter works on a stream:
``state = segmenter.start(sample_rate)``, then ``state.push(samples)`` returns
the segments that became complete, ``state.finish()`` the rest. Cutting a
whole signal is the same stream fed once, so a file streamed in blocks and a
live stream in chunks of any size are cut exactly as training cut its clips.

>>> Segmentation(length=1.0, hop=0.5).segmenter().spans(np.ones(32000, np.float32), 16000)
[(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ConfigError, check_choice, check_number, display_path

MIN_LENGTH, MAX_LENGTH = 0.02, 60.0  # seconds per segment (0.02: one Whisper frame, paper 003)
MIN_HOP = 0.01  # at most 100 segments per second of audio
# A final piece with less real audio than this is merged into the segment before it (the tail rule):
# below it labels are no better than chance (benchmarks/segment_evidence.py).
MIN_TAIL = 0.25
MAX_SEGMENTS_PER_FILE = 1_000_000
CLIP_PIECE_SECONDS = 30.0  # "whole clip" segments of long recordings are cut every 30 s
METHODS = ("fixed", "vad", "clip")
# Where a window encoder's window lies: "tiled" from 0 (each window shared by the segments inside it; a segment
# waits for its window's end) or "trailing" (a window per segment, ending where the segment ends: its result as
# soon as its audio is there, at one encoding per segment).
CONTEXTS = ("tiled", "trailing")
_EPS = 1e-9


@dataclass(frozen=True)
class Segmentation:
    """How a clip is cut. ``hop == length`` is non-overlapping (001, Table 3).
    Validated where it is made: finite, within [0.02, 60] s (hop >= 0.01 s)."""

    length: float = 1.0
    hop: float = 1.0
    method: str = "fixed"  # "fixed" | "vad" | "clip"
    min_speech: float = 0.25  # VAD: shortest speech region kept (s)
    max_length: float = 4.0  # VAD: longer regions are cut into pieces of this length (s)
    context: str = "tiled"  # window encoders: CONTEXTS

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "method", check_choice("segmentation method", self.method, METHODS))
        set_(self, "context", check_choice("encoder context", self.context, CONTEXTS))
        set_(self, "length", check_number("segment length", self.length, lo=MIN_LENGTH, hi=MAX_LENGTH, unit="s"))
        set_(self, "hop", check_number("segment hop", self.hop, lo=MIN_HOP, hi=MAX_LENGTH, unit="s"))
        set_(self, "min_speech", check_number("VAD min_speech", self.min_speech, lo=0.03, hi=10.0, unit="s"))
        set_(self, "max_length", check_number("VAD max_length", self.max_length, lo=0.5, hi=MAX_LENGTH, unit="s"))
        if self.max_length < self.min_speech:
            raise ConfigError(f"VAD max_length ({self.max_length}) must be >= min_speech ({self.min_speech})")

    def with_overrides(self, *, length: float | None = None, hop: float | None = None, vad: bool = False) -> "Segmentation":
        """This segmentation with a new length, hop or VAD (the one rule for the
        CLI, the service and the API): a new length without a hop gives
        non-overlapping segments of that length."""
        if not vad and length is None and hop is None:
            return self
        new_length = self.length if length is None else length
        new_hop = hop if hop is not None else (new_length if length is not None else self.hop)
        return Segmentation(length=new_length, hop=new_hop, method="vad" if vad else "fixed",
                            min_speech=self.min_speech, max_length=self.max_length, context=self.context)

    def segmenter(self, *, vad_file=None) -> "Segmenter":
        """The segmenter; ``vad_file``: a Silero VAD ONNX file to use instead of the resolver's."""
        if self.method == "vad":
            return SpeechRegions(min_speech=self.min_speech, max_length=self.max_length,
                                 vad_file=str(vad_file) if vad_file else None)
        if self.method == "clip":
            return WholeClip(min_tail=MIN_TAIL)
        return FixedWindows(length=self.length, hop=self.hop, min_tail=min(MIN_TAIL, self.length),
                            merge_tail=self.context == "tiled")

    def max_segments(self, duration: float) -> int:
        """An upper bound on the number of segments of ``duration`` seconds."""
        step = {"fixed": self.hop, "vad": self.min_speech + 0.2, "clip": CLIP_PIECE_SECONDS}[self.method]
        return int(math.ceil(duration / step)) + 1

    def check_duration(self, duration: float, where, *, limit: int = MAX_SEGMENTS_PER_FILE) -> None:
        """Refuse, before any work, a file that would give more than ``limit`` segments."""
        n = self.max_segments(duration)
        if n > limit:
            from .errors import LimitExceeded
            raise LimitExceeded(where, f"{duration:.0f} s at a {self.hop:g} s hop would give up to {n:,} segments "
                                    f"(limit {limit:,}); use a larger hop or cut the recording")

    def describe(self) -> dict:
        trailing = {"context": "trailing"} if self.context == "trailing" else {}
        if self.method == "fixed":
            return {"method": "fixed", "length": self.length, "hop": self.hop, **trailing}
        if self.method == "vad":
            return {"method": "vad", "min_speech": self.min_speech, "max_length": self.max_length, **trailing}
        return {"method": "clip", **trailing}


class Segmenter:
    """Makes a streaming state; :meth:`spans` cuts a whole signal the same way."""

    def start(self, sample_rate: int) -> "SegmenterState":  # pragma: no cover - interface
        raise NotImplementedError

    def spans(self, x: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        state = self.start(sample_rate)
        return state.push(x) + state.finish()


class SegmenterState:
    sample_rate: int
    received: int = 0

    def push(self, x: np.ndarray) -> list[tuple[float, float]]:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> list[tuple[float, float]]:  # pragma: no cover - interface
        raise NotImplementedError

    def horizon(self) -> float:
        """No segment to come starts before this time (s): older audio may be dropped."""
        raise NotImplementedError  # pragma: no cover


@dataclass(frozen=True)
class FixedWindows(Segmenter):
    """Windows of ``length`` every ``hop`` seconds; the last one starts before
    the end and is zero-padded; a clip shorter than one window gives one.

    Tail rule: a final window holding less than ``min_tail`` seconds of real
    audio is not a segment of its own: it is merged into the previous segment
    (whose end becomes the end of the audio) or dropped where the previous
    segment already reaches the end. A live stream therefore holds a segment
    back until ``min_tail`` seconds past the next one's start have arrived.
    With ``merge_tail=False`` such a tail is dropped instead, so no segment is
    held back: each is out as soon as its audio is (trailing windows)."""

    length: float = 1.0
    hop: float = 1.0
    min_tail: float = 0.0
    merge_tail: bool = True

    def start(self, sample_rate):
        return _FixedState(self, sample_rate)


class _FixedState(SegmenterState):
    def __init__(self, spec: FixedWindows, sample_rate: int):
        self.spec, self.sample_rate = spec, sample_rate
        self.k, self.received = 0, 0

    def _span(self, k):
        start = round(k * self.spec.hop, 6)
        return start, round(start + self.spec.length, 6)

    def push(self, x):
        self.received += len(x)
        now, out = self.received / self.sample_rate, []
        while True:
            s, e = self._span(self.k)
            held = self.spec.merge_tail and self._span(self.k + 1)[0] + self.spec.min_tail > now + _EPS
            if e > now + _EPS or (self.spec.min_tail and held):
                return out
            out.append((s, e))
            self.k += 1

    def finish(self):
        duration, out = self.received / self.sample_rate, []
        if duration <= 0 or (self.k > 0 and self._span(self.k - 1)[1] >= duration - _EPS):
            return out
        while True:
            s, e = self._span(self.k)
            if self.k > 0 and s + _EPS >= duration:
                break
            out.append((s, e))
            self.k += 1
            if e >= duration - _EPS:
                break
        if out and duration - out[-1][0] < self.spec.min_tail - _EPS:
            out.pop()  # too little real audio for a segment of its own
            # push() held the previous segment back, so it is in ``out`` (unless the clip had one segment only)
            if self.spec.merge_tail and out and out[-1][1] < duration - _EPS:  # the one before takes the tail
                out[-1] = (out[-1][0], round(duration, 6))
        return out

    def horizon(self):
        return self._span(self.k)[0]


@dataclass(frozen=True)
class WholeClip(Segmenter):
    """One segment: the whole clip (recordings longer than 30 s: one per 30 s;
    a last piece shorter than ``min_tail`` joins the one before it)."""

    piece: float = CLIP_PIECE_SECONDS
    min_tail: float = 0.0

    def start(self, sample_rate):
        return _ClipState(self, sample_rate)


class _ClipState(SegmenterState):
    def __init__(self, spec: WholeClip, sample_rate: int):
        self.spec, self.sample_rate, self.k, self.received = spec, sample_rate, 0, 0

    def push(self, x):
        self.received += len(x)
        out, piece = [], self.spec.piece
        while (self.k + 1) * piece + self.spec.min_tail <= self.received / self.sample_rate + _EPS:
            out.append((round(self.k * piece, 6), round((self.k + 1) * piece, 6)))
            self.k += 1
        return out

    def finish(self):
        duration, piece = self.received / self.sample_rate, self.spec.piece
        out = []
        while (self.k + 1) * piece < duration - _EPS:  # whole pieces held back for the tail rule
            out.append((round(self.k * piece, 6), round((self.k + 1) * piece, 6)))
            self.k += 1
        start = self.k * piece
        if duration > start + _EPS or (self.k == 0 and duration > 0):
            if out and duration - start < self.spec.min_tail - _EPS:
                out[-1] = (out[-1][0], round(duration, 6))
            else:
                out.append((round(start, 6), round(duration, 6)))
        return out

    def horizon(self):
        return self.k * self.spec.piece


# --- speech regions -------------------------------------------------------------------------------

VAD_WINDOW = 512  # Silero VAD at 16 kHz: one probability per 32 ms
VAD_CONTEXT = 64


SILERO_LAYERS = ("stft.forward_basis_buffer", "encoder.0.reparam_conv.weight", "encoder.0.reparam_conv.bias",
                 "encoder.1.reparam_conv.weight", "encoder.1.reparam_conv.bias", "encoder.2.reparam_conv.weight",
                 "encoder.2.reparam_conv.bias", "encoder.3.reparam_conv.weight", "encoder.3.reparam_conv.bias",
                 "decoder.rnn.weight_ih", "decoder.rnn.weight_hh", "decoder.rnn.bias_ih", "decoder.rnn.bias_hh",
                 "decoder.decoder.2.weight", "decoder.decoder.2.bias")


@lru_cache(maxsize=4)
def silero_weights(path: str | None = None) -> dict[str, np.ndarray]:
    """The 16 kHz branch's weights of a Silero VAD ONNX file, read once with ``onnx`` and kept in the
    cache as .npz (so later start-ups need neither onnx nor the parse)."""
    from .errors import ModelError
    from .fileio import atomic_path, file_digest
    from .settings import cache_dir
    from .weights import resolve

    src = Path(path) if path else resolve("silero-vad")
    if not src.is_file():
        raise ModelError(f"{display_path(src)}: no Silero VAD model there")
    cached = cache_dir() / "vad" / f"{file_digest(src)[:20]}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return {k: z[k] for k in SILERO_LAYERS}
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("reading the Silero VAD needs the onnx package: pip install onnx") from None
    found = {}
    for node in onnx.load(str(src)).graph.node:
        for attr in node.attribute:
            if attr.name != "then_branch" or attr.type != onnx.AttributeProto.GRAPH:
                continue  # the 16 kHz branch (the graph's If on sr == 16000)
            for inner in attr.g.node:
                name = inner.output[0].split("__")[-1] if inner.op_type == "Constant" else ""
                if name in SILERO_LAYERS:
                    found[name] = numpy_helper.to_array(inner.attribute[0].t).astype(np.float32)
    missing = [k for k in SILERO_LAYERS if k not in found]
    if missing:
        raise ModelError(f"{display_path(src)}: not a Silero VAD v5/v6 model (missing {', '.join(missing[:3])})")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **found)
    return found


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """(n, T, Cin) -> (n, T', Cout): a kernel-3, padding-1 convolution along T, then ReLU (one 2-D matrix product:
    numpy's stacked 3-D product took half as long again)."""
    n, t, c = x.shape
    length = (t - 1) // stride + 1
    if length == 1:  # one output: only the taps that fall on the input, not on the zero padding
        taps = [k for k in range(3) if 0 <= k - 1 < t]
        cols = x[:, [k - 1 for k in taps]].transpose(0, 2, 1).reshape(n, c * len(taps))
        return np.maximum(cols @ w[:, :, taps].reshape(w.shape[0], -1).T + b, 0.0)[:, None]
    xp = np.concatenate([np.zeros((n, 1, c), x.dtype), x, np.zeros((n, 1, c), x.dtype)], axis=1)
    cols = np.stack([xp[:, k: k + stride * (length - 1) + 1: stride] for k in range(3)], axis=-1)
    out = cols.reshape(n * length, c * 3) @ w.reshape(w.shape[0], -1).T + b
    return np.maximum(out, 0.0).reshape(n, length, -1)


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5  # scipy.special.expit, without its import time


class SileroVAD:
    """Speech probability of each 32 ms window, streamed (Silero VAD v5+, MIT;
    the ONNX file ships in the ``silero-vad`` package and is found through the
    resolver). The network is small enough that one onnxruntime call per 32 ms
    cost more than the model; here it runs in numpy: the convolutional front
    end batched over every window a push brings, the LSTM cell stepped window
    by window. The recurrent state and 64-sample context carry across calls."""

    def __init__(self, vad_file: str | None = None):
        w = silero_weights(str(vad_file) if vad_file else None)
        self.basis = w["stft.forward_basis_buffer"][:, 0, :].T.copy()  # (256, 258): 129 real, 129 imaginary
        # the basis is a Hann-windowed DFT (v5, v6): an FFT of the windowed frames does the same in a tenth of the work
        window = self.basis[:, 0].copy()
        dft = np.fft.rfft(np.diag(window), axis=0)
        self.window = window if np.allclose(self.basis, np.concatenate([dft.real.T, dft.imag.T], axis=1), atol=1e-4) else None
        self.convs = [(w[f"encoder.{i}.reparam_conv.weight"], w[f"encoder.{i}.reparam_conv.bias"], s)
                      for i, s in enumerate((1, 2, 2, 1))]
        # torch's gates (i, f, g, o) as (i, f, o, g), the sigmoid gates' rows halved: sigmoid(z) = (1 + tanh(z/2)) / 2,
        # so one tanh over all four gates per step
        order = np.r_[0:256, 384:512, 256:384]
        half = np.r_[np.full(384, 0.5, np.float32), np.ones(128, np.float32)]
        self.w_ih = (w["decoder.rnn.weight_ih"][order] * half[:, None]).T.copy()
        self.w_hh = (w["decoder.rnn.weight_hh"][order] * half[:, None]).T.copy()
        self.b = (w["decoder.rnn.bias_ih"] + w["decoder.rnn.bias_hh"])[order] * half
        self.w_out, self.b_out = w["decoder.decoder.2.weight"][0, :, 0], float(w["decoder.decoder.2.bias"][0])
        self.h = np.zeros(128, np.float32)
        self.c = np.zeros(128, np.float32)
        self.context = np.zeros(VAD_CONTEXT, np.float32)

    def __call__(self, window: np.ndarray) -> float:
        return float(self.probabilities(window)[0])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """One probability per whole 512-sample window of ``x``."""
        x = np.asarray(x, np.float32)
        n = x.size // VAD_WINDOW
        step = 256 * VAD_WINDOW  # windows per batch: bounded memory (a 40 s block at once took ~20 MB)
        if n > 256:
            return np.concatenate([self._batch(x[i: i + step]) for i in range(0, n * VAD_WINDOW, step)])
        return self._batch(x[: n * VAD_WINDOW])

    def _batch(self, x: np.ndarray) -> np.ndarray:
        n = x.size // VAD_WINDOW
        if n == 0:
            return np.zeros(0, np.float32)
        signal = np.concatenate([self.context, x[: n * VAD_WINDOW]])
        self.context = signal[-VAD_CONTEXT:].copy()
        inputs = signal[np.arange(n)[:, None] * VAD_WINDOW + np.arange(VAD_WINDOW + VAD_CONTEXT)]
        padded = np.concatenate([inputs, inputs[:, -2:-VAD_CONTEXT - 2:-1]], axis=1)  # reflect-padded on the right
        frames = np.stack([padded[:, k * 128: k * 128 + 256] for k in range(4)], axis=1)
        if self.window is not None:
            import scipy.fft

            h = np.abs(scipy.fft.rfft(frames * self.window, axis=-1))  # single precision (numpy's: double, 5x slower)
        else:
            spec = frames @ self.basis
            h = np.sqrt(spec[..., :129] ** 2 + spec[..., 129:] ** 2)
        for w, b, stride in self.convs:
            h = _conv1d(h, w, b, stride)
        gates_in = h[:, 0, :] @ self.w_ih + self.b
        out = np.empty((n, 128), np.float32)
        hid, cell = self.h, self.c
        for t in range(n):
            g = np.tanh(gates_in[t] + hid @ self.w_hh)
            sig = g[:384]
            sig *= 0.5
            sig += 0.5
            cell = sig[128:256] * cell + sig[:128] * g[384:]
            hid = sig[256:] * np.tanh(cell)
            out[t] = hid
        self.h, self.c = hid, cell
        return _sigmoid(np.maximum(out, 0.0) @ self.w_out + self.b_out).astype(np.float32)


@dataclass(frozen=True)
class SpeechRegions(Segmenter):
    """Speech regions from Silero VAD: a region opens at a window with speech
    probability >= ``threshold``, closes after ``min_silence`` s below
    ``threshold - 0.15``, is dropped if shorter than ``min_speech``, padded by
    ``pad`` s each side, and cut into ``max_length`` pieces as it grows (so a
    live stream never waits for a long region to end). Silence gets no segment."""

    min_speech: float = 0.25
    max_length: float = 4.0
    min_silence: float = 0.2
    threshold: float = 0.5
    pad: float = 0.03
    vad_file: str | None = None

    def start(self, sample_rate):
        if sample_rate != 16000:
            raise ConfigError("speech regions are found at 16 kHz; resample first")
        return _SpeechState(self, sample_rate)


class _SpeechState(SegmenterState):
    def __init__(self, spec: SpeechRegions, sample_rate: int):
        self.spec, self.sample_rate = spec, sample_rate
        self.vad = SileroVAD(spec.vad_file)
        self.buffer = np.zeros(0, np.float32)
        self.received = 0
        self.windows = 0  # windows processed
        self.region_start = None  # sample where the open region (or its current piece) starts
        self.first_piece = True
        self.silence_from = None  # sample where the silence inside an open region began
        sr = sample_rate
        self.min_speech, self.min_silence = spec.min_speech * sr, spec.min_silence * sr
        self.max_len, self.pad = int(round(spec.max_length * sr)), int(round(spec.pad * sr))

    def _t(self, sample: int) -> float:
        return round(sample / self.sample_rate, 6)

    def _close(self, end: int, limit: int | None = None) -> list:
        start, first = self.region_start, self.first_piece
        self.region_start, self.silence_from, self.first_piece = None, None, True
        if end - start < self.min_speech:
            return []
        a = max(0, start - self.pad) if first else start
        b = end + self.pad if limit is None else min(limit, end + self.pad)
        return [(self._t(a), self._t(b))]

    def _step(self, prob: float) -> list:
        i, w, out = self.windows, VAD_WINDOW, []
        thr, neg = self.spec.threshold, max(self.spec.threshold - 0.15, 0.01)
        if prob >= thr:
            self.silence_from = None
            if self.region_start is None:
                self.region_start = i * w
        elif prob < neg and self.region_start is not None:
            if self.silence_from is None:
                self.silence_from = i * w
            if (i + 1) * w - self.silence_from >= self.min_silence:
                out += self._close(self.silence_from)
        if self.region_start is not None and self.silence_from is None and (i + 1) * w - self.region_start >= self.max_len:
            piece_end = self.region_start + self.max_len
            a = max(0, self.region_start - self.pad) if self.first_piece else self.region_start
            out.append((self._t(a), self._t(piece_end)))
            self.region_start, self.first_piece = piece_end, False
        self.windows += 1
        return out

    def push(self, x):
        self.received += len(x)
        self.buffer = np.concatenate([self.buffer, np.asarray(x, np.float32)])
        out = []
        n = len(self.buffer) // VAD_WINDOW
        for prob in self.vad.probabilities(self.buffer[: n * VAD_WINDOW]):
            out += self._step(float(prob))
        self.buffer = self.buffer[n * VAD_WINDOW:]
        return out

    def finish(self):
        out = []
        if len(self.buffer):
            out += self._step(self.vad(np.pad(self.buffer, (0, VAD_WINDOW - len(self.buffer)))))
            self.buffer = np.zeros(0, np.float32)
        if self.region_start is not None:
            end = self.silence_from if self.silence_from is not None else self.received
            out += self._close(min(end, self.received), limit=self.received)
        return out

    def horizon(self):
        if self.region_start is not None:
            start = self.region_start - (self.pad if self.first_piece else 0)
        else:
            start = self.windows * VAD_WINDOW - self.pad
        return max(0.0, start / self.sample_rate)
