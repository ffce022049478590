from __future__ import annotations

import numpy as np
import torch


class Backbone(torch.nn.Module):
    """Maps a clip and its segment spans to one embedding per segment.

    Subclasses set ``name``, ``sample_rate``, ``dim`` and ``layers`` (names of
    taps), and implement :meth:`embed`. Frozen or trainable is the caller's
    choice (``requires_grad_``); :meth:`describe` keys the embedding cache.
    """

    name: str = "backbone"
    sample_rate: int = 16000
    dim: int = 0
    layers: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {"backbone": self.name}

    @torch.no_grad()
    def embed(self, x: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        """Differentiable (batch, samples) segment waveforms -> (batch, dim), for
        fine-tuning. Backbones that cannot be fine-tuned do not override it."""
        raise NotImplementedError(f"the {self.name} backbone cannot be fine-tuned")

    def tail_parameters(self, blocks: int | None):
        """Parameters of the last ``blocks`` blocks (all parameters if None)."""
        return list(self.parameters())
