"""Does a voice hold one mood? What the guard of adaptation asks before it standardises a group with its own
statistics: a speaker's statistics assume a sample that mixes emotions, and when a speaker holds one mood their
mean *is* that mood, so standardising removes it.

Two answers, both from a :class:`Sample` of the group's voiced segments accumulated as running sums:

* the share of its segments that a prior model (without the group's own statistics) gives its commonest emotion
  (:func:`share_weight`: a ramp around ``ONE_MOOD_SHARE``), for models without a mood check;
* the :class:`MoodCheck` shipped beside a model (``mood.npz``): a logistic regression on that share and on how
  much of the sample's spread lies along the emotion directions of the training speakers (a mix of emotions
  spreads along them, one mood hardly does). Fitted by :mod:`segser.training.adaptation_fit`.

>>> share_weight(0.6)   # 60 % one emotion: half way between a mix and one mood
0.5
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segser.adaptation.statistics import RunningStatistics
from segser.errors import ModelError
from segser.io.files import atomic_path

# Around the share fixed before the first measurement (0.6) own statistics and the fallback are blended over
# +-ONE_MOOD_RAMP, so that a segment or two more of one emotion never flips a whole speaker's adaptation (a
# 112-segment SAVEE speaker did: 0.616 -> 0.598; benchmarks/adaptation.py).
ONE_MOOD_SHARE = 0.6
ONE_MOOD_RAMP = 0.1
# The mood check's probability that a sample holds one mood sets the fallback's weight: 0 at p = 0, 1 from
# MOOD_CHECK_TOP (benchmarks/adaptation.py: a wrong "mixed" flattens a one-mood voice, a wrong "one mood" only
# forgoes a gain, so the ramp sits low).
MOOD_CHECK_TOP = 0.4
MOOD_CHECK_FILE = "mood.npz"


def share_weight(share: float, centre: float = ONE_MOOD_SHARE) -> float:
    """The fallback's weight for a group whose commonest emotion has ``share`` of its segments: 0 up to
    ``centre - ONE_MOOD_RAMP``, 1 from ``centre + ONE_MOOD_RAMP``, linear between."""
    return float(np.clip((share - centre + ONE_MOOD_RAMP) / (2 * ONE_MOOD_RAMP), 0.0, 1.0))


def dominant_share(logits: np.ndarray) -> float:
    """The share of segments whose logits give the commonest class.

    >>> dominant_share(np.eye(4)[[0, 0, 0, 0, 0, 0, 1, 2, 3, 1]])
    0.6
    """
    if not len(logits):
        return 0.0
    return float(np.bincount(np.asarray(logits).argmax(1), minlength=np.shape(logits)[1]).max() / len(logits))


@dataclass(frozen=True)
class MoodCheck:
    """``directions``: d x k emotion directions, in the space standardised by the model's reference;
    ``coef``: bias, log spread fraction, dominant share (:meth:`probability`)."""

    directions: np.ndarray
    coef: np.ndarray

    @staticmethod
    def spread_of(trace_all: float, trace_along: float) -> float:
        """Log of the fraction of the variance that lies along the directions."""
        return float(np.log(max(trace_along, 1e-12) / max(trace_all, 1e-12)))

    def spread(self, Z: np.ndarray) -> float:
        """:meth:`spread_of` of reference-standardised embeddings ``Z`` held at once."""
        return self.spread_of(float(Z.var(0).sum()), float((Z @ self.directions).var(0).sum()))

    def probability(self, spread: float, share: float) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.coef[0] + self.coef[1] * spread + self.coef[2] * share))))

    @staticmethod
    def weight(probability: float) -> float:
        """The fallback's weight for a sample with this probability of one mood."""
        return float(np.clip(probability / MOOD_CHECK_TOP, 0.0, 1.0))

    def save(self, path) -> None:
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, directions=self.directions.astype(np.float32), coef=np.asarray(self.coef, np.float64))

    @classmethod
    def load(cls, path, name: str) -> "MoodCheck":
        try:
            with np.load(path) as z:
                directions, coef = z["directions"].astype(np.float64), z["coef"].astype(np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} unreadable ({type(exc).__name__})") from None
        if directions.ndim != 2 or coef.shape != (3,) or not np.all(np.isfinite(directions)) or not np.all(np.isfinite(coef)):
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} holds no valid mood check")
        return cls(directions, coef)


class Sample:
    """What the guard hears of one group's voiced segments, as running sums (constant memory, the same figures
    whether the segments come at once or one by one): their statistics (:attr:`stats`), the votes of a prior
    model (:meth:`vote`) and, for a model with a mood check, their spread along its directions."""

    def __init__(self, n_classes: int, check: MoodCheck | None = None, reference: tuple | None = None):
        self.stats = RunningStatistics()
        self.votes = np.zeros(n_classes, np.int64)
        self.check = check if check is not None and reference is not None else None
        self.reference = reference
        if self.check is not None:
            k = self.check.directions.shape[1]
            self.along, self.along_sq = np.zeros(k), np.zeros(k)

    @property
    def n(self) -> int:
        return self.stats.n

    def add(self, X: np.ndarray) -> None:
        """Voiced segment embeddings into the statistics (and the spread along the mood check's directions)."""
        self.stats.add(X)
        if self.check is not None and len(X):
            P = ((np.asarray(X, np.float64) - self.reference[0]) / self.reference[1]) @ self.check.directions
            self.along += P.sum(0)
            self.along_sq += (P * P).sum(0)

    def vote(self, prior_logits: np.ndarray) -> None:
        """The prior model's logits of voiced segments: each votes for its class."""
        if len(prior_logits):
            self.votes += np.bincount(np.asarray(prior_logits).argmax(1), minlength=len(self.votes))

    def share(self) -> float:
        """The commonest emotion's share of the votes."""
        total = int(self.votes.sum())
        return float(self.votes.max() / total) if total else 0.0

    def features(self) -> tuple[float, float]:
        """What the mood check reads (and is fitted on): the log spread fraction along its directions and the
        dominant share."""
        n = self.stats.n
        var = self.stats.variance() / np.asarray(self.reference[1], np.float64) ** 2
        along = np.maximum(self.along_sq / n - (self.along / n) ** 2, 0.0)
        return MoodCheck.spread_of(float(var.sum()), float(along.sum())), self.share()

    def one_mood_probability(self) -> float:
        """The mood check on the segments so far."""
        return self.check.probability(*self.features())

    def fallback_weight(self, centre: float = ONE_MOOD_SHARE) -> tuple[float, dict]:
        """How far the group is taken to hold one mood: the fallback's weight (0: its own statistics; 1: the
        fallback's) and the evidence (``dominant_share``, and ``one_mood_probability`` with a mood check, which
        then decides)."""
        share = self.share()
        evidence = {"dominant_share": round(share, 3)}
        if self.check is None:
            return share_weight(share, centre), evidence
        p = self.one_mood_probability()
        return MoodCheck.weight(p), {**evidence, "one_mood_probability": round(p, 3)}
