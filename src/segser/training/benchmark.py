"""`segser benchmark`: run a suite of pipelines on corpora under their
speaker-independent protocols, in one process, and write results.json and
report.md. Every figure in the report is read from the runs it made.

A suite is JSON: {"name": ..., "corpora": [{"name", "root"}...],
"pipelines": [{"name": ..., <TrainConfig fields>}...], "seed": 0}; each
pipeline runs on each corpus (its own protocol unless the pipeline sets one).

A cross-corpus suite (``"mode": "cross-corpus"``) runs each pipeline once on
all corpora pooled, leave-one-corpus-out: every corpus is held out once and
scored by UA over the classes it shares with the training corpora; corpora
listed in ``"evaluation_only"`` are never trained on. With ``"pairwise":
true`` each trainable corpus also trains alone and is tested on every other.
The report has the matrix, its mean over held-out corpora, ECE, and heat-maps.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from segser.errors import ConfigError
from segser.io.files import atomic_path, write_json, write_text
from segser.settings import __version__
from segser.training.config import TrainConfig
from segser.training.train import run

REPORT_KEYS = ("UA", "WA", "macro_f1", "AUC", "ALCA", "SA", "ACA", "SCA", "BCA")


def machine() -> dict:
    """Where a figure was measured: CPU, cores, library versions, load average, date."""

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    versions = {}
    for name in ("numpy", "torch", "onnxruntime", "scipy", "soundfile", "soxr"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:
            pass
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(), "segser": __version__, "versions": versions,
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def command_line() -> str:
    """The command that is running, as a reader would type it (for result files)."""

    name = Path(sys.argv[0]).name
    return " ".join(["segser" if name == "segser" else f"python {sys.argv[0]}", *sys.argv[1:]])


def load_suite(path) -> dict:
    try:
        suite = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON suite ({exc})") from None
    for key in ("corpora", "pipelines"):
        if not suite.get(key):
            raise ConfigError(f"{path}: suite needs a non-empty '{key}' list")
    return suite


def run_suite(suite: dict, out_dir, *, progress: bool = True, folds=None) -> dict:
    if suite.get("mode") == "cross-corpus":
        return run_cross_corpus(suite, out_dir, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for pipe in suite["pipelines"]:
        for corpus in suite["corpora"]:
            opts = {k: v for k, v in pipe.items() if k not in ("name", "evaluation_only", "pairwise")}
            cfg = TrainConfig.from_dict({**opts, "corpora": [corpus], "seed": suite.get("seed", 0), "final_model": False,
                                         **({"folds": list(folds)} if folds is not None else {})})
            run_dir = out / f"{pipe['name']}--{corpus['name']}"
            t = time.time()
            metrics = run(cfg, run_dir, progress=progress, overwrite=True)
            wall = time.time() - t
            audio_seconds = metrics["provenance"].get("audio_seconds")
            emb_s = metrics["seconds"]["embedding"]
            results.append({
                "pipeline": pipe["name"], "corpus": corpus["name"], "run_dir": str(run_dir),
                "protocol": metrics["provenance"]["protocol"], "label_set": metrics["provenance"]["label_set"],
                "n_classes": len(metrics["provenance"]["classes"]), "n_folds": metrics["summary"]["UA"]["n_folds"],
                "summary": {k: metrics["summary"][k] for k in REPORT_KEYS if k in metrics["summary"]},
                "chance_UA": metrics["chance"]["UA"], "seconds_total": round(wall, 1), "seconds_embedding": emb_s,
                "extraction_x_realtime": round(audio_seconds / emb_s, 1) if audio_seconds and emb_s > 1 else None,
                "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            })
    payload = {"suite": suite.get("name", "suite"), "command": command_line(), "segser_version": __version__,
               "seed": suite.get("seed", 0), "machine": machine(), "results": results}
    write_json(out / "results.json", payload)
    write_text(out / "report.md", report(payload))
    return payload


def report(payload: dict) -> str:
    lines = [f"# segser benchmark `{payload['suite']}` (segser {payload['segser_version']}, seed {payload['seed']})", "",
             "Speaker-independent protocols; mean ± std over folds; clip metrics use the mean-logits rule. "
             "Extraction speed is only shown where embeddings were computed (not read from the cache).", "",
             "| pipeline | corpus | protocol | classes | " + " | ".join(REPORT_KEYS) + " | chance UA | extract ×RT | total s |",
             "|" + "---|" * (len(REPORT_KEYS) + 7)]
    for r in payload["results"]:
        cells = [f"{r['summary'][k]['mean']:.3f} ± {r['summary'][k]['std']:.3f}" if k in r["summary"] else "" for k in REPORT_KEYS]
        speed = f"{r['extraction_x_realtime']:.0f}" if r["extraction_x_realtime"] else "cached"
        lines.append(f"| {r['pipeline']} | {r['corpus']} | {r['protocol']} | {r['n_classes']} | " + " | ".join(cells)
                     + f" | {r['chance_UA']:.3f} | {speed} | {r['seconds_total']:.0f} |")
    return "\n".join(lines) + "\n"


def _cross_config(suite: dict, pipe: dict, corpora: list, protocol: str) -> TrainConfig:
    opts = {k: v for k, v in pipe.items() if k not in ("name", "evaluation_only", "pairwise")}
    return TrainConfig.from_dict({"labels": suite.get("labels"), **opts, "corpora": corpora, "protocol": protocol,
                                  "seed": suite.get("seed", 0), "final_model": False})


def run_cross_corpus(suite: dict, out_dir, *, progress: bool = True) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpora = suite["corpora"]
    names = [c.get("options", {}).get("corpus", c["name"]) for c in corpora]  # the manifest's corpus column
    eval_only = [c for c in suite.get("evaluation_only", []) if c in names]
    results = []
    for pipe in suite["pipelines"]:
        t = time.time()
        # a pipeline may keep more corpora out of training (its recipe's choice); they are still held out and scored
        never = eval_only + [c for c in pipe.get("evaluation_only", []) if c in names and c not in eval_only]
        trainable = [c for c in names if c not in never]
        protocol = "leave-one-corpus-out" + (f":{','.join(never)}" if never else "")
        metrics = run(_cross_config(suite, pipe, corpora, protocol), out / f"{pipe['name']}--loco", progress=progress,
                      overwrite=True)
        pc = metrics["per_corpus"]
        row = {"pipeline": pipe["name"], "protocol": protocol, "evaluation_only": never, "label_set": metrics["provenance"]["label_set"],
               "classes": metrics["provenance"]["classes"], "held_out": {c: pc[c]["UA"] for c in names},
               "mean_held_out_UA": float(sum(pc[c]["UA"] for c in names) / len(names)),
               "classes_scored": {c: pc[c]["classes"] for c in names}, "recall": {c: pc[c]["recall"] for c in names},
               "ECE": {c: pc[c]["ECE"] for c in names},
               "ECE_calibrated": {c: pc[c]["ECE_calibrated"] for c in names if "ECE_calibrated" in pc[c]},
               "seconds_total": round(time.time() - t, 1)}
        if suite.get("pairwise") and pipe.get("pairwise", True):
            row["pairwise"] = {}
            for source in trainable:
                others = [c for c in names if c != source]
                m = run(_cross_config(suite, pipe, corpora, f"corpus-split:{source}->{','.join(others)}"),
                        out / f"{pipe['name']}--from-{source}", progress=progress, overwrite=True)
                row["pairwise"][source] = {c: m["per_corpus"][c]["UA"] for c in others}
        results.append(row)
    payload = {"suite": suite.get("name", "cross-corpus"), "command": command_line(), "mode": "cross-corpus",
               "segser_version": __version__, "seed": suite.get("seed", 0), "machine": machine(), "corpora": names,
               "evaluation_only": eval_only, "results": results}
    write_json(out / "results.json", payload)
    plot_cross_corpus(payload, out / "held-out.png")
    write_text(out / "report.md", cross_corpus_report(payload))
    return payload


def cross_corpus_report(payload: dict) -> str:
    names, base = payload["corpora"], set(payload["evaluation_only"])
    extra = "".join(f"Pipeline {r['pipeline']} also never trains on {', '.join(sorted(set(r['evaluation_only']) - base))}. "
                    for r in payload["results"] if set(r.get("evaluation_only", [])) - base)
    lines = [f"# segser cross-corpus benchmark `{payload['suite']}` (segser {payload['segser_version']}, seed {payload['seed']})",
             "", "Leave-one-corpus-out: each column is a corpus held out and scored (UA, clip level, mean-logits rule) "
             "by a model trained on the others" + (f"; {', '.join(payload['evaluation_only'])} are never trained on"
                                                  if payload["evaluation_only"] else "") + ". " + extra +
             "Classes a held-out corpus does not share with the training corpora are left out of its score. "
             "nEMO, ASED, EMOVO, SAVEE and TESS are Opus-compressed copies (about 29 kbit/s); "
             "EmoDB and RAVDESS are truncated copies: not comparable with published full-corpus figures.", "",
             "| pipeline | " + " | ".join(names) + " | mean |", "|---|" + "---|" * (len(names) + 1)]
    for r in payload["results"]:
        lines.append(f"| {r['pipeline']} | " + " | ".join(f"{r['held_out'][c]:.3f}" for c in names)
                     + f" | **{r['mean_held_out_UA']:.3f}** |")
    lines += ["", "Expected calibration error (clip probabilities, 15 bins) per held-out corpus:", "",
              "| pipeline | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for r in payload["results"]:
        lines.append(f"| {r['pipeline']} | " + " | ".join(f"{r['ECE'][c]:.3f}" for c in names) + " |")
        if r.get("ECE_calibrated"):
            lines.append(f"| {r['pipeline']} (temperature-scaled) | "
                         + " | ".join(f"{r['ECE_calibrated'].get(c, float('nan')):.3f}" for c in names) + " |")
    for r in payload["results"]:
        if r.get("pairwise"):
            lines += ["", f"Pairwise, {r['pipeline']}: trained on the row's corpus alone, UA on each column's:", "",
                      "| train \\ test | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for src, row in r["pairwise"].items():
                lines.append(f"| {src} | " + " | ".join(f"{row[c]:.3f}" if c in row else "-" for c in names) + " |")
    lines += ["", "![held-out UA](held-out.png)"]
    return "\n".join(lines) + "\n"


def plot_cross_corpus(payload: dict, path) -> None:

    matplotlib.use("Agg")

    names, rows = payload["corpora"], payload["results"]
    m = np.array([[r["held_out"][c] for c in names] + [r["mean_held_out_UA"]] for r in rows])
    fig, ax = plt.subplots(figsize=(1.4 + 0.85 * (len(names) + 1), 0.9 + 0.5 * len(rows)))
    ax.imshow(m, cmap="viridis", vmin=0.2, vmax=1.0, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="white" if m[i, j] < 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(names) + 1), names + ["mean"], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [r["pipeline"] for r in rows])
    ax.set_title("UA on the held-out corpus (leave-one-corpus-out)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)
