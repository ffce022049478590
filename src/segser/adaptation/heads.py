"""Heads for adapted input beside a model's own (``adaptation_heads.npz``, made by
``recipes/default/adaptation_heads.py`` and ``segser train``): ``speaker``, trained on per-speaker standardised
embeddings (for a group adapted with its own statistics), and ``collection``, on per-corpus standardised ones
(for a batch's statistics). They take plain z-scores, which suit them better than moment matching into the
unadapted head (benchmarks/adaptation.py). Each is one hidden ReLU layer run in numpy, so every runtime has
them; the file holds their logits already divided by their own temperature.

>>> rng = np.random.default_rng(0)
>>> layer = ZHead(np.zeros(3), np.ones(3), rng.normal(size=(5, 3)), np.zeros(5), rng.normal(size=(2, 5)), np.zeros(2))
>>> AdaptationHeads({"speaker": layer, "collection": layer}).logits("speaker", np.ones((4, 3))).shape
(4, 2)
"""
from __future__ import annotations

import zipfile
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from segser.adaptation.statistics import Statistics, standardise
from segser.errors import ModelError
from segser.io.files import atomic_path

ADAPTATION_HEADS_FILE = "adaptation_heads.npz"
KINDS = ("speaker", "collection")


@dataclass(frozen=True)
class ZHead:
    """One hidden ReLU layer on z-scores: its own input normalisation (``mean``, ``std``), then
    ``relu(x @ w1.T + b1) @ w2.T + b2``."""

    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def logits(self, Z: np.ndarray) -> np.ndarray:
        hidden = np.maximum(((np.asarray(Z, np.float32) - self.mean) / self.std) @ self.w1.T + self.b1, 0.0)
        return (hidden @ self.w2.T + self.b2).astype(np.float32)

    def valid(self) -> bool:
        d, h = self.w1.shape[1] if self.w1.ndim == 2 else -1, len(self.b1)
        return (self.mean.shape == (d,) and self.std.shape == (d,) and self.w1.shape == (h, d) and self.w2.ndim == 2
                and self.w2.shape[1] == h and self.b2.shape == (self.w2.shape[0],) and not np.any(self.std <= 0)
                and all(np.all(np.isfinite(a)) for a in astuple(self)))


@dataclass(frozen=True)
class AdaptationHeads:
    heads: dict  # "speaker" | "collection" -> ZHead

    def logits(self, kind: str, Z: np.ndarray) -> np.ndarray:
        return self.heads[kind].logits(Z)

    @property
    def shape(self) -> tuple[int, int]:
        """(embedding size, classes)."""
        head = self.heads["speaker"]
        return head.w1.shape[1], head.w2.shape[0]

    def save(self, path) -> None:
        arrays = {f"{kind}_{i}": a for kind, head in self.heads.items() for i, a in enumerate(astuple(head))}
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, name: str) -> "AdaptationHeads":
        try:
            with np.load(path) as z:
                heads = {kind: ZHead(*(z[f"{kind}_{i}"].astype(np.float32) for i in range(6))) for kind in KINDS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} unreadable ({type(exc).__name__})") from None
        for kind, head in heads.items():
            if not head.valid():
                raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} holds no valid {kind} head")
        speaker, collection = heads["speaker"], heads["collection"]
        if speaker.w1.shape[1] != collection.w1.shape[1] or len(speaker.b2) != len(collection.b2):
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE}: its two heads disagree on input or classes")
        return cls(heads)


def adapted_logits(model, X: np.ndarray, stats: Statistics, kind: str = "speaker") -> np.ndarray:
    """Logits of ``X`` standardised with a group's statistics (``kind``: ``speaker``, a group's own; ``collection``,
    a whole batch's): into the model's adaptation head for that kind when it has them (their logits brought to the
    model's temperature, so its calibration and blends hold), else mapped onto the head's reference."""
    if model.adaptation is not None:
        return model.adaptation.logits(kind, standardise(X, stats)) * np.float32(model.temperature)
    return model.logits(standardise(X, stats, model.reference))
