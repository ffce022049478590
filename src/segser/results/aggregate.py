"""Segment (or frame) scores -> one decision per clip (paper 001 section 3.3, paper 003).

Every rule decides from a :class:`Tally`: running sums over a clip's segments
(logits, posteriors, votes), so a whole clip and a live stream that has seen
the same segments decide alike, in O(classes) memory. Each rule returns the
probabilities it decided with and the class it chose, and the class is always
the largest of those probabilities (a tie goes to the rule's tie-break, and
``unique_majority`` abstains with -1):

* ``mean_logits`` (ALCA, the default): the softmax of the mean logit, at the model's temperature;
* ``summed_posteriors`` (paper 003): the mean of the segments' calibrated posteriors;
* ``majority`` and ``unique_majority`` (SCA): each class's share of the segments' votes.

>>> decide(np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), "majority")
0
"""
from __future__ import annotations

import numpy as np

from segser.errors import ConfigError

TIE = "undecided (tie)"  # the clip label when a rule abstains, everywhere


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Tally:
    """Running sums of one clip's segment logits: what every rule needs.
    ``temperature`` calibrates the probabilities a decision reports."""

    def __init__(self, n_classes: int, temperature: float = 1.0):
        self.temperature = float(temperature)
        self.n = 0
        self.sum_logits = np.zeros(n_classes)
        self.sum_posteriors = np.zeros(n_classes)  # calibrated
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
        self.sum_posteriors += softmax(logits / self.temperature).sum(0)
        self.votes += np.bincount(logits.argmax(1), minlength=len(self.votes))

    def vote_set(self) -> np.ndarray:
        """M of paper 001: the classes predicted for the largest number of segments."""
        return np.flatnonzero(self.votes == self.votes.max())


def mean_logits(t: Tally) -> tuple[int, np.ndarray]:
    """ALCA's rule: argmax of the logits averaged over segments; its probabilities are their softmax."""
    p = softmax(t.sum_logits / max(t.n, 1) / t.temperature)
    return int(np.argmax(p)), p


def summed_posteriors(t: Tally) -> tuple[int, np.ndarray]:
    """Paper 003's rule: argmax of the summed (calibrated) posteriors; its probabilities are their mean."""
    p = t.sum_posteriors / max(t.n, 1)
    return int(np.argmax(p)), p


def majority(t: Tally) -> tuple[int, np.ndarray]:
    """Most-voted class, ties broken by the larger mean logit among the tied; its probabilities are vote shares."""
    m = t.vote_set()
    return int(m[np.argmax(t.sum_logits[m])]), t.votes / max(t.n, 1)


def unique_majority(t: Tally) -> tuple[int, np.ndarray]:
    """SCA's rule: the most-voted class if unique, else -1 (abstain); its probabilities are vote shares."""
    m = t.vote_set()
    return (int(m[0]) if m.size == 1 else -1), t.votes / max(t.n, 1)


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


def decide(logits: np.ndarray, rule: str = "mean_logits", temperature: float = 1.0) -> int:
    """The class index a rule gives a clip's segment logits (-1: it abstains)."""
    check_rule(rule)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError("a clip needs at least one segment to aggregate")
    return RULES[rule](Tally.of(logits, temperature))[0]
