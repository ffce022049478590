"""Segment embeddings: one streaming engine for training, predict and live streams,
and the embedding cache of a corpus.

:class:`Embedder` takes audio as it arrives (any chunk size), cuts it with a
segmenter and returns each segment's embedding as soon as it can be computed.
Training embeds a clip by pushing it whole; predict pushes a file block by
block; a live stream pushes chunks. The same code cuts and encodes all three,
so a streamed timeline equals the offline one and both equal what the model
was trained on. Memory stays bounded: audio and encoder frames older than the
segmenter's horizon are dropped.

:func:`embed_manifest` embeds every clip of a manifest through one loop with
one cache, keyed by (audio content, backbone description with weight digests,
segmentation, noise condition).
"""
from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple, Protocol

import numpy as np

from segser.errors import AudioError
from segser.segmentation.config import Segmentation
from segser.segmentation.vad import SpeechRegions, SpeechShare
from segser.segmentation.windows import Segmenter, SegmenterState


class Encoder(Protocol):
    """What the engine drives, in the torch runtime (a backbone) and the ONNX runtime (an exported encoder) alike:
    a window encoder (``window_seconds`` set) encodes windows tiled from 0 into frames every ``frame_seconds``
    and pools a segment's frames; a segment encoder embeds each segment's samples (``pad_to`` seconds, or the
    segment itself). Numpy in, numpy out."""

    name: str
    sample_rate: int
    dim: int
    window_seconds: float | None
    frame_seconds: float | None
    pad_to: float | None
    zero_pad: bool

    def encode_windows(self, windows: np.ndarray) -> np.ndarray: ...  # (batch, samples) -> (batch, taps, frames, width)

    def pool(self, frames: np.ndarray) -> np.ndarray: ...  # (taps, frames, width) -> (dim,)

    def embed_segments(self, segments: list[np.ndarray]) -> np.ndarray: ...  # -> (n, dim)

    def describe(self) -> dict: ...


def pool_frames(frames: np.ndarray, *, meanstd: bool = False) -> np.ndarray:
    """A segment's frames (taps, frames, width) -> its embedding: the mean (and std) over frames, taps concatenated."""
    feats = [frames.mean(axis=1)]
    if meanstd:
        feats.append(frames.std(axis=1))
    return np.concatenate(feats, axis=-1).reshape(-1)


class SegmentEmbedding(NamedTuple):
    start: float
    end: float
    embedding: np.ndarray
    speech: float  # share of the segment Silero VAD calls speech


class Embedder:
    """Streaming segment embeddings: ``push(samples)`` and ``finish()`` return
    lists of :class:`SegmentEmbedding` (start, end, embedding, speech share) in time order.

    ``encoder`` is a backbone (or an exported model's encoder) at its own sample
    rate; ``batch_windows`` window encodings are batched when enough audio is there (default: the encoder's
    own ``batch_windows``, else 8).
    ``context``: window encoders tile windows from 0 (``tiled``) or encode, per
    segment, the window that ends where the segment ends (``trailing``).
    Windows are encoded when a segment needs them: with ``skip_below`` > 0, a
    segment with less speech than that share gets zeros instead of an embedding
    (the timeline shows it as ``no speech`` whatever its embedding), and a window
    that only such segments touch is never encoded. ``encoded`` counts windows
    (or segments, for segment encoders) the encoder ran on.
    """

    def __init__(self, encoder: Encoder, segmenter: Segmenter, *, batch_windows: int | None = None, vad_file=None,
                 skip_below: float = 0.0, context: str = "tiled"):
        self.enc = encoder
        self.sr = int(encoder.sample_rate)
        self.state: SegmenterState = segmenter.start(self.sr)
        self.speech = SpeechShare(self.sr, vad_file)
        self.pending: deque[tuple[float, float]] = deque()
        self.total = 0
        self.final = False
        self.audio = np.zeros(0, np.float32)
        self.audio_start = 0  # absolute index of audio[0]
        self.batch_windows = max(1, int(batch_windows or getattr(encoder, "batch_windows", 8)))
        self.skip_below = float(skip_below)
        self.encoded = 0
        self.window = encoder.window_seconds is not None
        self.trailing = self.window and context == "trailing"
        if self.window:
            self.fs = float(encoder.frame_seconds)
            self.win = int(round(encoder.window_seconds * self.sr))
            self.frame_samples = int(round(self.fs * self.sr))
            self.per_window = self.win // self.frame_samples
            self.frames: deque[tuple[int, np.ndarray]] = deque()  # (first frame index, (taps, frames, width)), in order

    # -- feeding ---------------------------------------------------------------------------------
    def push(self, x: np.ndarray) -> list[SegmentEmbedding]:
        if self.final:
            raise RuntimeError("push() after finish()")
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self.total += x.size
        self.audio = np.concatenate([self.audio, x]) if self.audio.size else x.copy()
        self.pending.extend(self.state.push(x))
        self.speech.push(x)
        return self._emit()

    def finish(self) -> list[SegmentEmbedding]:
        if self.final:
            return []
        self.final = True
        self.pending.extend(self.state.finish())
        self.speech.push(np.zeros(0, np.float32), last=True)
        out = self._emit()
        self.audio = np.zeros(0, np.float32)
        if self.window:
            self.frames.clear()
        return out

    # -- window encoders -------------------------------------------------------------------------
    def _frames_complete(self) -> int:
        """Frames whose window's audio has all arrived (with the zero-padded last window once final)."""
        n = (self.total // self.win) * self.per_window
        if self.final:
            n += math.ceil((self.total % self.win) / self.frame_samples)
        return n

    def _frame_range(self, s: float, e: float) -> tuple[int, int] | None:
        fs, n = self.fs, self._frames_complete()
        if self.final:
            a = min(int(np.floor(s / fs)), n - 1)
            return a, max(a + 1, min(int(np.ceil(e / fs)), n))
        need = int(np.ceil(e / fs))
        if need > n:
            return None
        a = int(np.floor(s / fs))
        return a, max(a + 1, need)

    def _encoded_windows(self) -> set[int]:
        return {first // self.per_window for first, _ in self.frames}

    def _encode(self, needed: list[int]) -> None:
        """Encode these windows (in order, batched) from the audio still held."""
        full = [k for k in needed if (k + 1) * self.win <= self.total]
        for i in range(0, len(full), self.batch_windows):
            ks = full[i:i + self.batch_windows]
            batch = np.stack([self.audio[k * self.win - self.audio_start: (k + 1) * self.win - self.audio_start]
                              for k in ks])
            out = self.enc.encode_windows(batch)
            for j, k in enumerate(ks):
                self._add_frames(k, np.ascontiguousarray(out[j]))
        partial = [k for k in needed if (k + 1) * self.win > self.total]
        if partial:  # only once final: the last window, zero-padded, keeping the frames of real audio
            k = partial[0]
            piece = np.zeros(self.win, np.float32)
            rest = self.audio[k * self.win - self.audio_start:]
            piece[: rest.size] = rest
            n_real = int(math.ceil(rest.size / self.frame_samples))
            self._add_frames(k, np.ascontiguousarray(self.enc.encode_windows(piece[None])[0][:, :n_real]))
        self.encoded += len(needed)

    def _trailing(self, spans: list[tuple[float, float]]) -> np.ndarray:
        """Each segment pooled from the window that ends where it ends (zeros before the stream's start and, once
        final, after its end, whose frames are left out)."""
        out = []
        for i in range(0, len(spans), self.batch_windows):
            part = spans[i:i + self.batch_windows]
            batch = np.zeros((len(part), self.win), np.float32)
            for j, (_, e) in enumerate(part):
                end = int(round(e * self.sr))
                a, b = max(end - self.win, self.audio_start), min(end, self.total)
                batch[j, self.win - (end - a): self.win - (end - b)] = self.audio[a - self.audio_start: b - self.audio_start]
            frames = self.enc.encode_windows(batch)
            self.encoded += len(part)
            for j, (s, e) in enumerate(part):
                end = int(round(e * self.sr))
                first = max(0, self.per_window - int(math.ceil((e - s) / self.fs - 1e-6)))
                last = self.per_window - max(0, end - self.total) // self.frame_samples
                out.append(self.enc.pool(np.ascontiguousarray(frames[j][:, first: max(last, first + 1)])))
        return np.stack(out) if out else np.zeros((0, self.enc.dim), np.float32)

    def _add_frames(self, k: int, frames: np.ndarray) -> None:
        first = k * self.per_window
        self.frames.append((first, frames))
        if len(self.frames) > 1 and self.frames[-2][0] > first:
            self.frames = deque(sorted(self.frames, key=lambda f: f[0]))

    def _gather(self, a: int, b: int) -> np.ndarray:
        parts = [f[:, max(0, a - first): b - first] for first, f in self.frames
                 if first < b and first + f.shape[1] > a]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    # -- segment encoders ------------------------------------------------------------------------
    def _sample_range(self, s: float, e: float) -> tuple[int, int]:
        a = int(round(s * self.sr))
        n = int(round(self.enc.pad_to * self.sr)) if self.enc.pad_to else int(round(e * self.sr)) - a
        return a, max(n, 1)

    def _cut(self, a: int, n: int) -> np.ndarray:
        piece = self.audio[a - self.audio_start: a - self.audio_start + n]
        if piece.size == n or not self.enc.zero_pad:
            return piece
        out = np.zeros(n, np.float32)
        out[: piece.size] = piece
        return out

    # -- emitting --------------------------------------------------------------------------------
    def _emit(self) -> list[SegmentEmbedding]:
        ready, ranges = [], []  # ranges[i]: frame range (window encoders) or (first sample, count); None: skipped
        while self.pending:
            s, e = self.pending[0]
            if not self.speech.ready(e):
                break
            if self.trailing:
                rng = int(round(e * self.sr))  # the window's end
                if not self.final and self.total < rng:
                    break
            elif self.window:
                rng = self._frame_range(s, e)
                if rng is None:
                    break
            else:
                rng = self._sample_range(s, e)
                if not self.final and self.total < sum(rng):
                    break
            share = self.speech.share(s, e)
            ready.append((*self.pending.popleft(), share))
            ranges.append(None if share < self.skip_below else rng)
        if not ready:
            return []
        X = np.zeros((len(ready), self.enc.dim), np.float32)
        voiced = [i for i, r in enumerate(ranges) if r is not None]
        if voiced and self.trailing:
            for i, row in zip(voiced, self._trailing([ready[i][:2] for i in voiced])):
                X[i] = row
        elif voiced and self.window:
            have = self._encoded_windows()
            needed = sorted({k for i in voiced for k in range(ranges[i][0] // self.per_window,
                                                              (ranges[i][1] - 1) // self.per_window + 1)} - have)
            self._encode(needed)
            for i in voiced:
                X[i] = self.enc.pool(self._gather(*ranges[i]))
        elif voiced:
            X[voiced] = np.asarray(self.enc.embed_segments([self._cut(*ranges[i]) for i in voiced]), dtype=np.float32)
            self.encoded += len(voiced)
        end = self.total / self.sr if self.final else math.inf  # a padded last segment is reported up to the audio's end
        out = [SegmentEmbedding(s, round(min(e, end), 6), X[i], share) for i, (s, e, share) in enumerate(ready)]
        self._drop_old()
        return out

    def _drop_old(self) -> None:
        horizon = self.state.horizon() if not self.final else math.inf
        if self.pending:
            horizon = min(horizon, self.pending[0][0])
        if not math.isfinite(horizon):
            return
        self.speech.drop_before(horizon)
        if self.trailing:  # a later segment's window starts at most a window before the horizon
            keep_sample = max(self.audio_start, int(np.floor(horizon * self.sr)) - self.win)
        elif self.window:
            keep_from = max(int(np.floor(horizon / self.fs)) - 1, 0)
            while self.frames and self.frames[0][0] + self.frames[0][1].shape[1] <= keep_from:
                self.frames.popleft()
            # audio is kept from the first window a later segment may still need that is not encoded yet
            k, have = keep_from // self.per_window, self._encoded_windows()
            while k in have:
                k += 1
            keep_sample = min(k * self.win, self.total)
        else:
            keep_sample = max(self.audio_start, int(np.floor(horizon * self.sr)) - 1)
        if keep_sample > self.audio_start:
            self.audio = self.audio[keep_sample - self.audio_start:]
            self.audio_start = keep_sample


class _GivenSpans(Segmenter):
    """A segmenter that returns fixed spans at the end (for :func:`embed_spans`)."""

    def __init__(self, spans):
        self.given = [(float(s), float(e)) for s, e in spans]

    def start(self, sample_rate):
        given = self.given

        class State(SegmenterState):
            def push(self, x):
                return []

            def finish(self):
                return list(given)

            def horizon(self):
                return 0.0

        return State()


def embed_spans(encoder, x: np.ndarray, spans) -> np.ndarray:
    """Embeddings (n, dim) of given ``spans`` of a whole signal."""
    emb = Embedder(encoder, _GivenSpans(spans))
    rows = emb.push(x) + emb.finish()
    return np.stack([r.embedding for r in rows]).astype(np.float32) if rows else np.zeros((0, encoder.dim), np.float32)


def embed_signal(x: np.ndarray, encoder, segmentation: Segmentation, *, name="<signal>"):
    """(segment embeddings (n, dim), spans (n, 2), speech shares (n,)) of a whole mono signal at the encoder's rate."""
    segmenter = segmentation.segmenter()
    emb = Embedder(encoder, segmenter, context=segmentation.context)
    rows = emb.push(x) + emb.finish()
    if not rows:
        raise AudioError(name, "no speech found by the voice activity detector" if isinstance(segmenter, SpeechRegions)
                         else "too short for one segment")
    return (np.stack([r.embedding for r in rows]).astype(np.float32),
            np.array([(r.start, r.end) for r in rows], dtype=np.float64).reshape(-1, 2),
            np.array([r.speech for r in rows], dtype=np.float32))


# --- a corpus ---------------------------------------------------------------------------------------


