"""How confident must a clip decision be to be shown as an emotion? (issue 43: a six-class decision at 0.21 is
barely above chance and should read ``uncertain``.)

The built-in models on the corpora they never trained on (ASED, SAVEE, TESS; Opus-compressed copies), each clip
predicted alone and unadapted as a new user's single recording is, its decision by the default rule (the softmax
of the mean logit at the model's temperature). For a minimum of ``m`` times chance (1 / classes) it reports the
share of clips that keep an emotion (coverage), the accuracy and UA of the decisions kept, and of those dropped.

    python benchmarks/clip_confidence.py

Writes benchmarks/results/clip-confidence.json.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.model import load_model  # noqa: E402
from segser.results.timeline import clip_decision  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.data import embed_manifest  # noqa: E402
from segser.training.metrics import classification_metrics  # noqa: E402

MODELS = {"default": "shared6", "default-4class": "4class"}
CORPORA = ("ased", "savee", "tess")
MULTIPLES = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


def decisions(model, label_set: str, corpus: str):
    """(true class index, decided class index, decision probability) of every clip of ``corpus``."""
    m, _ = labelsets.apply(corpora.load(corpus, data_dir() / corpus), label_set)
    m = m[m["label"].isin(model.classes)].reset_index(drop=True)
    emb = embed_manifest(m, model.encoder, model.segmentation, progress=False)
    logits = model.logits(emb.X)
    voiced = emb.speech >= model.speech_gate
    y, pred, score = [], [], []
    for c in np.unique(emb.clip):
        rows = (emb.clip == c) & voiced
        if not rows.any():
            continue
        d = clip_decision(logits[rows], model.classes, temperature=model.temperature)
        y.append(model.classes.index(m.loc[c, "label"]))
        pred.append(model.classes.index(d.label))
        score.append(d.score)
    return np.array(y), np.array(pred), np.array(score)


def main():
    figures = {"models": {}, "multiples": list(MULTIPLES), "corpora": list(CORPORA)}
    for name, label_set in MODELS.items():
        model = load_model(name, runtime="torch")
        k = len(model.classes)
        per = {c: decisions(model, label_set, c) for c in CORPORA}
        rows = {}
        for mult in MULTIPLES:
            floor = mult / k
            row = {"floor": floor}
            for c, (y, pred, score) in per.items():
                kept = score >= floor
                row[c] = {"coverage": float(kept.mean()),
                          "accuracy_kept": float((pred[kept] == y[kept]).mean()) if kept.any() else None,
                          "accuracy_dropped": float((pred[~kept] == y[~kept]).mean()) if (~kept).any() else None,
                          "UA_kept": classification_metrics(y[kept], pred[kept], k)["UA"] if kept.any() else None}
            row["mean_coverage"] = float(np.mean([row[c]["coverage"] for c in CORPORA]))
            row["mean_accuracy_kept"] = float(np.mean([row[c]["accuracy_kept"] for c in CORPORA]))
            rows[f"{mult:g}"] = row
            print(name, mult, round(row["mean_coverage"], 3), round(row["mean_accuracy_kept"], 3), flush=True)
        figures["models"][name] = {"classes": model.classes, "label_set": label_set, "rows": rows,
                                   "accuracy_all": {c: float((p == y).mean()) for c, (y, p, _) in per.items()},
                                   "clips": {c: int(len(y)) for c, (y, _, _) in per.items()}}
    save("clip-confidence", figures)


if __name__ == "__main__":
    main()
