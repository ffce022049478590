"""How much real audio does a segment need before its label means anything, and
what does a model say about audio with no speech in it? The evidence behind the
timeline's tail rule and no-speech gate (issue 21).

1. Length: the built-in ``default-4class`` model on corpora it never trained on
   (ASED, SAVEE, TESS; 4 classes), one segment per clip of L seconds centred in
   the clip (no padding, no silence edge): segment UA and mean top probability
   against L. The same for the *last* L seconds of each clip followed by zero
   padding (what a tail segment of a fixed-window timeline is).
2. No speech: Silero VAD's speech share of every 1 s segment of the real noise
   recordings (``noise/test``) and of every speech clip above, and the model's top
   probability on the noise segments: how many get a confident emotion, and how
   many a speech-share gate lets through.

    python benchmarks/segment_evidence.py [--clips 300]
"""
import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.encoders.engine import embed_spans  # noqa: E402
from segser.io.audio import find_audio, load  # noqa: E402
from segser.model import load_model  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.metrics import classification_metrics  # noqa: E402

LENGTHS = (0.02, 0.04, 0.06, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
UNSEEN = ("ased", "savee", "tess")


def speech_share(x: np.ndarray, spans) -> np.ndarray:
    """Share of each span that Silero VAD (32 ms windows, probability >= 0.5) calls speech."""
    from segser.segmentation.vad import VAD_WINDOW, SileroVAD

    vad = SileroVAD()
    n = len(x) // VAD_WINDOW
    probs = np.array([vad(x[i * VAD_WINDOW:(i + 1) * VAD_WINDOW]) for i in range(n)])
    t = (np.arange(n) + 0.5) * VAD_WINDOW / 16000
    return np.array([float(np.mean(probs[(t >= s) & (t < e)] >= 0.5)) if np.any((t >= s) & (t < e)) else 0.0
                     for s, e in spans])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=300, help="clips per corpus (random, seed 0)")
    args = ap.parse_args()
    model = load_model("default-4class", runtime="torch")
    enc, classes = model.encoder, model.classes
    rng = np.random.default_rng(0)
    by_length = {"centre": {L: ([], []) for L in LENGTHS}, "tail": {L: ([], []) for L in LENGTHS}}
    top_prob = {"centre": {L: [] for L in LENGTHS}, "tail": {L: [] for L in LENGTHS}}
    speech_shares = []
    for name in UNSEEN:
        m, _ = labelsets.apply(corpora.load(name, data_dir() / name), "4class")
        m = m[m["duration"] >= 1.2].reset_index(drop=True)
        m = m.iloc[rng.choice(len(m), size=min(args.clips, len(m)), replace=False)].reset_index(drop=True)
        for path, label in zip(m["path"], m["label"]):
            x = load(path, sample_rate=16000)
            d = len(x) / 16000
            centre = [(round(d / 2 - L / 2, 3), round(d / 2 + L / 2, 3)) for L in LENGTHS]
            # a tail piece: the last L seconds of the clip, then padding (the engine pads the final window)
            tail = [(round(d - L, 3), round(d - L + 1.0, 3)) for L in LENGTHS]
            spans = centre + tail
            probs = model.probabilities(model.logits(embed_spans(enc, x, spans)))
            y = classes.index(label)
            for i, L in enumerate(LENGTHS):
                for kind, p in (("centre", probs[i]), ("tail", probs[len(LENGTHS) + i])):
                    by_length[kind][L][0].append(y)
                    by_length[kind][L][1].append(int(p.argmax()))
                    top_prob[kind][L].append(float(p.max()))
            whole = [(float(s), float(min(s + 1.0, d))) for s in np.arange(0, d, 1.0) if d - s > 0.05]
            speech_shares += list(speech_share(x, whole))
        print(name, "done", flush=True)
    rows = {}
    for kind in by_length:
        rows[kind] = {}
        for L in LENGTHS:
            y, yhat = (np.array(v) for v in by_length[kind][L])
            rows[kind][f"{L:g}"] = {"UA": classification_metrics(y, yhat, len(classes))["UA"],
                                    "mean_top_probability": statistics.mean(top_prob[kind][L]), "segments": int(len(y))}
        print(kind, " ".join(f"{L}: {v['UA']:.3f}/{v['mean_top_probability']:.2f}" for L, v in rows[kind].items()))
    noise_files = find_audio(data_dir() / "noise" / "test")
    noise_share, noise_top = [], []
    for f in noise_files:
        x = load(f, sample_rate=16000)
        d = len(x) / 16000
        spans = [(float(s), float(min(s + 1.0, d))) for s in np.arange(0, d, 1.0) if d - s > 0.25]
        if not spans:
            continue
        noise_share += list(speech_share(x, spans))
        noise_top += list(model.probabilities(model.logits(embed_spans(enc, x, spans))).max(1))
    noise_share, noise_top, speech = np.array(noise_share), np.array(noise_top), np.array(speech_shares)
    gates = {}
    for g in (0.1, 0.2, 0.3, 0.5):
        gates[f"{g:g}"] = {"noise_segments_passed": float(np.mean(noise_share >= g)),
                           "speech_segments_passed": float(np.mean(speech >= g))}
    figures = {"model": "default-4class", "corpora": list(UNSEEN), "clips_per_corpus": args.clips, "lengths_s": list(LENGTHS),
               "by_length": rows, "noise": {"files": len(noise_files), "segments": int(len(noise_top)),
                                            "confident_over_0.5": float(np.mean(noise_top > 0.5)),
                                            "confident_over_0.8": float(np.mean(noise_top > 0.8)),
                                            "median_speech_share": float(np.median(noise_share))},
               "speech_segments": int(len(speech)), "median_speech_share_of_speech": float(np.median(speech)),
               "gates": gates}
    print(figures["noise"], gates)
    save("segment-evidence", figures)


if __name__ == "__main__":
    main()
