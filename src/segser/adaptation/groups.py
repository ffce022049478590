"""Which inputs share a speaker: ``all`` (every input is one speaker), ``file`` (each recording its own), a
``file,speaker`` table or a mapping {file: speaker}; ``auto`` finds the speakers inside each recording instead
(:mod:`segser.diarization`).

>>> speaker_groups(["a.wav", "b.wav"], "all")
{'all inputs': ['a.wav', 'b.wav']}
>>> speaker_groups(["a.wav", "b.wav"], "file")
{'a.wav': ['a.wav'], 'b.wav': ['b.wav']}
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from segser.errors import ConfigError, display_path

MAX_TABLE_ROWS = 1_000_000
SPEAKER_MODES = ("all", "file", "auto")



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
                if key in table:  # the same speaker twice is as much a mistake in the table as another speaker
                    raise ConfigError(f"{display_path(path)}, line {i}: {name} is listed twice (speaker {table[key]!r}); "
                                      "give each file once")
                table[key] = speaker
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{display_path(path)}: speaker table unreadable ({exc})") from None
    if not table:
        raise ConfigError(f"{display_path(path)}: a speaker table needs a header 'file,speaker' and one row per file")
    return table


def speaker_groups(files: list[str], speakers) -> dict[str, list[str]]:
    """The input files grouped by speaker, in input order. ``speakers``: ``"all"``
    (every input is one speaker), ``"file"`` (each recording is its own speaker),
    a ``file,speaker`` CSV, or a mapping {file: speaker} (checked by :func:`segser.adaptation.policy.plan_for`)."""
    if speakers == "all":
        return {"all inputs": list(files)} if files else {}
    if speakers == "file":
        return {f: [f] for f in files}
    if isinstance(speakers, dict):
        table = {os.path.realpath(k): str(v) for k, v in speakers.items()}
    else:
        table = read_speaker_table(speakers)
    missing = [f for f in files if os.path.realpath(f) not in table]
    if missing:
        raise ConfigError(f"{display_path(missing[0])}: not in the speaker table"
                          + (f" (and {len(missing) - 1} more inputs)" if len(missing) > 1 else ""))
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(table[os.path.realpath(f)], []).append(f)
    return groups

