"""Segment logits -> clip decisions -> metrics: for the folds of a training run
and for a trained model on other data (clean and with real noise, paper 002)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from segser.adaptation.heads import adapted_logits
from segser.adaptation.policy import adapt_rows, plan_for
from segser.adaptation.statistics import Statistics
from segser.errors import LabelError, check_choice
from segser.io.files import write_json
from segser.model import load_model
from segser.results.aggregate import RULES, TIE
from segser.results.timeline import clip_decision
from segser.results.types import NO_SPEECH
from segser.training import corpora
from segser.training import labels as labelsets
from segser.training.augment import NoiseBank
from segser.training.data import Embeddings, NoiseMix, embed_manifest
from segser.training.metrics import classification_metrics, roc_auc, segment_clip_metrics


def clip_predictions(logits: np.ndarray, emb: Embeddings, manifest: pd.DataFrame, classes: list[str],
                     aggregation: str, *, speech_gate: float = 0.0) -> pd.DataFrame:
    """One row per test clip: its label, the decision of every rule and the mean posteriors, over the
    clip's segments with speech (as the timeline decides, :func:`~segser.results.timeline.clip_decision`,
    without a minimum score); a clip with none is predicted ``no speech``."""
    rows = []
    voiced = emb.speech >= speech_gate
    for c in np.unique(emb.clip):
        mine = emb.clip == c
        lg = logits[mine & voiced]
        row = {"clip": int(c), "path": manifest.loc[c, "path"], "corpus": manifest.loc[c, "corpus"],
               "speaker": manifest.loc[c, "speaker"], "label": manifest.loc[c, "label"], "n_segments": int(len(lg))}
        for rule in RULES:
            row[f"pred_{rule}"] = clip_decision(lg, classes, rule=rule).label if len(lg) else NO_SPEECH
        row["prediction"] = row[f"pred_{aggregation}"]
        row.update({f"p_{k}": p for k, p in mean_posteriors(lg if len(lg) else logits[mine], classes).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def mean_posteriors(logits: np.ndarray, classes, temperature: float = 1.0) -> dict[str, float]:
    """A clip's mean segment posteriors (at a temperature): what its AUC and calibration are measured on."""
    return clip_decision(logits, classes, rule="summed_posteriors", temperature=temperature).probabilities


def label_indices(labels, classes: list[str]) -> np.ndarray:
    """Class indices; a tie or any name not among ``classes`` is -1 (counted wrong)."""
    idx = {c: i for i, c in enumerate(classes)}
    return np.array([idx.get(s, -1) for s in labels], dtype=int)


def clip_metrics(preds: pd.DataFrame, classes: list[str]) -> dict:
    """UA, WA, P/R/F1 and AUC of clip predictions (UA over the classes present)."""
    y, yhat = label_indices(preds["label"], classes), label_indices(preds["prediction"], classes)
    out = classification_metrics(y, yhat, len(classes))
    out["AUC"] = roc_auc(y, preds[[f"p_{c}" for c in classes]].to_numpy())
    out["n_clips"] = int(len(preds))
    return out


def evaluate_logits(logits, emb: Embeddings, manifest: pd.DataFrame, classes: list[str], aggregation: str, *,
                    speech_gate: float = 0.0):
    """Every metric for one test set: segment/clip metrics of 001 (over segments with speech), UA/WA/F1, AUC."""
    voiced = emb.speech >= speech_gate
    y_seg = label_indices(manifest["label"].to_numpy()[emb.clip[voiced]], classes)
    out = segment_clip_metrics(logits[voiced], y_seg, emb.clip[voiced])
    preds = clip_predictions(logits, emb, manifest, classes, aggregation, speech_gate=speech_gate)
    out.update(clip_metrics(preds, classes))
    out["n_segments"] = int(len(emb.clip))
    return out, preds


def per_corpus(preds: pd.DataFrame, classes: list[str]) -> dict:
    """UA/WA (and ECE) per corpus of pooled test predictions, over the classes each corpus has."""
    out = {}
    for corpus, g in preds.groupby("corpus", sort=False):
        m = clip_metrics(g, classes)
        y = label_indices(g["label"], classes)
        entry = {"UA": m["UA"], "WA": m["WA"], "n_clips": m["n_clips"],
                 "classes": [c for c in classes if c in set(g["label"])],
                 "recall": {c: float(np.mean(g.loc[g.label == c, "prediction"] == c)) for c in classes if (g.label == c).any()},
                 "ECE": expected_calibration_error(g[[f"p_{c}" for c in classes]].to_numpy(), y)}
        if f"pc_{classes[0]}" in g:
            entry["ECE_calibrated"] = expected_calibration_error(g[[f"pc_{c}" for c in classes]].to_numpy(), y)
        out[str(corpus)] = entry
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, *, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width
    confidence bins weighted by their share of samples (Guo et al. 2017)."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(float((pred[m] == y[m]).mean()) - float(conf[m].mean()))
    return float(total)


def clip_probabilities(logits: np.ndarray, emb: Embeddings, temperature: float = 1.0, *, speech_gate: float = 0.0) -> np.ndarray:
    """Mean segment posteriors per clip over its segments with speech (all of them where none has speech;
    clips in ascending order, as :func:`clip_predictions`), at a temperature."""
    voiced = emb.speech >= speech_gate
    out = []
    for c in np.unique(emb.clip):
        mine = emb.clip == c
        rows = logits[mine & voiced if np.any(mine & voiced) else mine]
        out.append(list(mean_posteriors(rows, range(logits.shape[1]), temperature).values()))
    return np.array(out)


def summarise(fold_metrics: list[dict]) -> dict:
    keys = [k for k in fold_metrics[0] if isinstance(fold_metrics[0][k], float)]
    out = {}
    for k in keys:
        vals = [m[k] for m in fold_metrics if m.get(k) is not None]
        if vals:
            out[k] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n_folds": len(vals)}
    return out


ROBUSTNESS_KEYS = ("UA", "WA", "weighted_precision", "weighted_recall", "weighted_f1", "ALCA", "SA")


def group_logits(model, emb: Embeddings, groups: np.ndarray | None, speech_gate: float, kind: str = "speaker") -> np.ndarray:
    """The model's logits with each group's embeddings (``None``: no adaptation) standardised by the statistics of
    its segments with speech (:func:`segser.adaptation.policy.adapted_logits`; ``kind``: what a group is, ``speaker`` or
    ``collection``)."""
    if groups is None:
        return model.logits(emb.X)
    logits, voiced = np.empty((len(emb.X), len(model.classes)), np.float32), emb.speech >= speech_gate
    for g in np.unique(groups):
        m = groups == g
        stats = Statistics.of(emb.X[m & voiced] if np.any(m & voiced) else emb.X[m])
        logits[m] = adapted_logits(model, emb.X[m], stats, kind)
    return logits


def auto_logits(model, emb: Embeddings, manifest: pd.DataFrame, speech_gate: float) -> tuple[np.ndarray, dict]:
    """``--adapt auto`` on each corpus of ``manifest`` as one batch with its speakers given; per corpus, how many
    speakers took each mode."""
    logits = np.empty((len(emb.X), len(model.classes)), np.float32)
    corpus = manifest["corpus"].astype(str).to_numpy()[emb.clip]
    speaker = manifest["speaker"].astype(str).to_numpy()[emb.clip]
    modes = {}
    for c in np.unique(corpus):
        m = corpus == c
        plan = plan_for(model, "auto", inputs=len(np.unique(emb.clip[m])), speakers={})  # speakers given
        logits[m], notes, _ = adapt_rows(model, plan, emb.X[m], voiced=emb.speech[m] >= speech_gate, groups=speaker[m],
                                         seconds=(emb.end[m] - emb.start[m]) * emb.speech[m])
        modes[c] = dict(Counter(note.label for note in notes.values()))
    return logits, modes


def evaluate_model(model, data: list, *, labels: str | None = None, out=None, rule: str = "mean_logits",
                   noise=None, snrs=(), seed: int = 0, progress: bool = True, adapt: str | None = None,
                   speech_gate: float | None = None) -> dict:
    """Metrics of a trained model on corpora ``data`` (CorpusSpec list): clean,
    plus each SNR with noise from the ``test`` split of ``noise`` (the same noisy
    test sets a training run with this seed builds). ``adapt``: ``none``,
    ``speaker`` (each corpus speaker's statistics from all of that speaker's
    clips; the default for a speaker-normalised model), ``collection`` (each
    corpus's statistics) or ``auto`` (what ``segser predict --adapt auto`` does
    with each corpus as one batch and its speakers given: the guarded rule)."""
    model = load_model(model, runtime="torch") if not hasattr(model, "classes") else model
    adapt = check_choice("adapt", adapt or ("speaker" if model.speaker_norm else "none"),
                         ("none", "speaker", "collection", "auto"))
    if adapt == "none" and model.speaker_norm:
        raise LabelError(f"{model.name}: a speaker-normalised model needs statistics: adapt speaker or collection")
    gate = model.speech_gate if speech_gate is None else speech_gate
    manifest = pd.concat([corpora.load(d.name, d.root, **d.options) for d in data], ignore_index=True)
    manifest, _ = labelsets.apply(manifest, labels or ",".join(model.classes))
    unknown = sorted(set(manifest["label"]) - set(model.classes))
    if unknown:
        raise LabelError(f"labels {', '.join(unknown)} are not among the model's classes {', '.join(model.classes)}")
    conditions = {"clean": None}
    if noise is not None and snrs:
        bank = NoiseBank.from_dir(noise, split="test", sample_rate=model.sample_rate)
        conditions.update({f"{snr:g} dB": NoiseMix.test_set(bank, snr, seed=seed) for snr in snrs})
    results = {}
    for name, mix in conditions.items():
        emb = embed_manifest(manifest, model.encoder, model.segmentation, noise=mix, progress=progress)
        modes = None
        if adapt == "auto":
            logits, modes = auto_logits(model, emb, manifest, gate)
        else:
            column = {"none": None, "speaker": "speaker", "collection": "corpus"}[adapt]
            groups = None if column is None else manifest[column].astype(str).to_numpy()[emb.clip]
            logits = group_logits(model, emb, groups, gate, "collection" if adapt == "collection" else "speaker")
        metrics, preds = evaluate_logits(logits, emb, manifest, model.classes, rule, speech_gate=gate)
        if modes is not None:
            metrics["adaptation"] = modes
        if model.temperature != 1.0:  # the model's calibrated probabilities beside the raw ones: ECE before and after
            calibrated = clip_probabilities(logits, emb, model.temperature, speech_gate=gate)
            for i, c in enumerate(model.classes):
                preds[f"pc_{c}"] = calibrated[:, i]
        metrics["per_corpus"] = per_corpus(preds, model.classes)
        results[name] = metrics
    result = {"model": model.name, "data": [d.name for d in data], "classes": model.classes, "aggregation": rule,
              "adapt": adapt, "speech_gate": gate,
              "noise": Path(noise).name if noise else None, "seed": seed, "conditions": results}
    if out:
        write_json(Path(out), result)
    return result


def format_evaluation(result: dict) -> str:
    keys = ["UA", "WA", "weighted_precision", "weighted_recall", "weighted_f1", "ALCA", "SA"]
    lines = [f"model {result['model']} on {'+'.join(result['data'])} ({len(result['classes'])} classes, {result['aggregation']})",
             f"{'condition':<10}" + "".join(f"{k[:12]:>13}" for k in keys)]
    for cond, m in result["conditions"].items():
        lines.append(f"{cond:<10}" + "".join(f"{m[k]:13.3f}" for k in keys))
    clean = result["conditions"]["clean"]["per_corpus"]
    for corpus, pc in clean.items():
        ece = f"ECE {pc['ECE']:.3f}" + (f", calibrated {pc['ECE_calibrated']:.3f}" if "ECE_calibrated" in pc else "")
        lines.append(f"{corpus}: UA {pc['UA']:.3f} over {', '.join(pc['classes'])} ({pc['n_clips']} clips), {ece}")
    for corpus, modes in result["conditions"]["clean"].get("adaptation", {}).items():
        lines.append(f"{corpus}: --adapt auto, speakers per mode: " + ", ".join(f"{k} {v}" for k, v in modes.items()))
    return "\n".join(lines)


__all__ = ["TIE", "clip_predictions", "evaluate_logits", "evaluate_model", "per_corpus", "summarise"]
