"""Returning freed memory to the system: streaming thousands of blocks fragments glibc's heap, and a server's
many request threads each get a malloc arena; both inflate RSS unless trimmed and bounded."""
from __future__ import annotations

import ctypes


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


_LIBC = _libc()


def trim_heap() -> None:
    """glibc's malloc_trim (a no-op elsewhere): return free pages every few blocks, so peak RSS stays flat with a
    recording's length."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Few malloc arenas keep a many-threaded server's memory flat (no-op elsewhere)."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(-8, arenas)  # M_ARENA_MAX
