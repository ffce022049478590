"""Figures written into run directories (matplotlib, Agg backend, atomic writes)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

from segser.io.files import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch


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


# the page's colours (src/segser/web/app.js), so a plot and the page read alike
EMOTION_COLOURS = {"angry": "#d7263d", "disgust": "#6b8e23", "fear": "#7b2cbf", "happy": "#f5a300", "neutral": "#8d99ae",
                   "sad": "#1b6ca8", "surprise": "#00a6a6", "calm": "#2a9d8f", "boredom": "#9c6644", "excited": "#ff6f59",
                   "frustrated": "#c1121f", "other": "#adb5bd", "uncertain": "#d9dde5", "no speech": "#f1f2f5"}


MAX_TRANSCRIPT_LINES = 24  # a plot lists this many utterances; the page and the files hold them all


def plot_timeline(envelope, timeline, classes, path, *, title: str = "", turns=None) -> None:
    """Waveform envelope (times, min, max) on top; a lane per speaker (one lane without speakers) with a colour
    strip of each segment's emotion and, when speakers were found, their turns; per-class probabilities below
    (broken where there is no speech); with words, the transcript's first lines, each in its emotion's colour."""

    speakers = [s for s in dict.fromkeys(timeline["speaker"]) if s != "-"] if "speaker" in timeline else [None]
    lanes = max(1, len(speakers))
    lines = timeline[timeline["text"].fillna("") != ""].head(MAX_TRANSCRIPT_LINES) if "text" in timeline else timeline.iloc[:0]
    panels = 4 if len(lines) else 3
    ratios = [1, 0.45 * lanes, 2] + ([0.16 * len(lines) + 0.2] if len(lines) else [])
    fig, axes = plt.subplots(panels, 1, figsize=(10, 4.5 + 0.35 * lanes + 0.22 * len(lines)),
                             gridspec_kw={"height_ratios": ratios})
    a1, lane, a2 = axes[:3]
    for ax in (a1, lane):
        ax.sharex(a2)
        ax.tick_params(labelbottom=False)
    t, lo, hi = envelope
    a1.fill_between(t, lo, hi, lw=0, color="0.3")
    a1.set_ylabel("waveform")
    a1.set_title(title, fontsize=9)
    for k, sp in enumerate(speakers):
        rows = timeline if sp is None else timeline[timeline["speaker"] == sp]
        y = lanes - 1 - k
        for r in rows.itertuples(index=False):
            lane.add_patch(plt.Rectangle((r.start, y + 0.15), r.end - r.start, 0.6, lw=0,
                                         color=EMOTION_COLOURS.get(r.label, "#444444")))
        for tr in turns or []:
            if tr.speaker == sp:
                lane.plot([tr.start, tr.end], [y + 0.08, y + 0.08], color="0.2" if not tr.overlap else "0.6", lw=2)
    lane.set_ylim(0, lanes)
    lane.set_yticks([lanes - 1 - k + 0.45 for k in range(lanes)], [str(sp) if sp is not None else "emotion" for sp in speakers],
                    fontsize=8)
    mid = (timeline["start"].to_numpy() + timeline["end"].to_numpy()) / 2
    for c in classes:
        a2.plot(mid, timeline[f"p_{c}"].to_numpy(dtype=float), marker="o", ms=3, lw=1.2, label=c,
                color=EMOTION_COLOURS.get(c))
    a2.set_ylim(0, 1)
    a2.set_ylabel("probability")
    a2.set_xlabel("time (s)")
    shown = [c for c in classes] + [x for x in ("no speech", "uncertain") if (timeline["label"] == x).any()]
    lane.legend(handles=[Patch(color=EMOTION_COLOURS.get(c, "#444444"), label=c) for c in shown], fontsize=7,
                ncol=min(len(shown), 8), loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if len(lines):
        text = axes[3]
        text.axis("off")
        for i, r in enumerate(lines.to_dict("records")):
            who = f"{r['speaker']} " if r.get("speaker") not in (None, "-") else ""
            emotion = r["label"] if r["score"] != r["score"] else f"{r['label']} {r['score']:.2f}"
            text.text(0.0, 1 - (i + 0.5) / len(lines), f"{r['start']:7.1f} s  {who}({emotion}): {r['text']}"[:150],
                      transform=text.transAxes, fontsize=8, va="center", family="monospace",
                      color=EMOTION_COLOURS.get(r["label"], "#444444"))
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
