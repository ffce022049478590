"""End-to-end fine-tuning of a backbone with its head, on segment waveforms.

Used by ``train.run`` when the config has ``finetune`` set, e.g.
``{"blocks": 2, "backbone_lr": 1e-5}``: the last ``blocks`` blocks of the
backbone (all if null) train with ``backbone_lr`` beside the head (``lr``);
the rest stays frozen. ``"in_context": true`` (Whisper) encodes each segment
inside its clip's window, as the frozen pipeline and predict do, instead of
alone. ``"warm_start": true`` first trains the head on the frozen embeddings
(as a frozen run would) and fine-tunes from there; each fold then also
reports ``UA_before_finetune``, its frozen head's figure. ``head_lr`` and
``patience`` inside ``finetune`` override ``lr``/``patience`` for the
fine-tuning stage only. Splits, early stopping, metrics and outputs are the
same as for frozen backbones; only the features are recomputed every step.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .audio import AudioError, load
from .segments import Segmentation, cut, spans_for
from .store import Embeddings
from .train import fit_epochs


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


def segment_waveforms(manifest: pd.DataFrame, backbone, segmentation: Segmentation, *, in_context: bool = False,
                      progress: bool = True):
    """All segments' samples (n, samples) with their clip index and spans;
    ``in_context``: each segment's clip window instead (see :func:`context_windows`)."""
    if segmentation.method != "fixed":
        raise ValueError("fine-tuning needs fixed-length segments")
    if in_context and not hasattr(backbone, "context_segment_forward"):
        raise ValueError(f"fine-tuning in clip context is not available for the {backbone.name} backbone")
    waves, clip, start, end, errors = [], [], [], [], {}
    for i, path in enumerate(tqdm(manifest["path"], desc="load", disable=not progress, leave=False)):
        try:
            x = load(path, sample_rate=backbone.sample_rate)
        except AudioError as exc:
            errors[i] = str(exc)
            continue
        spans = spans_for(x, sample_rate=backbone.sample_rate, segmentation=segmentation)
        waves.append(context_windows(x, spans, sample_rate=backbone.sample_rate, context=backbone.context) if in_context
                     else cut(x, spans, sample_rate=backbone.sample_rate, length=segmentation.length))
        clip += [i] * len(spans)
        start += [s for s, _ in spans]
        end += [e for _, e in spans]
    return (np.concatenate(waves), Embeddings(np.zeros((len(clip), 0), np.float32), np.array(clip), np.array(start),
                                               np.array(end), errors))


class FineTuned(nn.Module):
    def __init__(self, backbone, head: nn.Module, *, in_context: bool = False):
        super().__init__()
        self.backbone, self.head, self.in_context = backbone, head, in_context

    def forward(self, segments):
        encode = self.backbone.context_segment_forward if self.in_context else self.backbone.segment_forward
        return self.head(encode(segments))


def fit_finetune(backbone, head: nn.Module, W_tr, y_tr, W_va, y_va, cfg, *, class_weight=None):
    """Adam with two learning rates, early stopping on validation loss, best epoch restored."""
    torch.manual_seed(cfg.seed)
    bb = copy.deepcopy(backbone)
    ft = cfg.finetune or {}
    for p in bb.parameters():
        p.requires_grad_(False)
    tail = bb.tail_parameters(ft.get("blocks"))
    for p in tail:
        p.requires_grad_(True)
    model = FineTuned(bb, head, in_context=bool(ft.get("in_context")))
    opt = torch.optim.Adam([{"params": tail, "lr": ft.get("backbone_lr", 1e-5)},
                            {"params": head.parameters(), "lr": ft.get("head_lr", cfg.lr)}], weight_decay=cfg.weight_decay)
    return fit_epochs(model, opt, nn.CrossEntropyLoss(weight=class_weight), (W_tr, y_tr), (W_va, y_va),
                      epochs=ft.get("epochs", cfg.max_epochs), patience=ft.get("patience", cfg.patience),
                      batch_size=cfg.batch_size,
                      seed=cfg.seed, val_batch=256, keep_eval=bb)
