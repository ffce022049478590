"""Why did the six-class ``default`` lose TESS between v3 and v4 (issue 42: 0.546 -> 0.384), and what did v5 change?

The built-in versions of ``default`` (six classes) and ``default-4class`` on the corpora they never trained on (ASED,
SAVEE, TESS: Opus-compressed copies), each clip alone and unadapted, under the gates each could run with (0: every
segment votes; 0.2: the shipped gate), with per-class recall and the confusion of every decision. v3 and v4 are read
from the git history (commits 505d470 and 6abf374, where each was shipped; v3 and v4 differ only in their training:
v4 was retrained under the tail rule and the speech gate, which changed which segments it learnt from); v5 is the
model in the working tree where it changed (benchmarks/default_candidates.py).

    python benchmarks/default_drop.py

Writes benchmarks/results/default-drop.json.
"""
import subprocess
import sys
import tempfile
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

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = {"v3": "505d470", "v4": "6abf374", "v5": None}  # None: the working tree
MODELS = {"default": "shared6", "default-4class": "4class"}
CORPORA = ("ased", "savee", "tess")
GATES = (0.0, 0.2)


def model_at(name: str, commit: str | None, folder: Path):
    if commit is None:
        return load_model(name, runtime="torch")
    folder.mkdir(parents=True)
    for f in ("model.pt", "config.json", "card.json", "model.pt.sha256"):
        data = subprocess.run(["git", "show", f"{commit}:src/segser/models/{name}/{f}"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        (folder / f).write_bytes(data)
    return load_model(folder, runtime="torch")


def decisions(model, label_set: str, corpus: str, gate: float):
    m, _ = labelsets.apply(corpora.load(corpus, data_dir() / corpus), label_set)
    m = m[m["label"].isin(model.classes)].reset_index(drop=True)
    emb = embed_manifest(m, model.encoder, model.segmentation, progress=False)
    logits, voiced = model.logits(emb.X), emb.speech >= gate
    y, pred, spoken = [], [], []
    for c in np.unique(emb.clip):
        rows = (emb.clip == c) & voiced
        y.append(model.classes.index(m.loc[c, "label"]))
        pred.append(model.classes.index(clip_decision(logits[rows], model.classes).label) if rows.any() else -1)
        spoken.append(float(emb.speech[emb.clip == c].mean()))
    return np.array(y), np.array(pred), np.array(spoken)


def main():
    figures = {"versions": VERSIONS, "corpora": list(CORPORA), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for builtin, label_set in MODELS.items():
            shipped = {}
            for version, commit in VERSIONS.items():
                model = model_at(builtin, commit, Path(tmp) / f"{builtin}-{version}")
                digest = model.card.get("sha256")
                if digest in shipped.values():  # this version did not change the model
                    continue
                shipped[version] = digest
                classes = model.classes
                for gate in GATES:
                    row = {}
                    for corpus in CORPORA:
                        y, pred, spoken = decisions(model, label_set, corpus, gate)
                        present = [k for k in range(len(classes)) if np.any(y == k)]
                        confusion = {classes[k]: {classes[j] if j >= 0 else "no speech": int(np.sum((y == k) & (pred == j)))
                                                  for j in [*range(len(classes)), -1] if np.any((y == k) & (pred == j))}
                                     for k in present}
                        row[corpus] = {"UA": classification_metrics(y, pred, len(classes))["UA"],
                                       "recall": {classes[k]: float(np.mean(pred[y == k] == k)) for k in present},
                                       "predicted_share": {classes[j]: float(np.mean(pred == j)) for j in range(len(classes))},
                                       "no_speech_share": float(np.mean(pred == -1)), "confusion": confusion,
                                       "mean_speech_share": float(spoken.mean())}
                        print(builtin, version, gate, corpus, round(row[corpus]["UA"], 3),
                              {k: round(v, 2) for k, v in row[corpus]["recall"].items()}, flush=True)
                    figures["models"].setdefault(builtin, {})[f"{version}, gate {gate:g}"] = row
    save("default-drop", figures)


if __name__ == "__main__":
    main()
