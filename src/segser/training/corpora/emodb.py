"""EmoDB (Burkhardt et al. 2005): ``wav/03a01Fa.wav`` = speaker 03, text a01, emotion F, version a."""
from __future__ import annotations

import re

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
MALE = {"03", "10", "11", "12", "15"}
NAME = re.compile(r"^(\d\d)([a-b]\d\d)([WLEAFTN])([a-z])$")
DEFAULT_PROTOCOL = "loso"


def _parse(p):
    m = NAME.match(p.stem)
    if not m:
        return None
    spk, text, emo, _ = m.groups()
    return {"label": EMOTIONS[emo], "native_label": emo, "speaker": f"emodb_{spk}",
            "gender": "male" if spk in MALE else "female", "text": text}


def load(root):
    root = check_root(root, "EmoDB")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no EmoDB files (names like 03a01Fa.wav) found")
    return build(rows, corpus="emodb", root=root, skipped=skipped)
