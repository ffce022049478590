"""Typed options: frozen dataclasses built from JSON mappings or ``key=value``
command-line text, checked against their annotations. Unknown keys and values
of the wrong type are a :class:`~segser.errors.ConfigError` naming the key.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Opts:
...     size: str = "tiny.en"
...     layer: int | str = -1
>>> build(Opts, {"layer": "all"})
Opts(size='tiny.en', layer='all')
>>> parse_pairs(Opts, ["layer=3"])
{'layer': 3}
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from functools import lru_cache

from segser.errors import ConfigError

_NONE_TEXT = ("none", "null", "")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@lru_cache(maxsize=None)
def field_types(cls) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _alternatives(annotation) -> tuple:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _describe(annotation) -> str:
    names = []
    for a in _alternatives(annotation):
        if a is type(None):
            names.append("null")
        elif typing.get_origin(a) in (tuple, list):
            names.append(f"list of {_describe(typing.get_args(a)[0])}")
        else:
            names.append(getattr(a, "__name__", str(a)))
    return " or ".join(names)


def convert(value, annotation, *, where: str):
    """``value`` (from JSON) as ``annotation`` says, or ConfigError."""
    for alt in _alternatives(annotation):
        ok, out = _try(value, alt, where)
        if ok:
            return out
    raise ConfigError(f"{where} must be {_describe(annotation)} (got {value!r})")


def _try(value, alt, where):
    origin = typing.get_origin(alt)
    if alt is type(None):
        return value is None, None
    if alt is typing.Any:
        return True, value
    if alt is bool:
        return isinstance(value, bool), value
    if alt is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if alt is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(value, (int, float)) else value
    if alt is str:
        if isinstance(value, os.PathLike):  # paths given from Python are kept as text
            return True, os.fspath(value)
        return isinstance(value, str), value
    if origin in (tuple, list) or alt in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, None
        inner = typing.get_args(alt)[0] if typing.get_args(alt) else typing.Any
        return True, tuple(convert(v, inner, where=f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or alt is dict:
        return isinstance(value, dict), dict(value) if isinstance(value, dict) else None
    if dataclasses.is_dataclass(alt):
        if isinstance(value, alt):
            return True, value
        if isinstance(value, dict):
            return True, build(alt, value, where=where)
        return False, None
    return isinstance(value, alt), value


def build(cls, mapping, *, where: str | None = None):
    """An instance of dataclass ``cls`` from a mapping; unknown keys are refused."""
    where = where or cls.__name__
    if isinstance(mapping, cls):
        return mapping
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where} must be a mapping of options (got {mapping!r})")
    types_ = field_types(cls)
    unknown = sorted(set(mapping) - set(types_))
    if unknown:
        raise ConfigError(f"{where}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(types_)}")
    values = {k: convert(v, types_[k], where=f"{where}.{k}") for k, v in mapping.items()}
    return cls(**values)


def parse_text(text: str, annotation, *, where: str):
    """Command-line text as ``annotation`` says: no JSON quoting needed
    (``layer=all``, ``layer=3``, ``snrs=15,20``, ``weights=none``)."""
    errors = []
    for alt in sorted(_alternatives(annotation), key=_text_priority):
        try:
            return _parse_one(text, alt)
        except (ValueError, TypeError) as exc:
            errors.append(str(exc))
    raise ConfigError(f"{where} must be {_describe(annotation)} (got {text!r})")


def _text_priority(alt) -> int:  # None first (for 'none'), then numbers, then bool, then str
    order = {type(None): 0, int: 1, float: 2, bool: 3}
    return order.get(alt, 5 if alt is str else 4)


def _parse_one(text: str, alt):
    low = text.strip().lower()
    if alt is type(None):
        if low in _NONE_TEXT:
            return None
        raise ValueError
    if alt is bool:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError
    if alt is int:
        return int(text)
    if alt is float:
        return float(text)
    if alt is str:
        return text
    if typing.get_origin(alt) in (tuple, list):
        inner = typing.get_args(alt)[0]
        return tuple(_parse_one(t.strip(), inner) for t in text.split(",") if t.strip())
    raise ValueError


def parse_pairs(cls, pairs, *, where: str | None = None) -> dict:
    """``["key=value", ...]`` -> typed values for the fields of ``cls``."""
    where = where or cls.__name__
    types_ = field_types(cls)
    out = {}
    for item in pairs or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{where}: expected KEY=VALUE, got {item!r}")
        if key not in types_:
            raise ConfigError(f"{where}: unknown option {key!r}; known: {', '.join(types_)}")
        out[key] = parse_text(text, types_[key], where=f"{where}.{key}")
    return out


def as_dict(obj) -> dict:
    """A dataclass as a JSON-ready dict (tuples become lists)."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(obj)
