"""How much of a speaker's speech does speaker normalisation need, and what if
that speech is all one emotion? The built-in speaker-normalised model
(``adapted-4class``) on the corpora it never trained on, each test speaker's
statistics taken from:

* all of the speaker's clips (what ``segser evaluate`` does),
* ``k`` random clips of the speaker (k = 2, 5, 10, 20; several draws),
* only the speaker's neutral clips (an enrolment recording of calm speech),
* only the speaker's angry clips (a skewed enrolment: the worst case),

and every clip of the speaker is then scored. ``default-4class`` (no
adaptation, same training corpora) on the same clips is the reference.
Writes benchmarks/results/speaker-adaptation.json.

    python benchmarks/speaker_adaptation.py [--draws 5]
"""
import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.adaptation.statistics import Statistics  # noqa: E402
from segser.model import load_model  # noqa: E402
from segser.training import corpora  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.data import embed_manifest  # noqa: E402
from segser.training.evaluation import evaluate_logits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = ("emovo", "ased", "savee", "tess")
CLIPS = (2, 5, 10, 20)


def normalised(X, emb, manifest, pick):
    """Each speaker's segments standardised with the statistics of the clips ``pick(speaker clips)`` chooses."""
    out = np.empty_like(X)
    speakers = manifest["speaker"].to_numpy()
    seg_speaker = speakers[emb.clip]
    n_stats = []
    for s in np.unique(seg_speaker):
        rows = seg_speaker == s
        clips = np.unique(emb.clip[rows])
        chosen = pick(clips)
        stats_rows = rows & np.isin(emb.clip, chosen)
        stats = Statistics.of(X[stats_rows])
        out[rows] = (X[rows] - stats.mean) / stats.std
        n_stats.append(int(stats_rows.sum()))
    return out, n_stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=5, help="random draws of k clips per speaker")
    args = ap.parse_args()
    adapted = load_model("adapted-4class", runtime="torch")
    reference = load_model("default-4class", runtime="torch")
    figures = {"model": "adapted-4class", "reference": "default-4class", "label_set": "4class",
               "trained_on": adapted.card["provenance"]["corpora"], "corpora": {}}
    for name in UNSEEN:
        manifest, _ = labelsets.apply(corpora.load(name, ROOT.parent / "shared" / "data" / name), "4class")
        manifest = manifest.reset_index(drop=True)
        emb = embed_manifest(manifest, adapted.encoder, adapted.segmentation, progress=False)
        labels = manifest["label"].to_numpy()
        seconds_per_segment = float(np.mean(emb.end - emb.start))

        def ua(X, model=adapted):
            metrics, _ = evaluate_logits(model.logits(X), emb, manifest, model.classes, "mean_logits")
            return metrics["UA"]

        rows = {"default-4class (no adaptation)": {"UA": ua(emb.X, reference)}}
        X, n = normalised(emb.X, emb, manifest, lambda clips: clips)
        rows["all clips of the speaker"] = {"UA": ua(X), "median_segments": statistics.median(n)}
        for k in CLIPS:
            runs, segs = [], []
            for draw in range(args.draws):
                rng = np.random.default_rng(draw)
                X, n = normalised(emb.X, emb, manifest,
                                  lambda clips: rng.choice(clips, size=min(k, len(clips)), replace=False))
                runs.append(ua(X))
                segs += n
            rows[f"{k} random clips"] = {"UA": statistics.mean(runs), "UA_std_over_draws": statistics.pstdev(runs),
                                         "median_segments": statistics.median(segs), "draws": args.draws}
        for emotion in ("neutral", "angry"):
            missing = []

            def only(clips, emotion=emotion, missing=missing):
                mine = clips[labels[clips] == emotion]
                if not len(mine):
                    missing.append(1)
                    return clips
                return mine
            X, n = normalised(emb.X, emb, manifest, only)
            rows[f"only {emotion} clips"] = {"UA": ua(X), "median_segments": statistics.median(n),
                                             "speakers_without_them_use_all_clips": len(missing)}
        figures["corpora"][name] = {"clips": int(len(manifest)), "speakers": int(manifest["speaker"].nunique()),
                                    "seconds_per_segment": seconds_per_segment, "rows": rows}
        print(name, " | ".join(f"{k}: {v['UA']:.3f}" for k, v in rows.items()), flush=True)
    keys = list(next(iter(figures["corpora"].values()))["rows"])
    figures["mean"] = {k: statistics.mean(figures["corpora"][c]["rows"][k]["UA"] for c in UNSEEN) for k in keys}
    save("speaker-adaptation", figures)


if __name__ == "__main__":
    main()
