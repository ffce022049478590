"""Which Whisper encoder layer carries emotion (paper 003's bottleneck choice),
per model size, and what the input window length costs and gains (issue 8).

Probe: logistic regression on clip-mean segment embeddings of one layer,
speaker-independent (EmoDB leave-one-speaker-out, RAVDESS 6 actor folds), with
and without per-speaker normalisation. Embeddings come from segser's cache.
Writes benchmarks/results/whisper-layers-<corpus>-<size>.json.

    python benchmarks/whisper_layers.py --corpus emodb --size tiny.en [--context 30 10 2.4]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.adaptation.statistics import speaker_normalise  # noqa: E402
from segser.encoders import backbones  # noqa: E402
from segser.segmentation.config import Segmentation  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora, protocols  # noqa: E402
from segser.training.data import embed_manifest  # noqa: E402


def probe(C, y, folds):
    uas = []
    for f in folds:
        tr = np.concatenate([f.train, f.val])
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        clf.fit(C[tr], y[tr])
        uas.append(balanced_accuracy_score(y[f.test], clf.predict(C[f.test])))
    return np.mean(uas), np.std(uas)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="emodb")
    ap.add_argument("--size", default="tiny.en")
    ap.add_argument("--context", type=float, nargs="+", default=[30.0])
    args = ap.parse_args()
    df = corpora.load(args.corpus, data_dir() / args.corpus)
    folds = protocols.make_folds(df, corpora.LOADERS[args.corpus].DEFAULT_PROTOCOL)
    y = df["label"].to_numpy()
    spk = df["speaker"].to_numpy()
    figures = {}
    for ctx in args.context:
        bb = backbones.create("whisper", size=args.size, layer="all", context=ctx)
        t = time.time()
        emb = embed_manifest(df, bb, Segmentation(), progress=False)
        took = time.time() - t
        d = bb.dim // bb.n_layers
        audio = df["duration"].sum()
        print(f"{args.corpus} whisper-{args.size} context {ctx:g} s: embedding {took:.0f} s "
              f"({audio / took:.0f}x real time{'; from cache' if took < 5 else ''})")
        figures[f"{ctx:g}"] = layers = {}
        for layer in range(bb.n_layers):
            X = emb.X[:, layer * d:(layer + 1) * d]
            row = []
            for norm in (False, True):
                Z = speaker_normalise(X, spk[emb.clip]) if norm else X
                C = np.stack([Z[emb.clip == i].mean(0) for i in range(len(df))])
                m, s = probe(C, y, folds)
                layers.setdefault(str(layer), {})["spk_norm" if norm else "raw"] = {"mean": m, "std": s}
                row.append(f"{'spk-norm' if norm else 'raw':8s} UA {m:.3f} +- {s:.3f}")
            print(f"  layer {layer}{' (final)' if layer == bb.n_layers - 1 else ''}: " + " | ".join(row), flush=True)
    save(f"whisper-layers-{args.corpus}-{args.size}", {"corpus": args.corpus, "size": args.size,
                                                         "protocol": corpora.LOADERS[args.corpus].DEFAULT_PROTOCOL,
                                                         "by_context_and_layer": figures})


if __name__ == "__main__":
    main()
