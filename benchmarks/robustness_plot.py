"""Robustness curves (metric vs SNR, one line per run) from run directories
trained with a ``noise`` config (paper 002 style), plus the table.

    python benchmarks/robustness_plot.py RUN [RUN ...] --out robustness.png [--metric UA]
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(run: Path, metric: str):
    m = json.loads((run / "metrics.json").read_text())
    s = m["summary"]
    points = [(float("inf"), s[metric]["mean"], s[metric]["std"])]
    for k, v in s.items():
        if k.startswith(metric + "@") and k.endswith("dB"):
            points.append((float(k.split("@")[1][:-2]), v["mean"], v["std"]))
    return sorted(points, key=lambda p: -p[0]), m["provenance"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metric", default="UA")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in args.runs:
        pts, prov = curve(run, args.metric)
        labels = ["clean" if p[0] == float("inf") else f"{p[0]:g} dB" for p in pts]
        ax.errorbar(range(len(pts)), [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3, label=run.name)
        ax.set_xticks(range(len(pts)), labels)
        print(f"{run.name} ({'+'.join(prov['corpora'])}, {prov['protocol']}, seed {prov['seed']}): "
              + ", ".join(f"{l} {p[1]:.3f}+-{p[2]:.3f}" for l, p in zip(labels, pts)))
    ax.set_ylabel(f"{args.metric} (mean +- std over folds)")
    ax.set_xlabel("test condition")
    ax.legend()
    ax.grid(alpha=0.3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
