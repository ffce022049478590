"""Running a trained model on recordings: a segment timeline plus clip decisions.

>>> import segser
>>> timeline, decisions = segser.predict(["speech.wav"])  # doctest: +SKIP
>>> timeline.loc["speech.wav"]                             # doctest: +SKIP

``timeline`` is indexed by (file, start, end) like audinterface; ``decisions``
by file. Long files are streamed in blocks, so memory does not grow with length.
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import backbones
from .aggregate import RULES, clip_scores, decide
from .audio import AUDIO_SUFFIXES, AudioError, blocks, find_audio, info
from .fileio import file_digest, write_text
from .segments import Segmentation, fixed_spans, speech_spans
from .train import EmotionHead, TrainConfig

DEFAULT_MODEL_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "default"


class ModelError(ValueError):
    pass


@dataclass
class Model:
    """A backbone, a trained head and how to segment: everything to predict."""

    config: TrainConfig
    head: EmotionHead
    classes: list[str]
    backbone: backbones.Backbone
    source: str
    card: dict = field(default_factory=dict)

    @property
    def segmentation(self) -> Segmentation:
        return self.config.segmentation


def resolve_model_dir(model) -> Path:
    if model is None:
        model = DEFAULT_MODEL
    p = Path(model)
    if p.is_dir():
        return p
    builtin = DEFAULT_MODEL_DIR / str(model)
    if builtin.is_dir():
        return builtin
    known = sorted(d.name for d in DEFAULT_MODEL_DIR.iterdir() if d.is_dir() and (d / "model.pt").exists())
    raise ModelError(f"{model}: not a run directory nor a built-in model (built-in: {', '.join(known) or 'none'})")


def load_model(model=None, *, backbone=None) -> Model:
    """Load a run directory (from ``segser train``) or a built-in model by name
    (default: ``default``). A ``model.pt.sha256`` beside the weights is verified."""
    d = resolve_model_dir(model)
    weights, cfg_path = d / "model.pt", d / "config.json"
    for p in (weights, cfg_path):
        if not p.exists():
            raise ModelError(f"{d}: no {p.name}; train with 'segser train' (with a final model) first")
    checksum = d / "model.pt.sha256"
    if checksum.exists():
        expected = checksum.read_text().split()[0]
        if file_digest(weights) != expected:
            raise ModelError(f"{weights}: checksum mismatch (expected {expected}); the model file is corrupt or altered")
    raw = json.loads(cfg_path.read_text())
    raw.pop("protocol_resolved", None)
    cfg = TrainConfig.from_dict(raw)
    if cfg.speaker_norm or cfg.speaker_vectors:
        raise ModelError(f"{d}: trained with speaker adaptation (per-speaker statistics), which predicting single "
                         "files cannot supply; evaluate it with 'segser train' folds, or train without "
                         "--speaker-norm/--speaker-vectors for predict")
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    head = EmotionHead(state["in_dim"], len(state["classes"]), state["head"], **state["head_options"])
    head.load_state_dict(state["state_dict"])
    head.eval()
    bb = backbone or backbones.create(cfg.backbone, **cfg.backbone_options)
    if bb.dim != state["in_dim"]:
        raise ModelError(f"{d}: head expects {state['in_dim']}-d features but backbone gives {bb.dim}-d")
    card = {}
    if (d / "card.json").exists():
        card = json.loads((d / "card.json").read_text())
    return Model(cfg, head, list(state["classes"]), bb, str(d), card)


def expand_inputs(inputs) -> tuple[list[Path], dict[str, str]]:
    """Files and directories -> audio files; problems per input in ``errors``."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    files, errors = [], {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = find_audio(p)
            if not found:
                errors[str(p)] = f"{p}: directory contains no audio files ({', '.join(AUDIO_SUFFIXES)})"
            files += found
        else:
            files.append(p)
    return files, errors


def _block_spans(block_start: float, block_len: float, x: np.ndarray, sr: int, seg: Segmentation,
                 fixed: list[tuple[float, float]]):
    """Spans (relative to the block) of segments that START in this block's own
    stretch; ``fixed`` holds the whole file's fixed windows, sorted by start."""
    if seg.method == "clip":  # one span per block: the whole (stretch of the) recording
        return [(0.0, round(min(block_len, x.size / sr), 6))]
    if seg.method == "vad":
        spans = speech_spans(x, sample_rate=sr, min_speech=seg.min_speech, max_length=seg.max_length)
        return [(s, e) for s, e in spans if s < block_len]
    lo = bisect.bisect_left(fixed, (block_start - 1e-9,))
    hi = bisect.bisect_left(fixed, (block_start + block_len - 1e-9,))
    return [(round(s - block_start, 6), round(e - block_start, 6)) for s, e in fixed[lo:hi]]


def segmentation_override(model: Model, *, segment: float | None = None, hop: float | None = None,
                          vad: bool = False) -> Segmentation | None:
    """The model's segmentation with a new length, hop or VAD; None if nothing changes.
    A new length without a hop gives non-overlapping segments of that length."""
    if not vad and segment is None and hop is None:
        return None
    s = model.segmentation
    length = segment if segment is not None else s.length
    return Segmentation(length=length, hop=hop if hop is not None else (length if segment is not None else s.hop),
                        method="vad" if vad else "fixed")


def _heap_trimmer():
    """glibc's malloc_trim, or a no-op elsewhere. Streaming thousands of blocks
    fragments glibc's heap (peak RSS 612 MB for 1 h of audio against 447 MB for
    6 min); returning free pages every 8 blocks keeps it flat (476 MB)."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
        return lambda: trim(0)
    except (OSError, AttributeError):
        return lambda: None


_trim_heap = _heap_trimmer()


def predict_file(model: Model, path, *, rule: str = "mean_logits",
                 segmentation: Segmentation | None = None) -> tuple[pd.DataFrame, dict]:
    """Timeline (one row per segment) and the clip decision for one file;
    ``segmentation`` overrides the model's own for this call only."""
    meta = info(path)
    sr = model.backbone.sample_rate
    seg = segmentation or model.segmentation
    notes = []
    if meta.sample_rate < sr:
        notes.append(f"upsampled from {meta.sample_rate} Hz (bandwidth below the model's {sr // 2} Hz)")
    if meta.channels > 1:
        notes.append(f"{meta.channels} channels mixed to mono")
    window = float(getattr(model.backbone, "context", 60.0))
    overlap = seg.length if seg.method == "fixed" else 0.0
    step = window - overlap if window > overlap else window
    total = meta.duration
    rows, logits_all = [], []
    fixed = fixed_spans(total, length=seg.length, hop=seg.hop) if seg.method == "fixed" else []
    for i, (block_start, x) in enumerate(blocks(path, sample_rate=sr, block_seconds=step + overlap, overlap_seconds=overlap)):
        if i % 8 == 7:
            _trim_heap()
        spans = _block_spans(block_start, step, x, sr, seg, fixed)
        if not spans:
            continue
        with torch.no_grad():
            lg = model.head(torch.from_numpy(model.backbone.embed(x, spans))).numpy()
        logits_all.append(lg)
        rows += [(block_start + s, block_start + e) for s, e in spans]
    if not rows:
        raise AudioError(path, "no speech segments found" if seg.method == "vad" else "too short for one segment")
    logits = np.concatenate(logits_all)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    classes = model.classes
    timeline = pd.DataFrame({"file": str(path), "start": [round(s, 3) for s, _ in rows],
                             "end": [round(min(e, total), 3) for _, e in rows]})
    timeline["label"] = [classes[k] for k in probs.argmax(1)]
    timeline["score"] = probs.max(1)
    for i, c in enumerate(classes):
        timeline[f"p_{c}"] = probs[:, i]
    k = decide(logits, rule)
    scores = clip_scores(logits)
    decision = {"file": str(path), "label": classes[k] if k >= 0 else "undecided (tie)",
                "score": float(scores[k]) if k >= 0 else float("nan"), "rule": rule,
                "n_segments": int(len(rows)), "duration": round(total, 3), "notes": "; ".join(notes)}
    decision.update({f"p_{c}": float(s) for c, s in zip(classes, scores)})
    return timeline, decision


def predict(inputs, model=None, *, rule: str = "mean_logits", progress: bool = False, segmentation: Segmentation | None = None):
    """Predict every audio file in ``inputs`` (files and/or directories).

    Returns ``(timeline, decisions, errors)``: timeline indexed by
    (file, start, end), decisions by file, errors a {input: message} dict for
    files that could not be processed (the others still are).
    """
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; available: {', '.join(RULES)}")
    m = model if isinstance(model, Model) else load_model(model)
    files, errors = expand_inputs(inputs)
    timelines, decisions = [], []
    for f in tqdm(files, desc="predict", disable=not progress or len(files) < 2):
        try:
            t, d = predict_file(m, f, rule=rule, segmentation=segmentation)
        except AudioError as exc:
            errors[str(f)] = str(exc)
            continue
        timelines.append(t)
        decisions.append(d)
    cols = ["file", "start", "end", "label", "score"] + [f"p_{c}" for c in m.classes]
    timeline = (pd.concat(timelines, ignore_index=True) if timelines else pd.DataFrame(columns=cols)).set_index(["file", "start", "end"])
    dec = pd.DataFrame(decisions, columns=["file", "label", "score", "rule", "n_segments", "duration", "notes"]
                       + [f"p_{c}" for c in m.classes]).set_index("file")
    return timeline, dec, errors


def _plain(value):
    """JSON-safe scalar: numpy types to Python, NaN to None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def file_json(file: str, decision, segments: pd.DataFrame) -> dict:
    """One file's entry of the JSON output: its clip decision (without the
    file name) and its segments (start, end, label, score, p_*)."""
    return {"file": file, "decision": {k: _plain(v) for k, v in decision.items() if k != "file"},
            "segments": [{k: _plain(v) for k, v in r.items()} for r in segments.to_dict("records")]}


def results_json(model: Model, timeline: pd.DataFrame, decisions: pd.DataFrame, errors: dict) -> dict:
    """The JSON document of ``segser predict --json``: :func:`file_json` per file."""
    files = [file_json(f, d, timeline.loc[f].reset_index()) for f, d in decisions.iterrows()]
    return {"model": model.source, "classes": model.classes, "files": files, "errors": errors}


def segments_table(timeline: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per segment with its file's clip label (the CSV output)."""
    return timeline.reset_index().merge(decisions[["label"]].rename(columns={"label": "clip_label"}),
                                        left_on="file", right_index=True)


OUTPUT_FORMATS = (".json", ".csv", ".txt")


def write_predictions(path, model: Model, timeline: pd.DataFrame, decisions: pd.DataFrame, errors: dict) -> None:
    """Write results atomically, the format chosen by the suffix: ``.json``,
    ``.csv`` or ``.txt`` (an Audacity label track per segment; several files
    get the file name in the label)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(results_json(model, timeline, decisions, errors), indent=2)
    elif suffix == ".csv":
        text = segments_table(timeline, decisions).to_csv(index=False, float_format="%.4f")
    elif suffix == ".txt":
        several = len(decisions) > 1
        text = "".join(f"{start:.3f}\t{end:.3f}\t{(Path(f).name + ': ') if several else ''}{r['label']} {r['score']:.2f}\n"
                       for (f, start, end), r in timeline.iterrows())
    else:
        raise ValueError(f"{path}: unknown output format {suffix!r}; use {', '.join(OUTPUT_FORMATS)} (.txt: Audacity labels)")
    write_text(path, text)
