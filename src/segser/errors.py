"""What can go wrong that the user can fix: one base class, one kind per cause.

The command line prints a :class:`SegserError` as one line and exits with
status 2 (a traceback only with ``--debug``); the service turns it into a 4xx.
"""
from __future__ import annotations

import math
import os


class SegserError(Exception):
    """A problem with the input, an option or the environment, stated for the user."""


class ConfigError(SegserError, ValueError):
    """An option, config file or parameter that is missing, unknown or out of range."""


class AudioError(SegserError, ValueError):
    """A file (or stream) that cannot be used as audio; ``str()`` names it and the problem."""

    def __init__(self, path, problem: str):
        self.path = display_path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class LimitExceeded(AudioError):
    """Audio longer (or giving more segments) than a configured limit allows."""


def audio_error_class(name: str | None) -> type[AudioError]:
    """The AudioError subclass called ``name`` (what a batch's FileResult keeps of its error), else AudioError.

    >>> audio_error_class("LimitExceeded").__name__, audio_error_class(None).__name__
    ('LimitExceeded', 'AudioError')
    """
    todo, seen = [AudioError], []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo += cls.__subclasses__()
    return next((c for c in seen if c.__name__ == name), AudioError)


class CorpusError(SegserError, ValueError):
    pass


class LabelError(SegserError, ValueError):
    pass


class ProtocolError(SegserError, ValueError):
    pass


class ModelError(SegserError, ValueError):
    pass


class WeightsNotFound(SegserError, FileNotFoundError):
    pass


def display_path(path) -> str:
    """A path as printable text: undecodable bytes in a file name become
    ``\\xNN`` escapes instead of breaking a terminal or a JSON encoder."""
    text = os.fspath(path) if not isinstance(path, str) else path
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_number(name: str, value, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 integer: bool = False, unit: str = ""):
    """``value`` as a finite number within bounds, or :class:`ConfigError` naming ``name``.

    >>> check_number("hop", 0.5, lo=0.05, hi=60, unit="s")
    0.5
    """
    kind = "an integer" if integer else "a finite number"
    bounds = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}]" if lo is not None and hi is not None else (
        f" >= {lo:g}" if lo is not None else (f" <= {hi:g}" if hi is not None else ""))
    text = f"{name} must be {kind}{bounds}{(' ' + unit) if unit else ''} (got {shown(value)})"
    if isinstance(value, (bool, str, bytes)):
        raise ConfigError(text)
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ConfigError(text) from None
    if integer and number != float(value):
        raise ConfigError(text)
    if not math.isfinite(number) or (lo is not None and (number <= lo if lo_open else number < lo)) \
            or (hi is not None and number > hi):
        raise ConfigError(text)
    return number


def shown(value, limit: int = 40) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (a hostile value can be megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))} (got {shown(value)})")
    return value
