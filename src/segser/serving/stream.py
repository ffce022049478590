"""A live emotion timeline: push audio as it arrives, get each segment's result as soon as it can be computed,
and a running clip decision.

>>> from segser.serving.stream import Stream
>>> live = Stream(sample_rate=48000, channels=2)           # doctest: +SKIP  (live-4class)
>>> for result in live.push(chunk): print(result["label"])  # doctest: +SKIP
>>> live.finish(); live.decision().label                    # doctest: +SKIP

Chunks may have any size, sample rate and channel count (int16 or float samples); they are mixed to mono and
resampled with the same streaming resampler and cut and encoded by the same engine as the file pipeline, rows
and decisions come from the same :class:`~segser.results.timeline.Timeline` and adaptation from the same plan
(:func:`~segser.adaptation.policy.plan_for`, one voice as it is heard), so the results equal the offline
timeline of the same audio. Memory stays bounded however long the stream runs: the clip decision is kept as
running sums. Without a model, the live default (``live-4class``: trailing windows, a result as soon as its
segment's audio is there).
"""
from __future__ import annotations

import numpy as np

from segser.adaptation.live import LiveAdaptation
from segser.adaptation.policy import AdaptationNote, Policy, plan_for
from segser.errors import AudioError, ConfigError, check_number
from segser.io.audio import Resampler, check_samples
from segser.model import LIVE_MODEL, EmotionModel, load_model
from segser.pipeline import Pipeline, PredictOptions, options_of
from segser.results.types import Decision


class Stream:
    """Audio in, segment results out, as they become computable. ``model``: a :class:`~segser.pipeline.Pipeline`
    (its model and options), a model or a model's name."""

    def __init__(self, model=None, *, sample_rate: int, channels: int = 1, options: PredictOptions | None = None,
                 runtime: str = "auto", compute=None, **option_values):
        if isinstance(model, Pipeline):
            model, options = model.model, options or model.options
        self.model: EmotionModel = load_model(LIVE_MODEL if model is None else model, runtime=runtime)
        self.options = options_of(options, **option_values)
        plan = plan_for(self.model, self.options.adapt, inputs=1, live=True)
        self.adaptation = LiveAdaptation(self.model) if plan.policy is Policy.GUARDED else None
        self.rate = int(check_number("sample rate", sample_rate, lo=8000, hi=384_000, integer=True, unit="Hz"))
        self.channels = int(check_number("channels", channels, lo=1, hi=64, integer=True))
        self.resampler = Resampler(self.rate, self.model.sample_rate)
        self.segmentation = self.options.segmentation(self.model.segmentation)
        self.embedder = self.model.embedder(self.segmentation, skip_below=self.options.gate(self.model))
        self.timeline = self.options.timeline(self.model, keep=False)
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
        return self.compute(lambda: self._results(self.embedder.push(y)))

    def finish(self) -> list[dict]:
        """The remaining segments (the last ones, zero-padded) once the audio has ended."""
        if self.finished:
            return []
        self.finished = True
        y = self.resampler(np.zeros(0, np.float32), last=True)
        return self.compute(lambda: self._results(self.embedder.push(y) + self.embedder.finish()))

    def _results(self, rows) -> list[dict]:
        if not rows:
            return []
        X, spans, speech = np.stack([r.embedding for r in rows]), [(r.start, r.end) for r in rows], [r.speech for r in rows]
        if self.adaptation is None:
            return self.timeline.add(spans, self.model.logits(X), speech)
        logits, heard = self.adaptation.logits(X, speech, spans, gate=self.timeline.speech_gate)
        return self.timeline.add(spans, logits, speech, extra={"adapted_on_s": heard})

    def decision(self) -> Decision:
        """The clip decision over the segments so far."""
        return self.timeline.decision(duration=self.seconds)

    def note(self) -> AdaptationNote | None:
        """What adaptation the voice gets now (None: the stream is not adapted)."""
        return self.adaptation.note() if self.adaptation is not None else None
