"""A group's embedding statistics, and standardisation with them.

A model trained with ``speaker_norm`` sees every segment embedding standardised by its speaker's mean and
standard deviation, taken over that speaker's segments without their labels; a model trained without it can
still be adapted, by mapping a group's moments onto its training population's (``reference``).

>>> X = np.array([[1.0], [3.0], [10.0], [20.0]])
>>> speaker_normalise(X, np.array(["a", "a", "b", "b"])).round(3).ravel().tolist()
[-1.0, 1.0, -1.0, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STD_FLOOR = 1e-5


@dataclass(frozen=True)
class Statistics:
    """Mean and standard deviation of a group's segment embeddings, and how many segments they come from."""

    mean: np.ndarray
    std: np.ndarray
    segments: int

    @classmethod
    def of(cls, X: np.ndarray) -> "Statistics":
        return cls(X.mean(0), X.std(0) + STD_FLOOR, int(len(X)))

    def shrunk(self, prior: "Statistics", k: float) -> "Statistics":
        """Towards ``prior`` by the amount of evidence: weight n / (n + k) on this group's own statistics."""
        w = self.segments / (self.segments + k)
        return Statistics(w * self.mean + (1 - w) * prior.mean, w * self.std + (1 - w) * prior.std, self.segments)


class RunningStatistics:
    """:class:`Statistics` accumulated block by block (sums in float64): constant memory however many segments."""

    def __init__(self):
        self.n = 0
        self.sum = self.sumsq = None

    def add(self, X: np.ndarray) -> None:
        if not len(X):
            return
        X = np.asarray(X, np.float64)
        s, q = X.sum(0), np.einsum("ij,ij->j", X, X)
        self.sum, self.sumsq = (s, q) if self.sum is None else (self.sum + s, self.sumsq + q)
        self.n += len(X)

    def variance(self) -> np.ndarray:
        mean = self.sum / self.n
        return np.maximum(self.sumsq / self.n - mean * mean, 0.0)

    def statistics(self) -> Statistics:
        return Statistics(self.sum / self.n, np.sqrt(self.variance()) + STD_FLOOR, self.n)


def standardise(X: np.ndarray, stats: Statistics, reference: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``X`` standardised with a group's statistics, then (``reference``: the mean and std the head was
    trained to expect) mapped onto the training population's: the group's moments are matched to the
    training population's, so a head trained without adaptation can use it too."""
    Z = (X - stats.mean) / stats.std
    return (Z * reference[1] + reference[0]).astype(np.float32) if reference is not None else Z.astype(np.float32)


def speaker_normalise(X: np.ndarray, speakers: np.ndarray, voiced: np.ndarray | None = None) -> np.ndarray:
    """Per-speaker z-normalisation from each speaker's own (unlabelled) segments (those ``voiced``, if given)."""
    out = np.empty_like(X)
    for s in np.unique(speakers):
        m = speakers == s
        stats_rows = m & voiced if voiced is not None and np.any(m & voiced) else m
        out[m] = standardise(X[m], Statistics.of(X[stats_rows]))
    return out
