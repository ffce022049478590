"""Live adaptation on voices the model never heard: the guarded rule applied as a stream grows
(:class:`segser.adaptation.live.LiveAdaptation`, what `segser listen`, the WebSocket and the page run), against no
adaptation and against the same rule applied offline with the whole stream's statistics.

Streams: each speaker of ASED, EMOVO, SAVEE and TESS (corpora the built-in models never trained on), their clips in
a seeded random order, segment embeddings as the model computes them (its engine, its speech gate).
Protocols: *mixed* (a speaker's clips of every emotion, up to --clips of them) and *one emotion* (a stream per
speaker and emotion: only that emotion's clips). Scored: UA over the clips that start once 30 s of the speaker's
speech have been heard (the clip decision: mean logits of its voiced segments), pooled per corpus, mean over the
corpora. Writes benchmarks/results/live_adaptation.json.

    python benchmarks/live_adaptation.py [--clips 120] [--seed 0] [--model live-4class]
"""
import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.adaptation.live import LiveAdaptation  # noqa: E402
from segser.adaptation.mood import MOOD_CHECK_TOP, ONE_MOOD_SHARE  # noqa: E402
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS, Plan, Policy, adapt_rows  # noqa: E402
from segser.model import load_model  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora, labels  # noqa: E402
from segser.training.data import embed_manifest  # noqa: E402

HELD_OUT = ("ased", "emovo", "savee", "tess")
AFTER_SECONDS = 30.0
MIN_SCORED = 20


def offline(model, X, voiced, *, guarded=True):
    """The same rule with the whole stream's statistics: what predict does with the stream as one speaker's
    recording (:func:`segser.adaptation.policy.adapt_rows`, one group, no collection)."""
    plan = Plan(Policy.GUARDED if guarded else Policy.OWN, "file")
    return adapt_rows(model, plan, X, voiced=voiced, groups=np.full(len(X), "stream", dtype=object),
                      seconds=voiced.astype(float))[0]


def stream_scores(model, emb, clips, y_clip, gate, conditions):
    """Clip predictions after 30 s of heard speech, per condition, for one stream (clips in order)."""
    rows = np.concatenate([np.flatnonzero(emb.clip == c) for c in clips])
    X, speech = emb.X[rows], emb.speech[rows]
    spans = list(zip(emb.start[rows], emb.end[rows]))
    voiced = speech >= gate
    heard = np.cumsum((emb.end[rows] - emb.start[rows]) * speech * voiced)
    clip_of = emb.clip[rows]
    out = {}
    for name, fn in conditions.items():
        logits = fn(X, speech, spans, voiced)
        preds = []
        for c in clips:
            m = (clip_of == c) & voiced
            if not m.any() or heard[np.flatnonzero(clip_of == c)[0]] < AFTER_SECONDS:
                continue
            preds.append((int(y_clip[c]), int(logits[m].mean(0).argmax())))
        out[name] = preds
    return out


def ua(pairs, n_classes):
    truth = np.array([t for t, _ in pairs])
    pred = np.array([p for _, p in pairs])
    return float(np.mean([np.mean(pred[truth == k] == k) for k in range(n_classes) if np.any(truth == k)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=120, help="clips per mixed stream (one-emotion streams: a third)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="live-4class", help="a built-in model (default: the live default)")
    args = ap.parse_args()
    model = load_model(args.model, runtime="torch")
    gate = model.speech_gate
    rng = np.random.default_rng(args.seed)
    by_share = dataclasses.replace(model, mood=None)  # the guard before the mood check: the commonest-emotion share alone
    one_head = dataclasses.replace(model, adaptation=None)  # moment matching into the model's own head
    conditions = {
        "none": lambda X, speech, spans, voiced: model.logits(X),
        "live, guarded (adapt=speaker)": lambda X, speech, spans, voiced: LiveAdaptation(model).logits(X, speech, spans, gate=gate)[0],
        "live, guarded, without the adaptation heads": lambda X, speech, spans, voiced: LiveAdaptation(one_head).logits(
            X, speech, spans, gate=gate)[0],
        "live, guarded by the share alone": lambda X, speech, spans, voiced: LiveAdaptation(by_share).logits(
            X, speech, spans, gate=gate)[0],
        "live, unguarded": lambda X, speech, spans, voiced: LiveAdaptation(model, guarded=False).logits(
            X, speech, spans, gate=gate)[0],
        "offline, guarded": lambda X, speech, spans, voiced: offline(model, X, voiced),
        "offline, guarded by the share alone": lambda X, speech, spans, voiced: offline(by_share, X, voiced),
        "offline, unguarded": lambda X, speech, spans, voiced: offline(model, X, voiced, guarded=False),
    }
    table = {p: {c: {} for c in conditions} for p in ("mixed", "one-emotion")}
    counts = {}
    for corpus in HELD_OUT:
        manifest, _ = labels.apply(corpora.load(corpus, data_dir() / corpus), ",".join(model.classes))
        manifest = manifest.reset_index(drop=True)
        emb = embed_manifest(manifest, model.encoder, model.segmentation, progress=False)
        y_clip = np.array([model.classes.index(c) for c in manifest["label"]])
        pooled = {p: {c: [] for c in conditions} for p in table}
        n_streams = {"mixed": 0, "one-emotion": 0}
        for _, g in manifest.groupby("speaker", sort=True):
            order = rng.permutation(g.index.to_numpy())
            streams = {"mixed": [order[: args.clips]]}
            streams["one-emotion"] = [order[y_clip[order] == k][: max(args.clips // 3, 1)] for k in range(len(model.classes))
                                      if np.any(y_clip[order] == k)]
            for proto, lists in streams.items():
                for clips in lists:
                    for name, pairs in stream_scores(model, emb, list(clips), y_clip, gate, conditions).items():
                        pooled[proto][name] += pairs
                    n_streams[proto] += 1
        counts[corpus] = {**n_streams, "scored_clips": {p: len(pooled[p]["none"]) for p in pooled}}
        for proto in table:
            for name in conditions:
                table[proto][name][corpus] = ua(pooled[proto][name], len(model.classes))
        print(corpus, counts[corpus], {p: {n: round(table[p][n][corpus], 3) for n in conditions} for p in table}, flush=True)
    # a corpus whose streams give fewer than MIN_SCORED clips after 30 s of speech is reported, not averaged
    kept = {p: [c for c in HELD_OUT if counts[c]["scored_clips"][p] >= MIN_SCORED] for p in table}
    summary = {p: {n: {"per_corpus": table[p][n], "mean": statistics.mean(table[p][n][c] for c in kept[p]),
                       "mean_over": kept[p]} for n in conditions} for p in table}
    for name in conditions:
        print(f"{name:<28} mixed {summary['mixed'][name]['mean']:.3f}  one emotion {summary['one-emotion'][name]['mean']:.3f}")
    save("live_adaptation", {"model": args.model, "adaptation_heads": model.adaptation is not None,
                             "held_out": list(HELD_OUT), "after_seconds": AFTER_SECONDS,
                             "clips_per_stream": args.clips, "seed": args.seed, "speech_gate": gate,
                             "min_segments": MIN_SPEAKER_SEGMENTS, "mood_share": ONE_MOOD_SHARE, "streams": counts,
                             "mood_check": model.mood is not None, "mood_check_top": MOOD_CHECK_TOP,
                             "min_scored_clips": MIN_SCORED,
                             "conditions": summary},
         command=f"python benchmarks/live_adaptation.py --clips {args.clips} --seed {args.seed}")


if __name__ == "__main__":
    main()
