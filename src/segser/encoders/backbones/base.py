"""The base class every backbone shares: a torch module with a validated config, its sample rate, dimension,
windows or segment padding, and the weight files it reads (for cache keys and exports)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from segser.encoders.engine import embed_spans
from segser.options import as_dict, build
from segser.weights import digest, resolve


class Backbone(torch.nn.Module):
    """Maps segments of a 16 kHz signal to one embedding each.

    Each backbone has a frozen, validated config dataclass (``config_type``),
    built from keyword options: ``Whisper(size="tiny.en", layer=3)``. There
    are two kinds, and :class:`~segser.encoders.engine.Embedder` drives both:

    * window encoders (``window_seconds`` set, e.g. Whisper) encode the signal
      in windows tiled from 0 into frames every ``frame_seconds``
      (:meth:`encode_windows`) and :meth:`pool` the frames inside a segment;
    * segment encoders embed each segment's own samples (:meth:`embed_segments`),
      cut to ``pad_to`` seconds (zero-padded) or to the segment itself.

    Frozen or trainable is the caller's choice; :meth:`describe` keys the
    embedding cache (options plus the sha256 of every weight file, never a path).
    """

    name: str = "backbone"
    config_type: type = object
    sample_rate: int = 16000
    dim: int = 0
    window_seconds: float | None = None
    frame_seconds: float | None = None
    pad_to: float | None = None
    zero_pad: bool = True
    path_fields: tuple[str, ...] = ("weights", "pca_weights")

    def __init__(self, config=None, **options):
        super().__init__()
        self.config = build(self.config_type, options, where=f"{self.name} options") if config is None else config

    def weight_refs(self) -> list[tuple[str, str | None]]:
        """(resolver source, explicit path or None) of each pretrained file the backbone reads."""
        return []

    def weight_files(self) -> list[Path]:

        return [resolve(source, explicit) for source, explicit in self.weight_refs()]

    def describe(self) -> dict:
        opts = {k: v for k, v in as_dict(self.config).items() if k not in self.path_fields}
        out = {"backbone": self.name, **opts}
        if getattr(self, "frontend", None) is not None:
            out["frontend"] = self.frontend.describe()
        files = self.weight_files()
        if files:
            out["weights_sha256"] = [digest(p) for p in files]
        return out

    def embed_segments(self, segments: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def encode_windows(self, windows: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def pool(self, frames: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, x: np.ndarray, spans) -> np.ndarray:
        """Embeddings of ``spans`` of the whole signal ``x`` (as training computes them)."""

        return embed_spans(self, x, spans)

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        """Differentiable (batch, samples) segment waveforms -> (batch, dim), for
        fine-tuning. Backbones that cannot be fine-tuned do not override it."""
        raise NotImplementedError(f"the {self.name} backbone cannot be fine-tuned")

    def tail_parameters(self, blocks: int | None):
        """Parameters of the last ``blocks`` blocks (all parameters if None)."""
        return list(self.parameters())


def stack_segments(segments: list[np.ndarray]) -> np.ndarray:
    return np.stack(segments).astype(np.float32, copy=False) if segments else np.zeros((0, 0), np.float32)


def batched(fn, items: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(items[i: i + batch_size]) for i in range(0, len(items), batch_size)])
