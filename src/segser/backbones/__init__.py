"""Pretrained (or identity) backbones behind one interface, and their registry.

Adding a backbone is one module and one line in :data:`REGISTRY` (module, class);
modules are imported only when their backbone is built.
"""
from __future__ import annotations

import importlib

from .base import Backbone

REGISTRY = {
    "logmel": ("logmel", "LogMelPatch"),
    "vggish": ("vggish", "VGGish"),
    "whisper": ("whisper", "Whisper"),
    "yamnet": ("yamnet", "YAMNet"),
    "imagenet": ("imagenet", "ImageNetCNN"),
    "egemaps": ("egemaps", "EGeMAPS"),
    "mfcc": ("mfcc", "MFCCFrames"),
}


def create(name: str, **options) -> Backbone:
    """Build a backbone by registry name, e.g. ``create("whisper", size="tiny.en", layer=-1)``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(REGISTRY))}")
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**options)


__all__ = ["Backbone", "REGISTRY", "create"]
