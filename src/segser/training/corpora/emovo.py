"""EMOVO (Costantini et al. 2014), Italian: ``f1/dis-f1-b1.wav`` = emotion code,
speaker (f1-f3 female, m1-m3 male), sentence. Codes: dis disgust, gio joy,
neu neutral, pau fear, rab anger, sor surprise, tri sadness."""
from __future__ import annotations

import re

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fear", "rab": "angry", "sor": "surprise",
            "tri": "sad"}
NAME = re.compile(r"^(dis|gio|neu|pau|rab|sor|tri)-([fm][123])-(\w+)$")
DEFAULT_PROTOCOL = "loso"


def _parse(p):
    m = NAME.match(p.stem)
    if not m:
        return None
    code, spk, sentence = m.groups()
    return {"label": EMOTIONS[code], "native_label": code, "speaker": f"emovo_{spk}",
            "gender": "female" if spk.startswith("f") else "male", "sentence": sentence}


def load(root):
    root = check_root(root, "EMOVO")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no EMOVO files (f1/dis-f1-b1.wav) found")
    return build(rows, corpus="emovo", root=root, skipped=skipped)
