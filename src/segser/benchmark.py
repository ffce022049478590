"""`segser benchmark`: run a suite of pipelines on corpora under their
speaker-independent protocols, in one process, and write results.json and
report.md. Every figure in the report is read from the runs it made.

A suite is JSON: {"name": ..., "corpora": [{"name", "root"}...],
"pipelines": [{"name": ..., <TrainConfig fields>}...], "seed": 0}; each
pipeline runs on each corpus (its own protocol unless the pipeline sets one).
"""
from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from . import __version__
from .errors import ConfigError
from .config import TrainConfig
from .fileio import write_json, write_text
from .train import run

REPORT_KEYS = ("UA", "WA", "macro_f1", "AUC", "ALCA", "SA", "ACA", "SCA", "BCA")


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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for pipe in suite["pipelines"]:
        for corpus in suite["corpora"]:
            opts = {k: v for k, v in pipe.items() if k != "name"}
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
    payload = {"suite": suite.get("name", "suite"), "segser_version": __version__, "seed": suite.get("seed", 0),
               "results": results}
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
