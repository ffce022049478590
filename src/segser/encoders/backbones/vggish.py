"""VGGish (Hershey et al. 2017), exactly paper 001 Table 2, in PyTorch.

Module names follow the torchvggish state dict (``features.N``,
``embeddings.N``), the published PyTorch port of Google's AudioSet weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from segser.encoders.backbones.base import Backbone, batched, stack_segments
from segser.encoders.features import VGGishLogMel
from segser.errors import check_number
from segser.weights import resolve


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for block in ([64], [128], [256, 256], [512, 512]):
        for out in block:
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
            channels = out
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class VGGishNet(nn.Module):
    """(batch, 96, 64) log-mel patches -> (batch, 128) embeddings (about 72.1 M parameters)."""

    def __init__(self):
        super().__init__()
        self.features = _features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 128), nn.ReLU(inplace=True),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.features(patches.unsqueeze(1))
        # Flatten in TensorFlow's NHWC order, the order the AudioSet weights expect.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)


class VGGishPostprocessor(nn.Module):
    """AudioSet PCA/whitening, clip to [-2, 2], optional 8-bit quantisation."""

    def __init__(self, eigen_vectors: torch.Tensor, means: torch.Tensor, quantize: bool = False):
        super().__init__()
        self.register_buffer("eigen_vectors", eigen_vectors.float())
        self.register_buffer("means", means.float().reshape(1, -1))
        self.quantize = quantize

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        out = ((emb - self.means) @ self.eigen_vectors.T).clamp(-2.0, 2.0)
        if self.quantize:
            out = torch.round((out + 2.0) * (255.0 / 4.0))
        return out


def load_vggish_state(path) -> dict:
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "features.0.weight" not in state:
        raise ValueError(f"{path}: not a torchvggish state dict (no 'features.0.weight')")
    return state


@dataclass(frozen=True)
class VGGishConfig:
    weights: str | None = None
    pca: bool = False
    pca_weights: str | None = None
    segment_length: float = 1.0
    batch_size: int = 64

    def __post_init__(self):
        check_number("vggish segment_length", self.segment_length, lo=0.1, hi=10.0, unit="s")
        check_number("vggish batch_size", self.batch_size, lo=1, hi=4096, integer=True)


class VGGish(Backbone):
    name = "vggish"
    config_type = VGGishConfig
    dim = 128

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        c = self.config
        self.frontend = VGGishLogMel()
        self.net = VGGishNet()
        self.weights_path = resolve("vggish", c.weights)
        self.net.load_state_dict(load_vggish_state(self.weights_path))
        # oneDNN's convolutions run about 1.5x faster on channels-last tensors on this class of CPU
        # (benchmarks/frontend_and_vggish.py: 79 % of the GEMM ceiling against 50 % for NCHW)
        self.net.to(memory_format=torch.channels_last)
        self.post, self.pca_path = None, None
        if c.pca:
            self.pca_path = resolve("vggish-pca", c.pca_weights)
            params = torch.load(str(self.pca_path), map_location="cpu", weights_only=True)
            self.post = VGGishPostprocessor(torch.as_tensor(params["pca_eigen_vectors"]),
                                            torch.as_tensor(params["pca_means"]))
        self.pad_to = c.segment_length
        self.eval()

    def weight_refs(self):
        return [("vggish", self.config.weights)] + ([("vggish-pca", self.config.pca_weights)] if self.config.pca else [])

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        emb = self.net(patches)
        return self.post(emb) if self.post is not None else emb

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        patches = torch.from_numpy(self.frontend.patches(segments.detach().numpy()))
        return self(patches)

    def embed_segments(self, segments):
        patches = torch.from_numpy(self.frontend.patches(stack_segments(segments)))
        return batched(self, patches, self.config.batch_size).numpy()
