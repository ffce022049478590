"""Paper 002's robustness study: the EmoDB leave-one-speaker-out recipe trained
clean and with real-noise mix-up (recipes/noise/), each tested clean and on
noisy test sets (test-split noise at 40, 20 and 15 dB). Writes the figures to
benchmarks/results/robustness-emodb.json and the plot to docs/img/robustness-emodb.png.

    python benchmarks/noise_robustness.py [--runs runs/noise]
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, save  # noqa: E402

from segser.training.config import TrainConfig  # noqa: E402
from segser.training.train import run  # noqa: E402

RECIPES = {"clean training": "recipes/noise/emodb-clean.json", "real-noise mix-up": "recipes/noise/emodb-mixup.json"}
CONDITIONS = ("clean", "40dB", "20dB", "15dB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, default=Path("runs/noise"))
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    figures = {}
    for name, recipe in RECIPES.items():
        cfg = TrainConfig.from_file(root / recipe)
        metrics = run(cfg, args.runs / Path(recipe).stem, progress=False, overwrite=True)
        s = metrics["summary"]
        figures[name] = {"recipe": recipe, "protocol": metrics["provenance"]["protocol"],
                         "UA": {c: {"mean": s["UA" if c == "clean" else f"UA@{c}"]["mean"],
                                    "std": s["UA" if c == "clean" else f"UA@{c}"]["std"]} for c in CONDITIONS}}
        print(f"{name}: " + ", ".join(f"{c} {figures[name]['UA'][c]['mean']:.3f}" for c in CONDITIONS))
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, f in figures.items():
        ax.errorbar(range(len(CONDITIONS)), [f["UA"][c]["mean"] for c in CONDITIONS],
                    yerr=[f["UA"][c]["std"] for c in CONDITIONS], marker="o", capsize=3, label=name)
    ax.set_xticks(range(len(CONDITIONS)), ["clean", "40 dB", "20 dB", "15 dB"])
    ax.set_ylabel("UA (mean +- std over EmoDB speakers)")
    ax.set_xlabel("test condition (noise from noise/test only)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(RESULTS.parents[1] / "docs" / "img" / "robustness-emodb.png", dpi=110, bbox_inches="tight")
    save("robustness-emodb", {"corpus": "emodb", "runs": figures})


if __name__ == "__main__":
    main()
