"""SAVEE (Haq & Jackson 2009): 4 male speakers DC, JE, JK, KL; ``DC_a01.wav`` (flat)
or ``AudioData/DC/a01.wav`` (as released). Codes a d f h n sa su."""
from __future__ import annotations

import re

from segser.training.corpora.base import CorpusError, audio_files, build, check_root, parse_files

EMOTIONS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprise"}
SPEAKERS = {"DC", "JE", "JK", "KL"}
FLAT = re.compile(r"^(DC|JE|JK|KL)_(a|d|f|h|n|sa|su)(\d\d)$")
NESTED = re.compile(r"^(a|d|f|h|n|sa|su)(\d\d)$")
DEFAULT_PROTOCOL = "loso"


def _parse(p):
    m = FLAT.match(p.stem)
    if m:
        spk, code = m.group(1), m.group(2)
    elif NESTED.match(p.stem) and p.parent.name in SPEAKERS:
        spk, code = p.parent.name, NESTED.match(p.stem).group(1)
    else:
        return None
    return {"label": EMOTIONS[code], "native_label": code, "speaker": f"savee_{spk}", "gender": "male"}


def load(root):
    root = check_root(root, "SAVEE")
    rows, skipped = parse_files(audio_files(root), _parse)
    if not rows:
        raise CorpusError(f"{root}: no SAVEE files (DC_a01.wav or DC/a01.wav) found")
    return build(rows, corpus="savee", root=root, skipped=skipped)
