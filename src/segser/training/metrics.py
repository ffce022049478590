"""Segment and clip metrics: paper 001's SA, ACA, SCA, ALCA, BCA (section 3.3),
plus UA/WA, precision/recall/F1, confusion, ROC AUC."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from segser.results.aggregate import Tally, decide


def group_by_clip(clip_ids) -> dict:
    groups: dict = {}
    for i, c in enumerate(clip_ids):
        groups.setdefault(c, []).append(i)
    return groups


def segment_clip_metrics(logits: np.ndarray, seg_labels: np.ndarray, clip_ids) -> dict[str, float]:
    """SA, ACA, SCA, ALCA, BCA for segment logits (n_segments, n_classes).

    All segments of a clip share its label. Ties: SCA counts a clip correct only
    if the vote set M has exactly one class and it is right; BCA counts it
    correct if the true class is anywhere in M.
    """
    logits = np.asarray(logits, dtype=np.float64)
    seg_labels = np.asarray(seg_labels)
    if not len(logits):  # no segment with speech to score
        return {k: float("nan") for k in ("SA", "ACA", "SCA", "ALCA", "BCA")}
    pred = logits.argmax(axis=1)
    groups = group_by_clip(clip_ids)
    aca = sca = alca = bca = 0
    for idx in groups.values():
        y = seg_labels[idx[0]]
        if np.any(seg_labels[idx] != y):
            raise ValueError("segments of one clip carry different labels")
        lg = logits[idx]
        m = Tally.of(lg).vote_set()
        aca += bool(np.all(pred[idx] == y))
        sca += bool(m.size == 1 and m[0] == y)
        bca += bool(y in m)
        alca += bool(decide(lg, "mean_logits") == y)
    n = len(groups)
    return {"SA": float(np.mean(pred == seg_labels)), "ACA": aca / n, "SCA": sca / n, "ALCA": alca / n, "BCA": bca / n}


def classification_metrics(y_true, y_pred, n_classes: int) -> dict[str, float]:
    """UA (macro recall = balanced accuracy), WA (accuracy), macro/weighted P/R/F1.
    An abstention (-1) counts as wrong."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = list(range(n_classes))
    recalls = [np.mean(y_pred[y_true == k] == k) for k in labels if np.any(y_true == k)]
    out = {"UA": float(np.mean(recalls)), "WA": float(np.mean(y_true == y_pred))}
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(p), float(r), float(f)
    return out


def roc_auc(y_true, scores: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC AUC from clip scores; None if a class is absent."""
    y_true = np.asarray(y_true)
    k = scores.shape[1]
    if len(np.unique(y_true)) < k:
        return None
    if k == 2:
        return float(skm.roc_auc_score(y_true, scores[:, 1]))
    return float(skm.roc_auc_score(y_true, scores, multi_class="ovr", average="macro", labels=list(range(k))))


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    return skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def per_class_report(y_true, y_pred, classes: list[str]) -> dict:
    return skm.classification_report(y_true, y_pred, labels=list(range(len(classes))), target_names=classes,
                                     output_dict=True, zero_division=0)
