"""Segment (or frame) scores -> one decision per clip (paper 001 section 3.3, paper 003).

Every rule decides from a :class:`Tally`: running sums over a clip's segments
(logits, posteriors, votes), so a whole clip and a live stream that has seen
the same segments decide alike, in O(classes) memory. A rule returns a class
index, or -1 when it abstains (a tie).

>>> decide(np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), "majority")
0
"""
from __future__ import annotations

import numpy as np

from segser.errors import ConfigError


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Tally:
    """Running sums of one clip's segment logits: what every rule needs.
    ``temperature`` calibrates the scores shown beside a decision."""

    def __init__(self, n_classes: int, temperature: float = 1.0):
        self.temperature = float(temperature)
        self.n = 0
        self.sum_logits = np.zeros(n_classes)
        self.sum_posteriors = np.zeros(n_classes)
        self.sum_scores = np.zeros(n_classes)
        self.votes = np.zeros(n_classes, int)

    @classmethod
    def of(cls, logits: np.ndarray, temperature: float = 1.0) -> "Tally":
        t = cls(np.shape(logits)[1], temperature)
        t.add(logits)
        return t

    def add(self, logits: np.ndarray) -> None:
        logits = np.asarray(logits, np.float64).reshape(-1, len(self.votes))
        if not len(logits):
            return
        self.n += len(logits)
        self.sum_logits += logits.sum(0)
        self.sum_posteriors += softmax(logits).sum(0)
        self.sum_scores += softmax(logits / self.temperature).sum(0)
        self.votes += np.bincount(logits.argmax(1), minlength=len(self.votes))

    def scores(self) -> np.ndarray:
        """Per-class clip scores shown next to a decision: mean (calibrated) posteriors."""
        return self.sum_scores / max(self.n, 1)

    def vote_set(self) -> np.ndarray:
        """M of paper 001: the classes predicted for the largest number of segments."""
        return np.flatnonzero(self.votes == self.votes.max())


def mean_logits(t: Tally) -> int:
    """ALCA's rule: argmax of the logits averaged over segments (segser's default)."""
    return int(np.argmax(t.sum_logits))


def majority(t: Tally) -> int:
    """Most-voted class; ties broken by the larger mean logit among the tied."""
    m = t.vote_set()
    return int(m[np.argmax(t.sum_logits[m])])


def unique_majority(t: Tally) -> int:
    """SCA's rule: the most-voted class if unique, else -1 (abstain)."""
    m = t.vote_set()
    return int(m[0]) if m.size == 1 else -1


def summed_posteriors(t: Tally) -> int:
    """Paper 003's rule: argmax of the sum of frame/segment posteriors."""
    return int(np.argmax(t.sum_posteriors))


RULES = {
    "mean_logits": mean_logits,
    "majority": majority,
    "unique_majority": unique_majority,
    "summed_posteriors": summed_posteriors,
}


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ConfigError(f"unknown aggregation rule {rule!r}; available: {', '.join(RULES)}")
    return rule


def clip_scores(logits: np.ndarray) -> np.ndarray:
    """Per-class clip scores of a whole clip's logits: mean posteriors."""
    return Tally.of(logits).scores()


def decide(logits: np.ndarray, rule: str = "mean_logits") -> int:
    check_rule(rule)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError("a clip needs at least one segment to aggregate")
    return RULES[rule](Tally.of(logits))


TIE = "undecided (tie)"  # the clip label when a rule abstains, everywhere


def clip_label(logits: np.ndarray, classes, rule: str = "mean_logits") -> str:
    """The clip decision as a class name, or :data:`TIE`."""
    k = decide(logits, rule)
    return classes[k] if k >= 0 else TIE
