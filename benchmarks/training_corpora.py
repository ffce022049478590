"""Which licensed corpora should the built-in models train on? Each candidate
set of training corpora trains the v2 and v3 recipes of the cross-corpus suite
(corpus-split protocol, several seeds) and is scored on the corpora no
candidate trains on (ASED, SAVEE, TESS: their licences forbid a shipped model),
and on any licensed corpus it leaves out. The criterion for the shipped models
is the mean UA over ASED, SAVEE and TESS. Writes
benchmarks/results/training-corpora.json.

    python benchmarks/training_corpora.py [--seeds 0 1 2 3 4] [--out runs/training-corpora]
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.training.config import TrainConfig  # noqa: E402
from segser.training.train import run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = ("ased", "savee", "tess")
CANDIDATES = (("emodb", "ravdess"), ("emodb", "ravdess", "nemo"), ("emodb", "ravdess", "emovo"),
              ("emodb", "ravdess", "nemo", "emovo"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--v2-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("runs/training-corpora"))
    args = ap.parse_args()
    suite = json.loads((ROOT / "benchmarks" / "suites" / "cross-corpus.json").read_text())
    pipes = {p["name"]: {k: v for k, v in p.items() if k not in ("name", "evaluation_only", "pairwise")} for p in suite["pipelines"]}
    corpora = suite["corpora"]
    names = [c["name"] for c in corpora]
    rows = []
    for recipe, seeds, sets in (("v3", args.seeds, CANDIDATES), ("v2", args.v2_seeds, (CANDIDATES[0], CANDIDATES[-1]))):
        for train in sets:
            test = [c for c in names if c not in train]
            per_seed = []
            for seed in seeds:
                t = time.time()
                cfg = TrainConfig.from_dict({"labels": suite["labels"], **pipes[recipe], "corpora": corpora, "seed": seed,
                                             "protocol": f"corpus-split:{','.join(train)}->{','.join(test)}",
                                             "final_model": False})
                m = run(cfg, args.out / f"{recipe}-{'+'.join(train)}-s{seed}", progress=False, overwrite=True)
                ua = {c: m["per_corpus"][c]["UA"] for c in test}
                per_seed.append({"seed": seed, "UA": ua, "mean_unseen": statistics.mean(ua[c] for c in UNSEEN)})
                print(f"{recipe} trained on {'+'.join(train):<28} seed {seed}: " + " ".join(f"{c} {ua[c]:.3f}" for c in test)
                      + f" | mean {UNSEEN} {per_seed[-1]['mean_unseen']:.3f} ({time.time() - t:.0f} s)", flush=True)
            means = [s["mean_unseen"] for s in per_seed]
            rows.append({"recipe": recipe, "train": list(train), "seeds": per_seed,
                         "mean_unseen": statistics.mean(means), "std_unseen": statistics.pstdev(means),
                         "per_corpus_mean": {c: statistics.mean(s["UA"][c] for s in per_seed) for c in test}})
    best = max((r for r in rows if r["recipe"] == "v3"), key=lambda r: r["mean_unseen"])
    print(f"best v3 training set on {', '.join(UNSEEN)}: {'+'.join(best['train'])} ({best['mean_unseen']:.3f})")
    save("training-corpora", {"label_set": suite["labels"], "criterion": f"mean UA over {', '.join(UNSEEN)}",
                              "rows": rows, "best_v3": best["train"]})


if __name__ == "__main__":
    main()
