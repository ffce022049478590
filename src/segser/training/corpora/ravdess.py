"""RAVDESS speech (Livingstone & Russo 2018): ``Actor_XX/03-01-EE-II-SS-RR-AA.wav``.

Only audio-only speech files (modality 03, vocal channel 01) are read. Licence
CC BY-NC-SA 4.0: anything trained on it is for non-commercial use.
"""
from __future__ import annotations

import re

from segser.training.corpora.base import IGNORE, CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
            "07": "disgust", "08": "surprise"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
DEFAULT_PROTOCOL = "groups:1-4,5-8,9-12,13-16,17-20,21-24"


def _parse(p):
    m = NAME.match(p.stem)
    if not m:
        return None
    modality, channel, emo, intensity, statement, rep, actor = m.groups()
    if channel != "01" or modality not in ("01", "03") or emo not in EMOTIONS:
        return IGNORE  # song, video-only, or not speech
    return {"label": EMOTIONS[emo], "native_label": emo, "speaker": f"ravdess_{actor}",
            "gender": "male" if int(actor) % 2 else "female", "intensity": int(intensity),
            "statement": int(statement), "actor": int(actor)}


def load(root):
    root = check_root(root, "RAVDESS")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no RAVDESS speech files (Actor_XX/03-01-EE-II-SS-RR-AA.wav) found")
    return build(rows, corpus="ravdess", root=root, skipped=skipped)
