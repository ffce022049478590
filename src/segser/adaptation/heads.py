"""Heads for adapted input beside a model's own (``adaptation_heads.npz``), run in numpy."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segser.adaptation.statistics import Statistics, standardise

ADAPTATION_HEADS_FILE = "adaptation_heads.npz"



@dataclass(frozen=True)
class AdaptationHeads:
    """Heads for adapted input beside a model's own (recipes/default/adaptation_heads.py): ``speaker``, trained on
    per-speaker standardised embeddings (for a group adapted with its own statistics), and ``collection``, on
    per-corpus standardised ones (for a batch's statistics). They take plain z-scores, which suit them better than
    moment matching into the unadapted head (benchmarks/adaptation.py). Each is one hidden ReLU layer run in
    numpy, so every runtime has them; the file holds their logits already divided by their own temperature.

    >>> rng = np.random.default_rng(0)
    >>> layer = (np.zeros(3), np.ones(3), rng.normal(size=(5, 3)), np.zeros(5), rng.normal(size=(2, 5)), np.zeros(2))
    >>> AdaptationHeads({"speaker": layer, "collection": layer}).logits("speaker", np.ones((4, 3))).shape
    (4, 2)
    """

    layers: dict  # "speaker" | "collection" -> (mean, std, w1, b1, w2, b2)

    KINDS = ("speaker", "collection")

    def logits(self, kind: str, Z: np.ndarray) -> np.ndarray:
        mean, std, w1, b1, w2, b2 = self.layers[kind]
        hidden = np.maximum(((np.asarray(Z, np.float32) - mean) / std) @ w1.T + b1, 0.0)
        return (hidden @ w2.T + b2).astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """(embedding size, classes)."""
        _, _, w1, _, w2, _ = self.layers["speaker"]
        return w1.shape[1], w2.shape[0]

    @classmethod
    def from_torch(cls, heads: dict) -> "AdaptationHeads":
        """From ``{kind: (EmotionHead with a "segment" head, temperature)}``."""
        layers = {}
        for kind, (module, temperature) in heads.items():
            first, last = module.head.net[1], module.head.net[3]
            layers[kind] = tuple(t.detach().numpy().astype(np.float32) for t in (
                module.mean, module.std, first.weight, first.bias, last.weight / temperature, last.bias / temperature))
        return cls(layers)

    def save(self, path) -> None:
        from segser.io.files import atomic_path

        arrays = {f"{kind}_{i}": a for kind, layer in self.layers.items() for i, a in enumerate(layer)}
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, name: str) -> "AdaptationHeads":
        import zipfile

        from segser.errors import ModelError

        try:
            with np.load(path) as z:
                layers = {kind: tuple(z[f"{kind}_{i}"].astype(np.float32) for i in range(6)) for kind in cls.KINDS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} unreadable ({type(exc).__name__})") from None
        for kind, (mean, std, w1, b1, w2, b2) in layers.items():
            d, h = w1.shape[1] if w1.ndim == 2 else -1, len(b1)
            if (mean.shape != (d,) or std.shape != (d,) or w1.shape != (h, d) or w2.ndim != 2 or w2.shape[1] != h
                    or b2.shape != (w2.shape[0],) or not all(np.all(np.isfinite(a)) for a in layers[kind]) or np.any(std <= 0)):
                raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} holds no valid {kind} head")
        if layers["speaker"][2].shape[1] != layers["collection"][2].shape[1] or len(layers["speaker"][5]) != len(layers["collection"][5]):
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE}: its two heads disagree on input or classes")
        return cls(layers)



def adapted_logits(model, X: np.ndarray, stats: Statistics, kind: str = "speaker") -> np.ndarray:
    """Logits of ``X`` standardised with a group's statistics (``kind``: ``speaker``, a group's own; ``collection``,
    a whole batch's): into the model's adaptation head for that kind when it has them (their logits brought to the
    model's temperature, so its calibration and blends hold), else mapped onto the head's reference."""
    if model.adaptation is not None:
        return model.adaptation.logits(kind, standardise(X, stats)) * np.float32(model.temperature)
    return model.logits(standardise(X, stats, model.reference))

