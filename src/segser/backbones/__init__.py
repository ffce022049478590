"""Pretrained (or identity) backbones behind one interface, and their registry.

Adding a backbone is one module and one line in :data:`REGISTRY`.
"""
from __future__ import annotations

from .base import Backbone


def _logmel(**kw):
    from .logmel import LogMelPatch
    return LogMelPatch(**kw)


def _vggish(**kw):
    from .vggish import VGGish
    return VGGish(**kw)


def _whisper(**kw):
    from .whisper import Whisper
    return Whisper(**kw)


def _egemaps(**kw):
    from .egemaps import EGeMAPS
    return EGeMAPS(**kw)


def _yamnet(**kw):
    from .yamnet import YAMNet
    return YAMNet(**kw)


def _imagenet(**kw):
    from .imagenet import ImageNetCNN
    return ImageNetCNN(**kw)


def _mfcc(**kw):
    from .mfcc import MFCCFrames
    return MFCCFrames(**kw)


REGISTRY = {
    "mfcc": _mfcc,
    "imagenet": _imagenet,
    "egemaps": _egemaps,
    "logmel": _logmel,
    "vggish": _vggish,
    "whisper": _whisper,
    "yamnet": _yamnet,
}


def create(name: str, **options) -> Backbone:
    """Build a backbone by registry name, e.g. ``create("whisper", size="tiny.en", layer=-1)``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](**options)


__all__ = ["Backbone", "REGISTRY", "create"]
