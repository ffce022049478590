"""Classifier heads on top of backbone embeddings (paper 001 section 4.3).

The registry and option checks here need no PyTorch; the modules themselves
(:mod:`segser.heads.modules`) are imported when a head is built.
"""
from __future__ import annotations

import importlib
import inspect

from segser.errors import ConfigError, check_number
from segser.options import parse_text

HEAD_CLASSES = {"segment": "SegmentClassifier", "mlp": "BaselineMLP", "linear": "Linear", "layersum": "LayerWeightedSum",
                "tdnn": "TDNN", "efficientnet_tail": "EfficientNetTail", "svm": "SVMHead"}
HEADS = HEAD_CLASSES  # the names, in the registry's order
MAX_ENSEMBLE = 16  # heads in one seed ensemble (TrainConfig.ensemble; model.pt's "members")


def head_class(name: str):
    if name not in HEAD_CLASSES:
        raise ConfigError(f"unknown head {name!r}; available: {', '.join(HEAD_CLASSES)}")
    return getattr(_modules(), HEAD_CLASSES[name])


def head_options(name: str) -> dict[str, object]:
    """The options a head takes (keyword, default), from its constructor."""
    params = inspect.signature(head_class(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k not in ("self", "in_dim", "n_classes", "class_weight")
            and p.kind is p.POSITIONAL_OR_KEYWORD}


def check_head(name: str, options: dict) -> dict:
    """``options`` for head ``name``: unknown keys refused, numbers range-checked."""
    known = head_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"head {name!r}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(known) or 'none'}")
    for key, value in options.items():
        if key in ("hidden", "units", "channels", "layers", "n_layers", "n_features", "tail_blocks"):
            check_number(f"head {key}", value, lo=1, hi=100_000, integer=True)
        elif key in ("dropout",):
            check_number(f"head {key}", value, lo=0.0, hi=0.99)
        elif key == "C":
            check_number("svm C", value, lo=1e-6, hi=1e6)
    return options


def parse_head_options(name: str, pairs) -> dict:
    """``["hidden=200", "dropout=0.1"]`` -> typed, checked options (no JSON quoting)."""

    out = {}
    for item in pairs or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"head option: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_text(text, int | float | bool | None | str, where=f"head option {key.strip()}")
    return check_head(name, out)


def create(name: str, in_dim: int, n_classes: int, **options):
    return _modules().create(name, in_dim, n_classes, **options)


def _modules():
    return importlib.import_module(f"{__name__}.modules")


def __getattr__(attr):  # EmotionHead, SVMHead, ... from the torch modules, on first use
    if attr.startswith("__") or attr == "modules":
        raise AttributeError(attr)
    try:
        return getattr(_modules(), attr)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}") from None
