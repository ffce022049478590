"""End-to-end fine-tuning of a backbone with its head, on segment waveforms.

Used by ``train.run`` when the config has ``finetune`` (a
:class:`~segser.training.config.FinetuneConfig`): the last ``blocks`` blocks of the
backbone (all if null) train with ``backbone_lr`` beside the head; the rest
stays frozen. ``in_context`` (Whisper) encodes each segment inside its clip's
window, as the frozen pipeline and predict do, instead of alone. ``warm_start``
first trains the head on the frozen embeddings and fine-tunes from there; each
fold then also reports ``UA_before_finetune``. Splits, early stopping, the
optimiser and its schedule, metrics and outputs are those of frozen backbones;
only the features are recomputed every step.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from segser.errors import AudioError, ConfigError
from segser.heads import EmotionHead
from segser.training.data import Embeddings, clip_signal, clips, embed_manifest
from segser.training.evaluation import evaluate_logits
from segser.training.loop import class_weight_tensor, fit_epochs, fit_head, logits_of, make_optimizer


def cut(x: np.ndarray, spans, *, sample_rate: int, length: float) -> np.ndarray:
    """Samples of each span from its start, zero-padded to ``length`` seconds: (n, samples)."""
    n = int(round(length * sample_rate))
    out = np.zeros((len(spans), n), dtype=np.float32)
    for i, (s, _) in enumerate(spans):
        a = int(round(s * sample_rate))
        piece = x[a: min(a + n, x.size)]
        out[i, : piece.size] = piece
    return out


def context_windows(x: np.ndarray, spans, *, sample_rate: int, context: float) -> np.ndarray:
    """For each span, the ``context``-long window that holds its start (windows
    tile the clip from 0, as the frozen backbone encodes it), zero-padded, with
    the span's start and end within that window appended."""
    win = int(round(context * sample_rate))
    rows = np.zeros((len(spans), win + 2), np.float32)
    for i, (s, e) in enumerate(spans):
        w0 = int(s // context) * win
        piece = x[w0: w0 + win]
        rows[i, : piece.size] = piece
        rows[i, -2:] = (s - w0 / sample_rate, e - w0 / sample_rate)
    return rows


def segment_waveforms(manifest: pd.DataFrame, backbone, segmentation, *, in_context: bool = False,
                      progress: bool = True):
    """All segments' samples (n, samples) with their clip index and spans;
    ``in_context``: each segment's clip window instead (see :func:`context_windows`)."""
    if segmentation.method != "fixed":
        raise ConfigError("fine-tuning needs fixed-length segments")
    if in_context and not hasattr(backbone, "context_segment_forward"):
        raise ConfigError(f"fine-tuning in clip context is not available for the {backbone.name} backbone")
    sr, segmenter = backbone.sample_rate, segmentation.segmenter()
    waves, clip, start, end, errors = [], [], [], [], {}
    for i, path, digest in clips(manifest["path"], errors=errors, progress=progress, desc="load"):
        try:
            x = clip_signal(path, digest, sample_rate=sr)
        except AudioError as exc:
            errors[i] = str(exc)
            continue
        spans = segmenter.spans(x, sr)
        waves.append(context_windows(x, spans, sample_rate=sr, context=backbone.window_seconds) if in_context
                     else cut(x, spans, sample_rate=sr, length=segmentation.length))
        clip += [i] * len(spans)
        start += [s for s, _ in spans]
        end += [e for _, e in spans]
    # fine-tuning trains on every segment (no speech gate: the VAD is not run here)
    return (np.concatenate(waves), Embeddings(np.zeros((len(clip), 0), np.float32), np.array(clip), np.array(start),
                                               np.array(end), np.ones(len(clip), np.float32), errors))


def prepare(cfg, manifest, backbone, *, progress: bool):
    """(segments, waveforms): the segments' spans (with the frozen embeddings
    aligned with them when the head is warm-started) and their waveforms."""
    ft = cfg.finetune
    waves, emb = segment_waveforms(manifest, backbone, cfg.segmentation, progress=progress, in_context=ft.in_context)
    if ft.warm_start:
        frozen = embed_manifest(manifest, backbone, cfg.segmentation, progress=progress)
        if not (np.array_equal(frozen.clip, emb.clip) and np.allclose(frozen.start, emb.start)):
            raise ConfigError("warm_start: frozen embeddings and fine-tuning segments do not line up")
        emb = emb.with_features(frozen.X)
    return emb, waves


class FineTuned(nn.Module):
    def __init__(self, backbone, head: nn.Module, *, in_context: bool = False):
        super().__init__()
        self.backbone, self.head, self.in_context = backbone, head, in_context

    def forward(self, segments):
        encode = self.backbone.context_segment_forward if self.in_context else self.backbone.segment_forward
        return self.head(encode(segments))


def fit_finetune(backbone, head: nn.Module, W_tr, y_tr, W_va, y_va, cfg, *, class_weight=None):
    """The backbone's tail and the head trained together: two learning rates, the
    config's optimiser and schedule, early stopping, best epoch restored."""
    torch.manual_seed(cfg.seed)
    ft = cfg.finetune
    bb = copy.deepcopy(backbone)
    for p in bb.parameters():
        p.requires_grad_(False)
    tail = bb.tail_parameters(ft.blocks)
    for p in tail:
        p.requires_grad_(True)
    model = FineTuned(bb, head, in_context=ft.in_context)
    opt, schedule = make_optimizer(cfg, [{"params": tail, "lr": ft.backbone_lr},
                                         {"params": head.parameters(), "lr": ft.head_lr or cfg.lr}])
    return fit_epochs(model, opt, nn.CrossEntropyLoss(weight=class_weight), (W_tr, y_tr), (W_va, y_va),
                      epochs=ft.epochs or cfg.max_epochs, patience=ft.patience or cfg.patience,
                      batch_size=cfg.batch_size, seed=cfg.seed, schedule=schedule, val_batch=256, keep_eval=bb)


def run_fold(cfg, backbone, waves, clean: Embeddings, fold, y_of_clip, classes, manifest):
    """(model, history, test logits, the warm-started head's metrics or None) of one fold."""
    mtr, mva, mte = (np.isin(clean.clip, s) for s in (fold.train, fold.val, fold.test))
    y = y_of_clip[clean.clip]
    head = EmotionHead(backbone.dim, len(classes), cfg.head, **cfg.head_options)
    before = None
    if cfg.finetune.warm_start:
        head, _ = fit_head(clean.X[mtr], y[mtr], clean.X[mva], y[mva], len(classes), cfg)
        sub = clean.select(fold.test)
        before, _ = evaluate_logits(logits_of(head, sub.X), sub, manifest, classes, cfg.aggregation)
    model, hist = fit_finetune(backbone, head, waves[mtr], y[mtr], waves[mva], y[mva], cfg,
                               class_weight=class_weight_tensor(y[mtr], len(classes)) if cfg.class_weights else None)
    return model, hist, logits_of(model, waves[mte], batch=64), before
