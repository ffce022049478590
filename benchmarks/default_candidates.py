"""Which recipe should the built-in four-class default ship? (issue 42)

Candidates for ``default-4class`` (Whisper tiny.en, all layers, 5 s context, 1 s segments, the N = 200 segment head,
corpus balance, class weights, calibration), each trained on the corpora the shipped model may train on (EmoDB,
RAVDESS, nEMO) and scored, each clip alone and unadapted, on the corpora no built-in model ever trained on (ASED,
SAVEE, TESS: Opus copies), then on the leave-one-corpus-out matrix of benchmarks/adaptation.py (seven corpora, each
held out once; ASED/SAVEE/TESS scored by heads trained on all four licensed corpora). What varies:

* the training gate: segments with at least 0.2 speech (v4) or every segment (v3);
* the clip decision: the mean logit of the segments with at least 0.2 speech (the shipped cut), of every segment,
  or every segment weighted by its speech share (a clip with no segment at 0.2 still gets no emotion);
* one head (seeds 0..4, mean and spread) or the five heads' mean logit (a seed ensemble: five small heads on one
  encoder pass);
* a class-prior correction: one logit offset per class, fitted on the training corpora only (each held out from
  heads trained on the others; class-balanced log loss, every corpus weighing the same), added to the clip's logits.

    python benchmarks/default_candidates.py [--seeds 5]

    python benchmarks/default_candidates.py --labels shared6 --only "voiced segments (v4); cut"
    python benchmarks/default_candidates.py --fusion --matrix

``--fusion``: the shipped recipe (five heads, prior correction) on each encoder that installs offline (Whisper
tiny.en, Whisper base, eGeMAPS functionals per segment) and on every late fusion of them (the mean of their
calibrated clip logits), with each encoder's time per clip (TESS clips, after a warm-up; each includes the voice
detector).

The same for the six-class ``default`` with ``--labels shared6``. Heads are kept under runs/default-candidates*/
between runs. Writes benchmarks/results/default-candidates[-shared6].json.
"""
import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adaptation  # noqa: E402
from adaptation import EVAL_ONLY, TRAINABLE, calibrated, load_all, train_head  # noqa: E402
from common import save  # noqa: E402

from segser.encoders.backbones import create  # noqa: E402
from segser.results.timeline import SPEECH_GATE  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.loop import fit_class_offsets  # noqa: E402
from segser.training.metrics import classification_metrics  # noqa: E402

SHIPPED_ON = ("emodb", "ravdess", "nemo")
CLASSES = list(labelsets.LABEL_SETS["4class"][0])  # --labels sets it
RUNS = Path(__file__).resolve().parents[1] / "runs"
TRAIN_GATES = {"trained on voiced segments (v4)": SPEECH_GATE, "trained on every segment (v3)": 0.0}
RULES = ("cut at 0.2 speech (shipped)", "every segment", "weighted by speech share")


ENCODERS = {"tiny.en": ("whisper", {"size": "tiny.en", "layer": "all", "context": 5}),
            "base": ("whisper", {"size": "base", "layer": "all", "context": 5}), "egemaps": ("egemaps", {})}


class Data:
    """One encoder's segment embeddings of the seven corpora, and heads of the recipe trained on them."""

    def __init__(self, label_set: str, encoder: str = "tiny.en"):
        self.label_set, self.encoder = label_set, encoder
        kind, options = ENCODERS[encoder]
        self.manifest, self.emb = load_all(label_set, encoder=create(kind, **options))
        self.corpus = self.manifest["corpus"].to_numpy()
        self.y_clip = np.array([CLASSES.index(c) for c in self.manifest["label"]])
        self.seg_corpus = self.corpus[self.emb.clip]
        self.seg_speaker = self.manifest["speaker"].to_numpy()[self.emb.clip]

    def head(self, train_on, gate: float, seed: int):
        folder = "default-candidates" + ("" if self.label_set == "4class" else f"-{self.label_set}") + (
            "" if self.encoder == "tiny.en" else f"-{self.encoder}")
        path = RUNS / folder / f"{'+'.join(sorted(train_on))}-gate{gate:g}-seed{seed}.pt"
        if path.exists():
            return torch.load(path, weights_only=False)
        rows = np.isin(self.seg_corpus, train_on) & (self.emb.speech >= gate)
        head = train_head(self.emb.X[rows], self.y_clip[self.emb.clip[rows]], self.seg_corpus[rows],
                          self.seg_speaker[rows], seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(head, path)
        return head

    def clip_logits(self, heads, held: str, rule: str):
        """(clip labels, clip logits; NaN rows for clips with no segment at the gate) of corpus ``held``."""
        rows = self.seg_corpus == held
        X, clip, speech = self.emb.X[rows], self.emb.clip[rows], self.emb.speech[rows]
        seg = np.mean([calibrated(h, X) for h in heads], axis=0)
        clips = np.unique(clip)
        out = np.full((len(clips), len(CLASSES)), np.nan)
        for i, c in enumerate(clips):
            mine = clip == c
            s = speech[mine]
            if not np.any(s >= SPEECH_GATE) and rule != "every segment":
                continue
            if rule == "cut at 0.2 speech (shipped)":
                out[i] = seg[mine][s >= SPEECH_GATE].mean(0)
            elif rule == "every segment":
                out[i] = seg[mine].mean(0)
            else:
                out[i] = np.average(seg[mine], axis=0, weights=s)
        return self.y_clip[clips], out


def scores(y, logits, bias=None):
    z = logits + (0 if bias is None else bias)
    pred = np.where(np.isnan(z).any(1), -1, np.nan_to_num(z).argmax(1))
    present = [k for k in range(len(CLASSES)) if np.any(y == k)]
    return {"UA": classification_metrics(y, pred, len(CLASSES))["UA"],
            "recall": {CLASSES[k]: float(np.mean(pred[y == k] == k)) for k in present},
            "predicted_share": {CLASSES[k]: float(np.mean(pred == k)) for k in range(len(CLASSES))}}


def fused(datas, train_on, gate, seeds, held: str, rule: str):
    """Clip logits of ``held``: each encoder's heads (one per seed, logits averaged), then the encoders averaged."""
    parts = [d.clip_logits([d.head(train_on, gate, s) for s in seeds], held, rule) for d in datas]
    assert all(np.array_equal(parts[0][0], y) for y, _ in parts), "encoders disagree on the clips"
    return parts[0][0], np.mean([z for _, z in parts], axis=0)


def candidate(datas, train_on, held_out, gate, rule, seeds, *, ensemble: bool, prior: bool):
    """Per held-out corpus: {UA, recall, ...} averaged over seeds (one head each) or of the seed ensemble; ``datas``:
    one Data per encoder (several: late fusion of their calibrated logits)."""
    runs = [list(seeds)] if ensemble else [[s] for s in seeds]
    per_run = []
    for run in runs:
        bias = None
        if prior:  # each training corpus held out from heads trained on the rest of the training corpora
            parts = [fused(datas, [t for t in train_on if t != c], gate, run, c, rule) for c in train_on]
            bias = fit_class_offsets([(y[~np.isnan(z).any(1)], z[~np.isnan(z).any(1)]) for y, z in parts])
        per_run.append({h: scores(*fused(datas, train_on, gate, run, h, rule), bias) for h in held_out}
                       | ({"_bias": dict(zip(CLASSES, map(float, bias)))} if prior else {}))
    out = {}
    for h in held_out:
        uas = [r[h]["UA"] for r in per_run]
        out[h] = {"UA": float(np.mean(uas)), "UA_std": float(np.std(uas)), "UA_per_seed": uas,
                  "recall": {c: float(np.mean([r[h]["recall"][c] for r in per_run])) for c in per_run[0][h]["recall"]},
                  "predicted_share": {c: float(np.mean([r[h]["predicted_share"][c] for r in per_run])) for c in CLASSES}}
    if prior:
        out["_bias"] = [r["_bias"] for r in per_run]
    return out


def encoder_seconds(names, clips: int = 40) -> dict:
    """Wall time per clip of each encoder (one process, after a warm-up) on the first ``clips`` TESS clips."""
    import time

    from segser.encoders.engine import embed_signal
    from segser.io.audio import load
    from segser.segmentation.config import Segmentation
    from segser.settings import data_dir
    from segser.training import corpora

    paths = corpora.load("tess", data_dir() / "tess")["path"].tolist()[:clips]
    waves = [load(p, sample_rate=16000) for p in paths]
    seg, out = Segmentation(length=1.0, hop=1.0), {}
    for name in names:
        kind, options = ENCODERS[name]
        enc = create(kind, **options)
        embed_signal(waves[0], enc, seg)
        t0 = time.perf_counter()
        for w in waves:
            embed_signal(w, enc, seg)
        out[name] = (time.perf_counter() - t0) / len(waves)
    return out


def scored(datas, gate, rule, seeds, *, ensemble: bool, prior: bool, matrix: bool) -> tuple[dict, dict | None]:
    """A candidate's row on the never-trained corpora, and on the leave-one-corpus-out matrix when asked."""
    row = candidate(datas, SHIPPED_ON, EVAL_ONLY, gate, rule, seeds, ensemble=ensemble, prior=prior)
    row["mean"] = float(np.mean([row[h]["UA"] for h in EVAL_ONLY]))
    row["lowest_recall"] = {h: min(row[h]["recall"].values()) for h in EVAL_ONLY}
    print(f"{row['mean']:.3f}", {h: round(row[h]["UA"], 3) for h in EVAL_ONLY},
          {h: round(v, 2) for h, v in row["lowest_recall"].items()}, flush=True)
    if not matrix:
        return row, None
    held = {h: candidate(datas, [t for t in TRAINABLE if t != h], [h], gate, rule, seeds, ensemble=ensemble,
                         prior=prior)[h] for h in TRAINABLE + EVAL_ONLY}
    m = {"per_corpus": {h: held[h]["UA"] for h in held}, "mean": float(np.mean([held[h]["UA"] for h in held])),
         "lowest_recall": {h: min(held[h]["recall"].values()) for h in held}}
    print(f"   matrix {m['mean']:.3f}", {h: round(v, 3) for h, v in m["per_corpus"].items()}, flush=True)
    return row, m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--labels", default="4class", choices=("4class", "shared6"))
    ap.add_argument("--only", help="only the candidates whose name holds this text")
    ap.add_argument("--matrix", action="store_true", help="also the leave-one-corpus-out matrix for every candidate")
    ap.add_argument("--fusion", action="store_true", help="the shipped recipe on each encoder and their late fusions")
    ap.add_argument("--encoders", default=",".join(ENCODERS), help="with --fusion: the encoders (comma-separated)")
    args = ap.parse_args()
    seeds = range(args.seeds)
    CLASSES[:] = list(labelsets.LABEL_SETS[args.labels][0])
    adaptation.CLASSES[:] = CLASSES  # the heads' width
    figures = {"label_set": args.labels, "trained_on": list(SHIPPED_ON), "never_trained": list(EVAL_ONLY),
               "seeds": list(seeds), "speech_gate": SPEECH_GATE, "unseen": {}, "matrix": {}}
    if args.fusion:
        names = [e for e in args.encoders.split(",") if e]
        unknown = sorted(set(names) - set(ENCODERS))
        if unknown:
            raise SystemExit(f"--encoders: unknown {', '.join(unknown)}; known: {', '.join(ENCODERS)}")
        datas = {name: Data(args.labels, name) for name in names}
        figures["seconds_per_clip"] = encoder_seconds(names)
        for k in range(1, len(names) + 1):
            for combo in itertools.combinations(names, k):
                name = " + ".join(combo) + "; seed ensemble; prior correction"
                print(name, flush=True)
                row, m = scored([datas[c] for c in combo], SPEECH_GATE, RULES[0], seeds, ensemble=True, prior=True,
                                matrix=args.matrix)
                row["seconds_per_clip"] = sum(figures["seconds_per_clip"][c] for c in combo)
                figures["unseen"][name] = row
                if m:
                    figures["matrix"][name] = m
        save("default-candidates-fusion" + ("" if args.labels == "4class" else f"-{args.labels}"), figures)
        return
    datas = [Data(args.labels)]
    for (gname, gate), rule, ensemble, prior in itertools.product(TRAIN_GATES.items(), RULES, (False, True),
                                                                  (False, True)):
        name = f"{gname}; {rule}; {'seed ensemble' if ensemble else 'one head'}{'; prior correction' if prior else ''}"
        if args.only and args.only not in name:
            continue
        print(name, flush=True)
        row, m = scored(datas, gate, rule, seeds, ensemble=ensemble, prior=prior, matrix=args.matrix)
        figures["unseen"][name] = row
        if m:
            figures["matrix"][name] = m
    save("default-candidates" + ("" if args.labels == "4class" else f"-{args.labels}"), figures)


if __name__ == "__main__":
    main()
