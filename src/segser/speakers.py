"""Speaker adaptation from unlabelled speech: per-speaker statistics.

A model trained with ``speaker_norm`` sees every segment embedding
standardised by its speaker's mean and standard deviation, taken over that
speaker's segments without their labels. This removes much of what differs
between voices, microphones and corpora, which is why it holds up on speech
the model has never heard (see the README's cross-corpus table). At
prediction time it needs several recordings of each speaker, or one long
recording, covering more than one emotion:

>>> groups = speaker_groups(["a.wav", "b.wav"], "all")     # one speaker
>>> groups
{'all inputs': ['a.wav', 'b.wav']}
>>> speaker_groups(["a.wav", "b.wav"], "file")             # a speaker per recording
{'a.wav': ['a.wav'], 'b.wav': ['b.wav']}
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .errors import ConfigError, display_path

# Fewer segments than this give statistics too noisy to normalise with (README: UA against seconds of speech).
MIN_SPEAKER_SEGMENTS = 10
# Bounds the memory one speaker's embeddings take while their statistics are computed (~150 MB at 1920-d).
MAX_SPEAKER_SEGMENTS = 20_000
MAX_TABLE_ROWS = 1_000_000
SPEAKER_MODES = ("all", "file")


def speaker_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (floored) of one speaker's segment embeddings."""
    return X.mean(0), X.std(0) + 1e-5


def speaker_normalise(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Per-speaker z-normalisation from each speaker's own (unlabelled) segments.

    >>> X = np.array([[1.0], [3.0], [10.0], [20.0]])
    >>> speaker_normalise(X, np.array(["a", "a", "b", "b"])).round(3).ravel().tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    out = np.empty_like(X)
    for s in np.unique(speakers):
        m = speakers == s
        mean, std = speaker_statistics(X[m])
        out[m] = (X[m] - mean) / std
    return out


def append_speaker_vectors(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each segment's features plus its speaker's mean features over all that
    speaker's (unlabelled) segments: a speaker vector in the role of 003's i-vectors."""
    means = {s: X[speakers == s].mean(0) for s in np.unique(speakers)}
    return np.concatenate([X, np.stack([means[s] for s in speakers])], axis=1)


def read_speaker_table(path) -> dict[str, str]:
    """``file,speaker`` rows (a header line naming those two columns) -> {real path: speaker}."""
    path = Path(path)
    table: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            if not rows.fieldnames or not {"file", "speaker"} <= set(rows.fieldnames):
                raise ConfigError(f"{display_path(path)}: a speaker table needs a header 'file,speaker' and one row per file")
            for i, row in enumerate(rows, start=2):
                if i - 1 > MAX_TABLE_ROWS:
                    raise ConfigError(f"{display_path(path)}: more than {MAX_TABLE_ROWS:,} rows; split the inputs")
                name, speaker = (row["file"] or "").strip(), (row["speaker"] or "").strip()
                if not name or not speaker:
                    raise ConfigError(f"{display_path(path)}, line {i}: empty file or speaker")
                file = Path(name) if Path(name).is_absolute() else path.parent / name
                key = os.path.realpath(file)
                if table.setdefault(key, speaker) != speaker:
                    raise ConfigError(f"{display_path(path)}, line {i}: {name} is already speaker {table[key]!r}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{display_path(path)}: speaker table unreadable ({exc})") from None
    if not table:
        raise ConfigError(f"{display_path(path)}: a speaker table needs a header 'file,speaker' and one row per file")
    return table


def speaker_groups(files: list[str], speakers) -> dict[str, list[str]]:
    """The input files grouped by speaker, in input order. ``speakers``: ``"all"``
    (every input is one speaker), ``"file"`` (each recording is its own speaker),
    a ``file,speaker`` CSV, or a mapping {file: speaker}."""
    if speakers == "all":
        return {"all inputs": list(files)} if files else {}
    if speakers == "file":
        return {f: [f] for f in files}
    if isinstance(speakers, dict):
        table = {os.path.realpath(k): str(v) for k, v in speakers.items()}
    elif isinstance(speakers, (str, Path)) and Path(speakers).suffix.lower() == ".csv":
        table = read_speaker_table(speakers)
    else:
        raise ConfigError(f"speakers: {speakers!r} is none of {', '.join(SPEAKER_MODES)} or a file,speaker CSV")
    missing = [f for f in files if os.path.realpath(f) not in table]
    if missing:
        raise ConfigError(f"{display_path(missing[0])}: not in the speaker table"
                          + (f" (and {len(missing) - 1} more inputs)" if len(missing) > 1 else ""))
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(table[os.path.realpath(f)], []).append(f)
    return groups
