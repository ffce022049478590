"""Shared manifest building: every corpus loader returns one pandas table."""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from segser.errors import AudioError, CorpusError
from segser.io.audio import AUDIO_SUFFIXES, info

COLUMNS = ["path", "corpus", "label", "native_label", "speaker", "gender", "session", "duration"]


def check_root(root, corpus: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise CorpusError(f"{root}: {corpus} root does not exist")
    if not root.is_dir():
        raise CorpusError(f"{root}: {corpus} root is not a directory")
    return root


def audio_files(root: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


IGNORE = object()  # a parser's answer for files of the corpus that are not used (e.g. RAVDESS song)


def parse_files(files, parse) -> tuple[list[dict], list[str]]:
    """Rows for the files ``parse(path)`` understands (a dict); ``None`` marks a
    name not in the corpus layout (reported as skipped), :data:`IGNORE` a file
    left out on purpose."""
    rows, skipped = [], []
    for p in files:
        row = parse(p)
        if row is None:
            skipped.append(str(p))
        elif row is not IGNORE:
            rows.append({"path": p, **row})
    return rows, skipped


def build(rows: list[dict], *, corpus: str, root: Path, skipped: list[str] | None = None, strict: bool = False) -> pd.DataFrame:
    """Rows -> manifest with durations. Unreadable files are left out and
    listed in ``df.attrs["errors"]`` (and warned about); with ``strict`` (files
    the user listed, e.g. a CSV) any unreadable file is a :class:`CorpusError`."""
    errors = []
    kept = []
    for r in rows:
        try:
            r["duration"] = info(r["path"]).duration
        except AudioError as exc:
            errors.append(str(exc))
            continue
        r.setdefault("corpus", corpus)
        for c in COLUMNS:
            r.setdefault(c, None)
        r["path"] = str(r["path"])
        kept.append(r)
    if strict and errors:
        raise CorpusError(f"{root}: {len(errors)} listed file(s) cannot be used: " + "; ".join(errors[:5]))
    if not kept:
        raise CorpusError(f"{root}: no usable {corpus} files found"
                          + (f" ({len(errors)} unreadable, first: {errors[0]})" if errors else "")
                          + (f"; names not in the {corpus} layout, e.g. {skipped[0]}" if skipped else ""))
    df = pd.DataFrame(kept)[COLUMNS + [c for c in kept[0] if c not in COLUMNS]]
    if errors:
        warnings.warn(f"{corpus}: {len(errors)} unreadable file(s) skipped, e.g. {errors[0]}", stacklevel=2)
    df.attrs["errors"] = errors
    df.attrs["skipped"] = skipped or []
    return df
