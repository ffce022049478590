"""Evaluate a trained model on other data, clean and under real noise (paper 002)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import corpora, labels as labelsets
from .audio import AudioError, load
from .augment import NoiseBank
from .inference import load_model
from .store import Embeddings, embed_manifest, embed_signal
from .train import evaluate_logits, write_json_atomic


def _embed_noisy(manifest, model, bank: NoiseBank, snr: float, seed: int) -> Embeddings:
    X, clip, start, end, errors = [], [], [], [], {}
    for i, path in enumerate(tqdm(manifest["path"], desc=f"noisy {snr:g} dB", leave=False)):
        try:
            x = load(path, sample_rate=model.backbone.sample_rate)
        except AudioError as exc:
            errors[i] = str(exc)
            continue
        rng = np.random.default_rng([seed, i, int(round(snr * 10))])
        emb, spans = embed_signal(bank.mix(x, snr, rng), model.backbone, model.segmentation, name=path)
        spans = np.asarray(spans).reshape(-1, 2)
        X.append(emb), clip.append(np.full(len(emb), i)), start.append(spans[:, 0]), end.append(spans[:, 1])
    return Embeddings(np.concatenate(X), np.concatenate(clip), np.concatenate(start), np.concatenate(end), errors)


def evaluate_run(run, data: list[dict], *, labels: str | None = None, out=None, rule: str = "mean_logits",
                 noise=None, snrs=(), seed: int = 0) -> dict:
    """Metrics of the run's final model on ``data`` (clean, plus each SNR with noise
    drawn from the ``test`` split of ``noise`` when it has one)."""
    model = load_model(run)
    manifest = pd.concat([corpora.load(d["name"], d["root"]) for d in data], ignore_index=True)
    manifest, _ = labelsets.apply(manifest, labels or ",".join(model.classes))
    unknown = sorted(set(manifest["label"]) - set(model.classes))
    if unknown:
        raise labelsets.LabelError(f"labels {', '.join(unknown)} are not among the model's classes {', '.join(model.classes)}")
    conditions = {"clean": lambda: embed_manifest(manifest, model.backbone, model.segmentation)}
    if noise is not None and snrs:
        bank = NoiseBank.from_dir(noise, split="test", sample_rate=model.backbone.sample_rate)
        for snr in snrs:
            conditions[f"{snr:g} dB"] = (lambda s=snr: _embed_noisy(manifest, model, bank, s, seed))
    results = {}
    for name, make in conditions.items():
        emb = make()
        with torch.no_grad():
            lg = model.head(torch.from_numpy(emb.X)).numpy()
        metrics, _ = evaluate_logits(lg, emb, manifest, model.classes, rule)
        results[name] = metrics
    result = {"model": str(model.source), "data": [d["name"] for d in data], "classes": model.classes,
              "aggregation": rule, "noise": str(noise) if noise else None, "seed": seed, "conditions": results}
    if out:
        write_json_atomic(Path(out), result)
    return result


def format_evaluation(result: dict) -> str:
    keys = ["UA", "WA", "weighted_precision", "weighted_recall", "weighted_f1", "ALCA", "SA"]
    lines = [f"model {result['model']} on {'+'.join(result['data'])} ({len(result['classes'])} classes, {result['aggregation']})",
             f"{'condition':<10}" + "".join(f"{k[:12]:>13}" for k in keys)]
    for cond, m in result["conditions"].items():
        lines.append(f"{cond:<10}" + "".join(f"{m[k]:13.3f}" for k in keys))
    return "\n".join(lines)
