"""TESS (Toronto emotional speech set): folders ``OAF_angry``, ``YAF_pleasant_surprised`` ...,
two female speakers (OAF older, YAF younger), 7 emotions."""
from __future__ import annotations

import re

from .base import CorpusError, audio_files, build, check_root

EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
            "sad": "sad", "pleasant_surprise": "surprise", "pleasant_surprised": "surprise", "ps": "surprise"}
FOLDER = re.compile(r"^(OAF|YAF)_(.+)$", re.IGNORECASE)
DEFAULT_PROTOCOL = "kfold:5"  # two speakers only: speaker folds would test one voice


def load(root):
    root = check_root(root, "TESS")
    rows, skipped = [], []
    for p in audio_files(root):
        m = FOLDER.match(p.parent.name)
        emo = m.group(2).lower().replace(" ", "_") if m else None
        if emo not in EMOTIONS:
            skipped.append(str(p))
            continue
        rows.append({"path": p, "label": EMOTIONS[emo], "native_label": m.group(2), "speaker": f"tess_{m.group(1).upper()}",
                     "gender": "female", "word": p.stem.split("_")[1] if p.stem.count("_") >= 2 else None})
    if not rows:
        raise CorpusError(f"{root}: no TESS folders (OAF_angry/, YAF_sad/ ...) with audio found")
    return build(rows, corpus="tess", root=root, skipped=skipped)
