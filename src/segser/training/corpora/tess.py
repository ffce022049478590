"""TESS (Toronto emotional speech set): two female speakers (OAF older, YAF
younger) saying "Say the word ..." with 200 target words in 7 emotions.
Layouts: flat ``OAF_back_angry.wav`` or as published, a folder per speaker
and emotion (``OAF_angry/OAF_back_angry.wav``, ``YAF_pleasant_surprised/...``)."""
from __future__ import annotations

import re

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
            "sad": "sad", "ps": "surprise", "pleasant_surprise": "surprise", "pleasant_surprised": "surprise"}
NAME = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)$", re.IGNORECASE)
DEFAULT_PROTOCOL = "loso"  # two speakers: train on one voice, test on the other


def _parse(p):
    m = NAME.match(p.stem)
    if not m or m.group(3).lower() not in EMOTIONS:
        return None
    spk, word, emo = m.groups()
    return {"label": EMOTIONS[emo.lower()], "native_label": emo, "speaker": f"tess_{spk.upper()}", "gender": "female",
            "word": word.lower()}


def load(root):
    root = check_root(root, "TESS")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no TESS files (OAF_back_angry.wav, flat or in OAF_angry/ folders) found")
    return build(rows, corpus="tess", root=root, skipped=skipped)
