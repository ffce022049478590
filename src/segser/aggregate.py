"""Segment (or frame) scores -> one decision per clip (paper 001 section 3.3, paper 003).

Every rule takes the segment logits of ONE clip, shape (n_segments, n_classes),
and returns a class index, or -1 when the rule abstains (a tie).
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def vote_set(logits: np.ndarray) -> np.ndarray:
    """M of paper 001: the classes predicted for the largest number of segments."""
    votes = np.bincount(np.argmax(logits, axis=1), minlength=logits.shape[1])
    return np.flatnonzero(votes == votes.max())


def mean_logits(logits: np.ndarray) -> int:
    """ALCA's rule: argmax of the logits averaged over segments (segser's default)."""
    return int(np.argmax(logits.mean(axis=0)))


def majority(logits: np.ndarray) -> int:
    """Most-voted class; ties broken by the larger mean logit among the tied."""
    m = vote_set(logits)
    return int(m[np.argmax(logits.mean(axis=0)[m])])


def unique_majority(logits: np.ndarray) -> int:
    """SCA's rule: the most-voted class if unique, else -1 (abstain)."""
    m = vote_set(logits)
    return int(m[0]) if m.size == 1 else -1


def summed_posteriors(logits: np.ndarray) -> int:
    """Paper 003's rule: argmax of the sum of frame/segment posteriors."""
    return int(np.argmax(softmax(logits).sum(axis=0)))


RULES = {
    "mean_logits": mean_logits,
    "majority": majority,
    "unique_majority": unique_majority,
    "summed_posteriors": summed_posteriors,
}


def clip_scores(logits: np.ndarray) -> np.ndarray:
    """Per-class clip scores shown next to a decision: mean posteriors."""
    return softmax(logits).mean(axis=0)


def decide(logits: np.ndarray, rule: str = "mean_logits") -> int:
    if rule not in RULES:
        raise ConfigError(f"unknown aggregation rule {rule!r}; available: {', '.join(RULES)}")
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError("a clip needs at least one segment to aggregate")
    return RULES[rule](logits)


TIE = "undecided (tie)"  # the clip label when a rule abstains, everywhere


def clip_label(logits: np.ndarray, classes, rule: str = "mean_logits") -> str:
    """The clip decision as a class name, or :data:`TIE`."""
    k = decide(logits, rule)
    return classes[k] if k >= 0 else TIE
