"""nEMO (Christop 2024), Polish acted emotional speech: ``SPK_emotion_N.wav`` (flat),
with ``data.tsv`` (speaker gender and age). 9 speakers; the same sentences recur
across speakers, so splits go by speaker. Licence CC BY-NC-SA 4.0."""
from __future__ import annotations

import re

import pandas as pd

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"anger": "angry", "fear": "fear", "happiness": "happy", "neutral": "neutral", "sadness": "sad",
            "surprised": "surprise"}
NAME = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")
DEFAULT_PROTOCOL = "loso"


def _genders(root) -> dict:
    tsv = root / "data.tsv"
    if not tsv.exists():
        return {}
    table = pd.read_csv(tsv, sep="\t", dtype=str)
    return {s.strip(): g.strip() for s, g in zip(table["speaker_id"], table["gender"]) if isinstance(g, str)}


def load(root):
    root = check_root(root, "nEMO")
    genders = _genders(root)

    def parse(p):
        m = NAME.match(p.stem)
        if not m or m.group(2) not in EMOTIONS:
            return None
        spk, emo, _ = m.groups()
        return {"label": EMOTIONS[emo], "native_label": emo, "speaker": f"nemo_{spk}", "gender": genders.get(spk)}

    rows, skipped = parse_files(audio_files(root), parse)
    if not rows:
        raise CorpusError(f"{root}: no nEMO files (names like EB0_anger_1.wav) found")
    return build(rows, corpus="nemo", root=root, skipped=skipped)
