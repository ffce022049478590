"""IEMOCAP (Busso et al. 2008): ``Session1..5/sentences/wav/<dialog>/<utt>.wav`` with
labels from ``Session*/dialog/EmoEvaluation/<dialog>.txt`` lines such as
``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``.

``subset="4class"`` is paper 001's set: angry, happy (+ excited), sad, neutral,
5531 utterances on the full corpus; ``improvised=True`` keeps improvised
dialogs only (paper 002's AHSN/AESN sets). Speakers are ``Ses01F``-style ids;
sessions 1-5 serve leave-one-session-out.
"""
from __future__ import annotations

import re
from pathlib import Path

from segser.training.corpora.base import CorpusError, build, check_root

EMOTIONS = {"ang": "angry", "hap": "happy", "exc": "excited", "sad": "sad", "neu": "neutral", "fru": "frustrated",
            "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other", "xxx": None}
LINE = re.compile(r"^\[(\d+\.\d+)\s*-\s*(\d+\.\d+)\]\s+(Ses\d\d[MF]_\S+)\s+(\w+)\s+\[")
FULL_4CLASS = 5531
DEFAULT_PROTOCOL = "loso-session"


def load(root, *, subset: str | None = "4class", improvised: bool = False, expect: int | None = None):
    """``expect`` checks the utterance count (default 5531 for the full 4-class
    set); pass ``expect=0`` to skip the check on partial copies."""
    root = check_root(root, "IEMOCAP")
    sessions = sorted(d for d in root.glob("Session[1-5]") if d.is_dir())
    if not sessions:
        raise CorpusError(f"{root}: no Session1..Session5 folders; not an IEMOCAP root")
    rows = []
    for sdir in sessions:
        evals = sorted((sdir / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not evals:
            raise CorpusError(f"{sdir}: no dialog/EmoEvaluation/*.txt label files")
        for ev in evals:
            dialog = ev.stem
            if improvised and "_impro" not in dialog:
                continue
            for line in ev.read_text(errors="replace").splitlines():
                m = LINE.match(line.strip())
                if not m:
                    continue
                start, end, utt, code = m.groups()
                label = EMOTIONS.get(code)
                if label is None:
                    continue
                if subset == "4class":
                    if label == "excited":
                        label = "happy"
                    if label not in ("angry", "happy", "sad", "neutral"):
                        continue
                wav = sdir / "sentences" / "wav" / dialog / f"{utt}.wav"
                session = int(utt[3:5])
                spk_letter = utt.split("_")[-1][0]
                rows.append({"path": wav, "label": label, "native_label": code, "speaker": f"Ses{session:02d}{spk_letter}",
                             "gender": "female" if spk_letter == "F" else "male", "session": session,
                             "dialog": dialog, "improvised": "_impro" in dialog})
    if not rows:
        raise CorpusError(f"{root}: no labelled utterances found in EmoEvaluation files")
    missing = [r["path"] for r in rows if not Path(r["path"]).exists()]
    if missing:
        raise CorpusError(f"{root}: {len(missing)} labelled utterances have no wav, e.g. {missing[0]}")
    df = build(rows, corpus="iemocap", root=root)
    if expect is None:
        expect = FULL_4CLASS if (subset == "4class" and not improvised and len(sessions) == 5) else 0
    if expect and len(df) != expect:
        raise CorpusError(f"{root}: IEMOCAP gave {len(df)} utterances, expected {expect} "
                          f"(incomplete copy? pass expect=0 to accept it)")
    return df
