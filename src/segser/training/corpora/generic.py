"""Your own data: a CSV (``path,label[,speaker,...]``) or a folder per label."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from segser.training.corpora.base import CorpusError, audio_files, build, check_root
from segser.training.labels import CANONICAL

DEFAULT_PROTOCOL = None  # speaker-kfold if speakers are given, else kfold


def load_csv(path, *, corpus: str = "csv"):
    """Paths are relative to the CSV's folder unless absolute. Labels must be canonical names."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: CSV file does not exist")
    try:
        table = pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise CorpusError(f"{path}: not a readable CSV ({exc})") from None
    for col in ("path", "label"):
        if col not in table.columns:
            raise CorpusError(f"{path}: CSV needs columns path,label[,speaker]; '{col}' is missing")
    unknown = sorted(set(table["label"].dropna()) - set(CANONICAL))
    if unknown:
        raise CorpusError(f"{path}: unknown label(s) {', '.join(unknown)}; use canonical names: {', '.join(CANONICAL)}")
    rows = []
    for rec in table.to_dict("records"):
        p = Path(rec["path"])
        rec["path"] = p if p.is_absolute() else path.parent / p
        rec.setdefault("native_label", rec["label"])
        rows.append(rec)
    return build(rows, corpus=corpus, root=path, strict=True)


def load_folders(root, *, corpus: str = "folders"):
    """``root/<label>/*.wav``; each folder name must be a canonical label."""
    root = check_root(root, "folder-per-label")
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name not in CANONICAL:
            raise CorpusError(f"{d}: folder name is not a canonical label ({', '.join(CANONICAL)})")
        rows += [{"path": p, "label": d.name, "native_label": d.name} for p in audio_files(d)]
    if not rows:
        raise CorpusError(f"{root}: no label folders with audio found")
    return build(rows, corpus=corpus, root=root, strict=True)
