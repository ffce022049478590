"""Pretrained (or identity) backbones behind one interface, and their registry.

Adding a backbone is one module (a class with a config dataclass) and one line
in :data:`REGISTRY` (module, class); modules are imported only when used.
"""
from __future__ import annotations

import importlib

from segser.errors import ConfigError

REGISTRY = {
    "logmel": ("logmel", "LogMelPatch"),
    "vggish": ("vggish", "VGGish"),
    "whisper": ("whisper", "Whisper"),
    "yamnet": ("yamnet", "YAMNet"),
    "imagenet": ("imagenet", "ImageNetCNN"),
    "egemaps": ("egemaps", "EGeMAPS"),
    "mfcc": ("mfcc", "MFCCFrames"),
}


# The backbones that run on the ONNX runtime, and the kind of exported encoder each becomes
# (segser.runtime.export writes it, segser.runtime.onnx runs it): the one list of what exports.
EXPORT_KINDS = {"whisper": "whisper", "vggish": "patches", "yamnet": "patches", "logmel": "logmel", "mfcc": "mfcc"}


def backbone_class(name: str):
    if name not in REGISTRY:
        raise ConfigError(f"unknown backbone {name!r}; available: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def create(name: str, **options):
    """Build a backbone by registry name, e.g. ``create("whisper", size="tiny.en", layer=-1)``;
    options are checked against the backbone's config dataclass."""
    return backbone_class(name)(**options)


__all__ = ["Backbone", "EXPORT_KINDS", "REGISTRY", "backbone_class", "create"]


def __getattr__(attr):  # the Backbone base class (torch) on first use
    if attr == "Backbone":
        from segser.encoders.backbones.base import Backbone

        return Backbone
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
