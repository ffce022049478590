"""CREMA-D (Cao et al. 2014): ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor, sentence, emotion, level.
Gender from ``VideoDemographics.csv`` when it is present beside ``AudioWAV``."""
from __future__ import annotations

import re

import pandas as pd

from segser.training.corpora.base import CorpusError, audio_files, build, check_root

EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
DEFAULT_PROTOCOL = "speaker-kfold:5"


def _genders(root) -> dict:
    for csv in list(root.glob("VideoDemographics.csv")) + list(root.parent.glob("VideoDemographics.csv")):
        demo = pd.read_csv(csv)
        return {str(a): str(s).lower() for a, s in zip(demo["ActorID"], demo["Sex"])}
    return {}


def load(root):
    root = check_root(root, "CREMA-D")
    base = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    genders = _genders(root)
    rows, skipped = [], []
    for p in audio_files(base):
        m = NAME.match(p.stem)
        if not m or m.group(3) not in EMOTIONS:
            skipped.append(str(p))
            continue
        actor, sentence, emo, level = m.groups()
        rows.append({"path": p, "label": EMOTIONS[emo], "native_label": emo, "speaker": f"cremad_{actor}",
                     "gender": genders.get(actor), "sentence": sentence, "level": level})
    if not rows:
        raise CorpusError(f"{root}: no CREMA-D files (AudioWAV/1001_DFA_ANG_XX.wav) found")
    return build(rows, corpus="cremad", root=root, skipped=skipped)
