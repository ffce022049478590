"""The voice detector, in one module: Silero VAD run in numpy (:class:`SileroVAD`), the share of a span that
is speech on a 32 ms grid (:class:`SpeechShare`: the timeline's ``speech`` column and speech gate), and
speech regions as segments (:class:`SpeechRegions`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from segser.encoders.features.base import fft
from segser.errors import ConfigError, ModelError, display_path
from segser.io.files import atomic_path, file_digest
from segser.segmentation.windows import Segmenter, SegmenterState
from segser.settings import cache_dir
from segser.weights import resolve

SILERO_LAYERS = ("stft.forward_basis_buffer", "encoder.0.reparam_conv.weight", "encoder.0.reparam_conv.bias",
                 "encoder.1.reparam_conv.weight", "encoder.1.reparam_conv.bias", "encoder.2.reparam_conv.weight",
                 "encoder.2.reparam_conv.bias", "encoder.3.reparam_conv.weight", "encoder.3.reparam_conv.bias",
                 "decoder.rnn.weight_ih", "decoder.rnn.weight_hh", "decoder.rnn.bias_ih", "decoder.rnn.bias_hh",
                 "decoder.decoder.2.weight", "decoder.decoder.2.bias")



@lru_cache(maxsize=4)
def silero_weights(path: str | None = None) -> dict[str, np.ndarray]:
    """The 16 kHz branch's weights of a Silero VAD ONNX file, read once with ``onnx`` and kept in the
    cache as .npz (so later start-ups need neither onnx nor the parse)."""

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

            h = np.abs(fft().rfft(frames * self.window, axis=-1))  # single precision (numpy's: double, 5x slower)
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



VAD_WINDOW = 512  # Silero VAD at 16 kHz: one probability per 32 ms



VAD_CONTEXT = 64



class SpeechShare:
    """Silero VAD over a stream (32 ms windows on a grid from 0, so a file and a
    live stream of it agree): the share of a span that is speech."""

    def __init__(self, sample_rate: int, vad_file=None):

        if sample_rate != 16000:
            raise ValueError("the speech share is measured at 16 kHz")
        self.vad, self.w = SileroVAD(str(vad_file) if vad_file else None), VAD_WINDOW
        self.rest = np.zeros(0, np.float32)
        self.first = 0  # index of the first window kept
        self.speech = np.zeros(0, bool)
        self.final = False
        self.keep = False  # keep every flag (the speaker pass of a conversation reads them all after the stream)

    def push(self, x: np.ndarray, *, last: bool = False) -> None:
        x = np.concatenate([self.rest, x]) if self.rest.size else x
        n = x.size // self.w
        flags = list(self.vad.probabilities(x[: n * self.w]) >= 0.5)
        self.rest = x[n * self.w:].copy()
        if last and self.rest.size:
            flags.append(self.vad(np.pad(self.rest, (0, self.w - self.rest.size))) >= 0.5)
            self.rest = np.zeros(0, np.float32)
        self.final = self.final or last
        if flags:
            self.speech = np.concatenate([self.speech, np.array(flags, bool)])

    def _windows(self, s: float, e: float) -> tuple[int, int]:
        """Windows whose centre lies in [s, e)."""
        step = self.w / 16000
        return int(math.ceil(s / step - 0.5 - 1e-9)), int(math.ceil(e / step - 0.5 - 1e-9))

    def ready(self, e: float) -> bool:
        return self.final or self.first + self.speech.size >= self._windows(0.0, e)[1]

    def share(self, s: float, e: float) -> float:
        a, b = self._windows(s, e)
        part = self.speech[max(a - self.first, 0): max(b - self.first, 0)]
        return float(part.mean()) if part.size else 0.0

    def drop_before(self, t: float) -> None:
        a = self._windows(max(t, 0.0), max(t, 0.0))[0] - 1
        if a > self.first and not self.keep:
            self.speech = self.speech[a - self.first:]
            self.first = a

