"""One module per corpus; each ``load(root)`` returns a manifest DataFrame with
columns path, corpus, label (canonical), native_label, speaker, gender,
session, duration (plus corpus-specific extras)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from segser.training.corpora import ased, cremad, emodb, emovo, generic, iemocap, nemo, ravdess, savee, tess
from segser.training.corpora.base import COLUMNS, CorpusError

LOADERS = {
    "emodb": emodb,
    "ravdess": ravdess,
    "nemo": nemo,
    "ased": ased,
    "emovo": emovo,
    "savee": savee,
    "tess": tess,
    "cremad": cremad,
    "iemocap": iemocap,
}

# What each corpus in ../shared/data may be used for (its licence, data/README.md): a model that
# segser ships may be trained only on "ship" corpora; the others evaluate.
SHIPPABLE = {"emodb": "CC0-1.0 (audEERING re-release)", "ravdess": "CC BY-NC-SA 4.0 (non-commercial)",
             "nemo": "CC BY-NC-SA 4.0 (non-commercial)", "emovo": "free for non-commercial research, with acknowledgement"}
EVALUATION_ONLY = {"ased": "no licence stated by its authors", "savee": "research use, registration with the University of Surrey",
                   "tess": "CC BY-NC-ND 4.0 (no derivatives)"}


def load(name: str, root, **options) -> pd.DataFrame:
    """Manifest of corpus ``name`` at ``root``; ``name`` may also be ``csv`` or ``folders``."""
    if name == "csv":
        return generic.load_csv(root, **options)
    if name == "folders":
        return generic.load_folders(root, **options)
    if name not in LOADERS:
        raise CorpusError(f"unknown corpus {name!r}; available: {', '.join([*LOADERS, 'csv', 'folders'])}")
    return LOADERS[name].load(Path(root), **options)


def default_protocol(names: list[str], manifest: pd.DataFrame) -> str:
    """The honest default: the corpus's speaker-independent protocol."""
    if len(names) == 1 and names[0] in LOADERS:
        return LOADERS[names[0]].DEFAULT_PROTOCOL
    n_speakers = manifest["speaker"].nunique() if manifest["speaker"].notna().all() else 0
    return f"speaker-kfold:{min(5, n_speakers)}" if n_speakers >= 3 else "kfold:5"


def summary(df: pd.DataFrame) -> str:
    lines = [f"{len(df)} clips, {df['speaker'].nunique()} speakers, {df['label'].nunique()} classes, "
             f"{df['duration'].sum() / 3600:.3f} h"]
    lines.append("per class:   " + ", ".join(f"{k} {v}" for k, v in df["label"].value_counts().sort_index().items()))
    if df["speaker"].notna().any():
        lines.append("per speaker: " + ", ".join(f"{k} {v}" for k, v in df["speaker"].value_counts().sort_index().items()))
    if df["session"].notna().any():
        lines.append("per session: " + ", ".join(f"{int(k)} {v}" for k, v in df["session"].value_counts().sort_index().items()))
    if df.attrs.get("errors"):
        lines.append(f"unreadable ({len(df.attrs['errors'])}): " + "; ".join(df.attrs["errors"][:5]))
    return "\n".join(lines)


__all__ = ["COLUMNS", "CorpusError", "EVALUATION_ONLY", "LOADERS", "SHIPPABLE", "load", "default_protocol", "summary"]
