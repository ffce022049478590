"""The heads' torch modules (see :mod:`segser.heads` for the registry)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from segser.errors import ConfigError, check_choice
from segser.heads import HEAD_CLASSES, check_head


class SegmentClassifier(nn.Module):
    """Paper 001's classification model: one hidden layer of ``hidden`` units
    (N = 200 by default), ReLU, then the logits layer."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 200, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.net(x)


class BaselineMLP(nn.Module):
    """Paper 001's baseline: ``layers`` fully connected layers of ``units``
    units with ReLU, batch norm and dropout 0.5 between them, then logits."""

    def __init__(self, in_dim: int, n_classes: int, layers: int = 2, units: int = 200, dropout: float = 0.5):
        super().__init__()
        mods: list[nn.Module] = []
        d = in_dim
        for i in range(layers):
            mods += [nn.Linear(d, units), nn.ReLU()]
            if i < layers - 1:
                mods += [nn.BatchNorm1d(units), nn.Dropout(dropout)]
            d = units
        mods.append(nn.Linear(d, n_classes))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class Linear(nn.Module):
    """Logistic regression on embeddings."""

    def __init__(self, in_dim: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, n_classes))

    def forward(self, x):
        return self.net(x)


class LayerWeightedSum(nn.Module):
    """Learned softmax-weighted sum of backbone layers (input: layers x dim
    concatenated), followed by another head; 003's bottleneck-layer choice made
    differentiable."""

    def __init__(self, in_dim: int, n_classes: int, n_layers: int, inner: str = "segment", **inner_kw):
        super().__init__()
        if in_dim % n_layers:
            raise ValueError(f"input dim {in_dim} is not a multiple of {n_layers} layers")
        self.n_layers = n_layers
        self.logits = nn.Parameter(torch.zeros(n_layers))
        self.inner = create(inner, in_dim // n_layers, n_classes, **inner_kw)

    def forward(self, x):
        x = x.view(x.shape[0], self.n_layers, -1)
        return self.inner((torch.softmax(self.logits, 0)[None, :, None] * x).sum(1))


class TDNN(nn.Module):
    """Time-delay network (dilated 1-D convolutions, statistics pooling) over
    a segment's feature frames, trained from scratch: paper 003's baseline role.
    Input: (batch, frames * n_features) as the ``mfcc`` backbone gives it."""

    def __init__(self, in_dim: int, n_classes: int, n_features: int = 40, channels: int = 256, dropout: float = 0.2):
        super().__init__()
        if in_dim % n_features:
            raise ValueError(f"input dim {in_dim} is not frames x {n_features}")
        self.n_features = n_features
        layers, c = [], n_features
        for k, d in ((5, 1), (3, 2), (3, 3), (1, 1)):
            layers += [nn.Conv1d(c, channels, k, dilation=d), nn.ReLU(), nn.BatchNorm1d(channels)]
            c = channels
        self.frames = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * channels, channels), nn.ReLU(), nn.Linear(channels, n_classes))

    def forward(self, x):
        h = self.frames(x.view(x.shape[0], -1, self.n_features).transpose(1, 2))
        return self.out(torch.cat([h.mean(-1), h.std(-1)], dim=1))


class SVMHead:
    """Support-vector machine (scikit-learn) on standardised features, the
    classical baseline's classifier; its decision function stands in for logits.
    Used by ``train.fit_head`` when ``head="svm"`` (not saved as a torch model)."""

    def __init__(self, in_dim: int = 0, n_classes: int = 0, kernel: str = "rbf", C: float = 1.0, class_weight=None):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        self.model = make_pipeline(StandardScaler(), SVC(kernel=kernel, C=C, class_weight=class_weight,
                                                         decision_function_shape="ovr"))

    def fit(self, X, y):
        self.model.fit(X, y)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        d = self.model.decision_function(x.numpy())
        return torch.from_numpy(np.asarray(d, dtype=np.float32))

    def eval(self):
        return self


class EfficientNetTail(nn.Module):
    """The pretrained last ``tail_blocks`` MBConv blocks + head conv of
    EfficientNet-Lite0 and a new linear classifier: trained on cached trunk
    activations (``imagenet`` backbone with ``tap=trunk``), this is partial
    fine-tuning (paper 002's last conv block + dense layers) at the cost of the tail only."""

    raw_input = True  # pretrained layers expect the trunk's activations unstandardised

    def __init__(self, in_dim: int, n_classes: int, tail_blocks: int = 4, dropout: float = 0.2, weights=None):
        super().__init__()
        from segser.encoders.backbones.imagenet import lite0

        net, _ = lite0(weights)
        self.blocks = nn.ModuleList(net._blocks[len(net._blocks) - tail_blocks:])
        self.conv_head, self.bn1, self.swish = net._conv_head, net._bn1, net._swish
        channels = self.blocks[0]._block_args.input_filters
        side = int(round((in_dim // channels) ** 0.5))
        self.shape = (channels, side, side)
        if channels * side * side != in_dim:
            raise ConfigError(f"input dim {in_dim} is not {channels} x H x W trunk activations")
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(net._conv_head.out_channels, n_classes))

    def forward(self, x):
        x = x.view(x.shape[0], *self.shape)
        for block in self.blocks:
            x = block(x)
        x = self.swish(self.bn1(self.conv_head(x)))
        return self.classifier(x.mean(dim=(2, 3)))


def create(name: str, in_dim: int, n_classes: int, **options) -> nn.Module:
    check_head(name, options)
    return globals()[HEAD_CLASSES[name]](in_dim, n_classes, **options)


EMBEDDING_NORMS = ("none", "per_layer")


class EmotionHead(nn.Module):
    """Feature standardisation (training statistics) followed by a classifier head:
    the trainable part of a model, saved in ``model.pt``. ``embedding_norm="per_layer"``
    first standardises each embedding within each block of ``layer_dim`` features
    (one Whisper layer): a per-segment normalisation that needs no other segment."""

    def __init__(self, in_dim: int, n_classes: int, head: str = "segment", *, embedding_norm: str = "none",
                 layer_dim: int | None = None, **head_options):
        super().__init__()
        check_choice("embedding_norm", embedding_norm, EMBEDDING_NORMS)
        self.embedding_norm = embedding_norm
        self.layer_dim = layer_dim or in_dim
        if in_dim % self.layer_dim:
            raise ConfigError(f"embedding_norm: {in_dim} features are not whole layers of {self.layer_dim}")
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.head = create(head, in_dim, n_classes, **head_options)

    def normalise_input(self, x):
        if self.embedding_norm == "none":
            return x
        g = x.view(x.shape[0], -1, self.layer_dim)
        g = (g - g.mean(-1, keepdim=True)) / (g.std(-1, keepdim=True, unbiased=False) + 1e-5)
        return g.reshape(x.shape)

    def forward(self, x):
        return self.head((self.normalise_input(x) - self.mean) / self.std)


class HeadEnsemble(nn.Module):
    """Heads trained alike, each with its own seed and validation speakers, as one head: the mean of their
    calibrated logits (each member's logits divided by the temperature fitted on its own validation speakers), plus
    one offset per class (``offsets``: a prior correction fitted on corpora the members did not train on; zero
    without one). Five small heads cost little beside the encoder pass they share, and their mean is steadier on
    speech none of them heard than any one of them (benchmarks/default_candidates.py). ``mean``/``std``: the members'
    average standardisation, the reference adaptation maps a group's statistics onto."""

    def __init__(self, members: list[EmotionHead], temperatures: list[float], offsets=None):
        super().__init__()
        if not members or len(members) != len(temperatures):
            raise ConfigError("an ensemble needs at least one head and one temperature per head")
        self.members = nn.ModuleList(members)
        with torch.no_grad():
            n_classes = members[0].eval()(torch.zeros(1, members[0].mean.numel())).shape[1]
        self.register_buffer("temperatures", torch.tensor([float(t) for t in temperatures]))
        self.register_buffer("offsets", torch.zeros(n_classes) if offsets is None
                             else torch.as_tensor(np.asarray(offsets, np.float32)))
        self.register_buffer("mean", torch.stack([m.mean for m in members]).mean(0))
        self.register_buffer("std", torch.stack([m.std for m in members]).mean(0))
        self.embedding_norm = members[0].embedding_norm
        self.layer_dim = members[0].layer_dim

    @property
    def head(self) -> nn.Module:
        return self.members[0].head

    def forward(self, x):
        return torch.stack([m(x) / self.temperatures[i] for i, m in enumerate(self.members)]).mean(0) + self.offsets
