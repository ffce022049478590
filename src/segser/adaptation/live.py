"""Adaptation of one voice as it is heard (a live stream): running sums, constant memory."""
from __future__ import annotations

import numpy as np

from segser.adaptation.heads import adapted_logits
from segser.adaptation.mood import ONE_MOOD_SHARE, MoodCheck, mood_weight
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS
from segser.adaptation.statistics import Statistics
from segser.errors import ConfigError


class LiveAdaptation:
    """The guarded rule over a voice as it is heard (a live stream): each segment is adapted with the
    statistics of the voiced segments so far, once there are ``MIN_SPEAKER_SEGMENTS`` of them, blended with the
    unadapted logits as far as the model without adaptation hears one emotion in them (:func:`mood_weight`
    around ``mood_share``; ``guarded=False`` drops that guard). :meth:`logits` also says, per segment, how many
    seconds of speech its statistics come from (0: not adapted). Memory is constant: running sums, not segments.

    >>> live = LiveAdaptation(load_model("default-4class"))             # doctest: +SKIP
    >>> logits, heard = live.logits(X, speech, spans, gate=0.2)         # doctest: +SKIP
    """

    def __init__(self, model, *, guarded: bool = True, mood_share: float = ONE_MOOD_SHARE):
        from segser.errors import check_number

        self.mood_share = check_number("mood_share", mood_share, lo=0.3, hi=1.0)
        if model.reference is None and not model.speaker_norm:
            raise ConfigError(f"{model.name}: its head takes no standardised input, so it cannot be adapted")
        if model.speaker_norm:
            raise ConfigError(f"{model.name}: trained on speaker-normalised embeddings, it cannot judge a segment before "
                              "a voice's statistics exist; live adaptation uses a model without that (e.g. default-4class)")
        self.model, self.guarded = model, guarded
        self.n, self.seconds = 0, 0.0
        self.sum = self.sumsq = None
        self.votes = np.zeros(len(model.classes), np.int64)
        # the mood check's running sums: the voice's spread along the emotion directions (constant memory)
        self.check = model.mood if guarded and model.reference is not None else None
        if self.check is not None:
            k = self.check.directions.shape[1]
            self.along, self.along_sq = np.zeros(k), np.zeros(k)

    def statistics(self) -> Statistics:
        mean = self.sum / self.n
        return Statistics(mean, np.sqrt(np.maximum(self.sumsq / self.n - mean ** 2, 0.0)) + 1e-5, self.n)

    def weight(self) -> float:
        """The unadapted logits' weight now: 1 before the warm-up, then the mood check's (:meth:`MoodCheck.weight`),
        or for a model without one :func:`mood_weight` of the votes."""
        if self.n < MIN_SPEAKER_SEGMENTS:
            return 1.0
        if not self.guarded:
            return 0.0
        if self.check is not None:
            return MoodCheck.weight(self.one_mood_probability())
        return mood_weight(self.votes.max() / self.n, self.mood_share)

    def one_mood_probability(self) -> float:
        """The mood check on the voice so far (the same figure as on these segments at once)."""
        ref_mean, ref_std = self.model.reference
        mean = self.sum / self.n
        var = np.maximum(self.sumsq / self.n - mean ** 2, 0.0) / np.asarray(ref_std, np.float64) ** 2
        along = np.maximum(self.along_sq / self.n - (self.along / self.n) ** 2, 0.0)
        return self.check.probability(MoodCheck.spread_of(float(var.sum()), float(along.sum())),
                                      float(self.votes.max() / self.n))

    def adapting(self) -> bool:
        return self.weight() < 1.0

    def logits(self, X: np.ndarray, speech: np.ndarray, spans, *, gate: float) -> tuple[np.ndarray, list[float]]:
        raw = self.model.logits(X)
        out, heard = raw.copy(), []
        for i, ((s, e), share) in enumerate(zip(spans, speech)):
            if share >= gate:
                x = X[i].astype(np.float64)
                self.sum = x.copy() if self.sum is None else self.sum + x
                self.sumsq = x * x if self.sumsq is None else self.sumsq + x * x
                self.n += 1
                self.votes[int(raw[i].argmax())] += 1
                if self.check is not None:
                    proj = ((x - self.model.reference[0]) / self.model.reference[1]) @ self.check.directions
                    self.along += proj
                    self.along_sq += proj * proj
                self.seconds += (e - s) * float(share)
            w = self.weight()
            if w < 1.0:
                adapted = adapted_logits(self.model, X[i:i + 1], self.statistics())[0]
                out[i] = (1 - w) * adapted + w * raw[i]
                heard.append(round(self.seconds, 1))
            else:
                heard.append(0.0)
        return out, heard

    def describe(self) -> dict:
        w = self.weight()
        note = {"mode": "none" if w == 1.0 else "speaker" if w == 0.0 else "speaker+none", "segments": self.n,
                "speech_seconds": round(self.seconds, 1), "guarded": self.guarded}
        if 0.0 < w < 1.0:
            note["weights"] = {"speaker": round(1 - w, 3), "none": round(w, 3)}
        if self.n:
            note["dominant_share"] = round(float(self.votes.max() / self.n), 3)
        if self.check is not None and self.n >= MIN_SPEAKER_SEGMENTS:
            note["one_mood_probability"] = round(self.one_mood_probability(), 3)
        if w == 1.0:
            note["reason"] = (f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech" if self.n < MIN_SPEAKER_SEGMENTS
                              else "one mood so far: not adapted")
        return note

