"""Progress bars only where a person watches: on a terminal. When stderr is a
file or a pipe (a log, CI, ``2> err.txt``) no carriage-return updates are
written, whatever the caller asked for; ``--quiet`` turns them off everywhere.

>>> for x in progress_bar(range(3), desc="files"):  # doctest: +SKIP
...     pass
"""
from __future__ import annotations

import sys

from tqdm.auto import tqdm


def on_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(items, *, desc: str = "", enabled: bool = True, leave: bool = True, minimum: int = 1):
    """``items`` wrapped in a tqdm bar when ``enabled``, stderr is a terminal and there are at least ``minimum`` items."""
    if not enabled or not on_terminal():
        return items
    try:
        if len(items) < minimum:
            return items
    except TypeError:
        pass

    return tqdm(items, desc=desc, leave=leave)
