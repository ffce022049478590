"""Figures written into run directories (matplotlib, Agg backend, atomic writes)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

from .fileio import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes, path, *, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def plot_learning_curves(curves, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, hist in curves:
        ep = [h["epoch"] for h in hist]
        line, = ax.plot(ep, [h["val_loss"] for h in hist], label=f"{name} val", lw=1)
        ax.plot(ep, [h["train_loss"] for h in hist], color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (dotted: train)")
    if len(curves) <= 10:
        ax.legend(fontsize=6)
    _save(fig, path)


def plot_timeline(envelope, timeline, classes, path, *, title: str = "") -> None:
    """Waveform envelope (times, min, max) on top, per-class segment probabilities below."""
    t, lo, hi = envelope
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    a1.fill_between(t, lo, hi, lw=0, color="0.3")
    a1.set_ylabel("waveform")
    a1.set_title(title, fontsize=9)
    mid = (timeline["start"].to_numpy() + timeline["end"].to_numpy()) / 2
    for c in classes:
        a2.plot(mid, timeline[f"p_{c}"].to_numpy(), marker="o", ms=3, lw=1.2, label=c)
    a2.set_ylim(0, 1)
    a2.set_ylabel("probability")
    a2.set_xlabel("time (s)")
    a2.legend(fontsize=7, ncol=min(len(classes), 6), loc="upper right")
    _save(fig, path)


def plot_roc(y_true: np.ndarray, scores: np.ndarray, classes, path, *, title: str = "") -> None:
    """One-vs-rest ROC curve per class from clip scores, with each AUC (paper 004)."""
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for k, c in enumerate(classes):
        positive = y_true == k
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, scores[:, k])
        ax.plot(fpr, tpr, lw=1.2, label=f"{c} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def plot_recall_bars(report: dict, classes, path, *, title: str = "") -> None:
    """Per-class recall (clip level, all test folds pooled) with the UA line."""
    recalls = [report[c]["recall"] for c in classes]
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(classes), 3.2))
    ax.bar(range(len(classes)), recalls, color="tab:blue")
    ax.axhline(float(np.mean(recalls)), color="tab:red", ls="--", lw=1, label=f"UA {np.mean(recalls):.3f}")
    ax.axhline(1.0 / len(classes), color="0.5", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)
