"""A live emotion timeline: push audio as it arrives, get each segment's result
as soon as it can be computed, and a running clip decision.

>>> from segser.stream import Stream
>>> live = Stream(sample_rate=48000, channels=2)           # doctest: +SKIP
>>> for result in live.push(chunk): print(result["label"])  # doctest: +SKIP
>>> live.finish(); live.decision()                          # doctest: +SKIP

Chunks may have any size, sample rate and channel count (int16 or float
samples); they are mixed to mono and resampled with the same streaming
resampler and cut and encoded by the same engine as ``segser predict``, so the
results equal the offline timeline of the same audio. Memory stays bounded
however long the stream runs: the clip decision is kept as running sums.
"""
from __future__ import annotations

import numpy as np

from .aggregate import RULES, TIE, softmax
from .audio import Resampler, check_samples
from .errors import AudioError, ConfigError, check_number
from .inference import UNCERTAIN
from .model import EmotionModel, load_model
from .segmenters import Segmentation


class RunningDecision:
    """A clip decision over segments seen so far, from O(classes) running sums;
    each rule decides as :mod:`segser.aggregate` does on the whole clip."""

    def __init__(self, classes, temperature: float = 1.0):
        k = len(classes)
        self.classes, self.temperature = classes, temperature
        self.sum_logits, self.sum_posteriors = np.zeros(k), np.zeros(k)
        self.sum_scores, self.votes, self.n = np.zeros(k), np.zeros(k, int), 0

    def add(self, logits: np.ndarray) -> None:
        logits = np.asarray(logits, np.float64)
        self.sum_logits += logits.sum(0)
        self.sum_posteriors += softmax(logits).sum(0)
        self.sum_scores += softmax(logits / self.temperature).sum(0)
        self.votes += np.bincount(logits.argmax(1), minlength=len(self.classes))
        self.n += len(logits)

    def decide(self, rule: str) -> int:
        top = np.flatnonzero(self.votes == self.votes.max())
        if rule == "mean_logits":
            return int(np.argmax(self.sum_logits))
        if rule == "summed_posteriors":
            return int(np.argmax(self.sum_posteriors))
        if rule == "majority":
            return int(top[np.argmax(self.sum_logits[top])])
        return int(top[0]) if top.size == 1 else -1

    def result(self, rule: str, min_score: float = 0.0) -> dict:
        if self.n == 0:
            return {"label": None, "score": None, "rule": rule, "n_segments": 0}
        scores = self.sum_scores / self.n
        k = self.decide(rule)
        label = self.classes[k] if k >= 0 else TIE
        score = float(scores[k]) if k >= 0 else float("nan")
        if k >= 0 and score < min_score:
            label = UNCERTAIN
        out = {"label": label, "score": score, "rule": rule, "n_segments": self.n}
        out.update({f"p_{c}": float(s) for c, s in zip(self.classes, scores)})
        return out


class Stream:
    """Audio in, segment results out, as they become computable."""

    def __init__(self, model=None, *, sample_rate: int, channels: int = 1, segmentation: Segmentation | None = None,
                 rule: str = "mean_logits", min_score: float = 0.0, runtime: str = "auto", compute=None):
        self.model: EmotionModel = load_model(model, runtime=runtime)
        self.model.require_no_speaker_statistics("live (one stream at a time)")
        self.rate = int(check_number("sample rate", sample_rate, lo=8000, hi=384_000, integer=True, unit="Hz"))
        self.channels = int(check_number("channels", channels, lo=1, hi=64, integer=True))
        if rule not in RULES:
            raise ConfigError(f"unknown aggregation rule {rule!r}; available: {', '.join(RULES)}")
        self.rule, self.min_score = rule, check_number("min_score", min_score, lo=0.0, hi=1.0)
        self.resampler = Resampler(self.rate, self.model.sample_rate)
        self.embedder = self.model.embedder(segmentation)
        self.running = RunningDecision(self.model.classes, self.model.temperature)
        self.received = 0  # input samples (per channel)
        self.finished = False
        self.compute = compute or (lambda fn: fn())

    @property
    def seconds(self) -> float:
        return self.received / self.rate

    def _mono(self, samples) -> np.ndarray:
        x = np.asarray(samples)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        elif not np.issubdtype(x.dtype, np.floating):
            raise AudioError("<stream>", f"samples must be int16 or float, not {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if self.channels > 1:
            if x.ndim == 1:
                if x.size % self.channels:
                    raise AudioError("<stream>", f"{x.size} samples do not divide into {self.channels} channels")
                x = x.reshape(-1, self.channels)
            x = x.mean(axis=1, dtype=np.float32)
        elif x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        elif x.ndim != 1:
            raise AudioError("<stream>", f"expected mono samples, got shape {x.shape}")
        check_samples(x, "<stream>", at=self.seconds)
        return x

    def push(self, samples) -> list[dict]:
        """Results of the segments this chunk completes (often none)."""
        if self.finished:
            raise ConfigError("push() after finish()")
        x = self._mono(samples)
        self.received += x.size
        y = self.resampler(x)
        return self.compute(lambda: self._results(self.embedder.push(y), final=False))

    def finish(self) -> list[dict]:
        """The remaining segments (the last ones, zero-padded) once the audio has ended."""
        if self.finished:
            return []
        self.finished = True
        y = self.resampler(np.zeros(0, np.float32), last=True)
        return self.compute(lambda: self._results(self.embedder.push(y) + self.embedder.finish(), final=True))

    def _results(self, rows, *, final: bool) -> list[dict]:
        if not rows:
            return []
        logits = self.model.logits(np.stack([r[2] for r in rows]))
        self.running.add(logits)
        probs = self.model.probabilities(logits)
        duration = self.seconds
        out = []
        for (s, e, _), p in zip(rows, probs):
            k = int(p.argmax())
            label = self.model.classes[k] if p[k] >= self.min_score else UNCERTAIN
            r = {"start": round(s, 3), "end": round(min(e, duration) if final else e, 3), "label": label,
                 "score": float(p[k])}
            r.update({f"p_{c}": float(v) for c, v in zip(self.model.classes, p)})
            out.append(r)
        return out

    def decision(self) -> dict:
        """The clip decision over the segments so far."""
        return {**self.running.result(self.rule, self.min_score), "duration": round(self.seconds, 3)}
