"""ASED v1 (Retta et al. 2022), Amharic: ``01Neutral/n1-01-01-01-01.wav`` = emotion
letter + folder number, sentence, repetition, gender (01 female, 02 male),
speaker. A few speaker numbers occur with both gender codes: speakers are
grouped by number. No licence is stated by its authors: evaluation only."""
from __future__ import annotations

import re

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"n": "neutral", "f": "fear", "h": "happy", "s": "sad", "a": "angry"}
NAME = re.compile(r"^([nfhsa])(\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$", re.IGNORECASE)  # one file is named S4-...
DEFAULT_PROTOCOL = "speaker-kfold:5"


def _parse(p):
    m = NAME.match(p.stem)
    if not m:
        return None
    emo, _folder, sentence, repetition, gender, speaker = m.groups()
    return {"label": EMOTIONS[emo.lower()], "native_label": p.parent.name, "speaker": f"ased_{speaker}",
            "gender": {"01": "female", "02": "male"}.get(gender), "sentence": sentence, "repetition": repetition}


def load(root):
    root = check_root(root, "ASED")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no ASED files (01Neutral/n1-01-01-01-01.wav) found")
    return build(rows, corpus="ased", root=root, skipped=skipped)
