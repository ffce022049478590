"""The one result path: segment logits -> timeline rows and a clip decision.

Every caller (``segser predict``, live streams, Ray workers, the service, the
WebSocket and every output writer) builds its rows with :class:`Timeline` and
reads its options from one validated :class:`PredictOptions`, so a new column
or rule is added here once.

A row is ``start, end, label, score, speech, p_<class>...``: ``speech`` is the
share of the segment that the voice activity detector calls speech. A segment
whose share is below ``speech_gate`` is labelled ``no speech`` (no score, no
probabilities) and takes no part in the clip decision; one whose top
probability is below ``min_score`` is ``uncertain``.

>>> t = Timeline(["angry", "sad"], rule="mean_logits")
>>> rows = t.add([(0.0, 1.0), (1.0, 2.0)], np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0.9, 0.0]))
>>> [r["label"] for r in rows], t.decision(duration=2.0)["label"]
(['angry', 'no speech'], 'angry')
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from segser.errors import display_path
from segser.results.aggregate import RULES, TIE, Tally, check_rule, softmax
from segser.results.types import FileResult

UNCERTAIN = "uncertain"
NO_SPEECH = "no speech"
# A segment with less speech than this share of it (Silero VAD) is "no speech": benchmarks/segment_evidence.py.
SPEECH_GATE = 0.2


def columns(classes) -> list[str]:
    """The timeline's columns, everywhere (index columns first)."""
    return ["start", "end", "label", "score", "speech"] + [f"p_{c}" for c in classes]


def decision_columns(classes) -> list[str]:
    return ["label", "score", "rule", "n_segments", "n_speech", "duration", "notes"] + [f"p_{c}" for c in classes]


class Timeline:
    """One recording's (or stream's) timeline as it grows: rows from segment
    logits, and a running clip decision over the segments with speech.
    ``keep=False`` keeps only the running sums (a live stream: bounded memory)."""

    def __init__(self, classes, *, temperature: float = 1.0, rule: str = "mean_logits", min_score: float = 0.0,
                 speech_gate: float = SPEECH_GATE, keep: bool = True):
        self.classes, self.temperature = list(classes), float(temperature)
        self.rule, self.min_score, self.speech_gate = check_rule(rule), min_score, speech_gate
        self.tally = Tally(len(self.classes), self.temperature)
        self.n_segments = 0
        self.keep = keep
        self.rows: list[dict] = []

    @classmethod
    def for_model(cls, model, options, *, keep: bool = True) -> "Timeline":
        return cls(model.classes, temperature=model.temperature, rule=options.rule, min_score=options.min_score,
                   speech_gate=options.gate(model), keep=keep)

    def add(self, spans, logits: np.ndarray, speech: np.ndarray, *, extra: dict | None = None) -> list[dict]:
        """Rows of these segments (in order); the ones with speech join the clip decision.
        ``extra``: further columns, one value or a sequence per segment (e.g. ``speaker``)."""
        logits = np.asarray(logits, np.float64).reshape(len(spans), len(self.classes))
        speech = np.asarray(speech, np.float64).reshape(len(spans))
        voiced = speech >= self.speech_gate
        self.tally.add(logits[voiced])
        self.n_segments += len(spans)
        probs = softmax(logits / self.temperature)
        out = []
        for i, ((s, e), p) in enumerate(zip(spans, probs)):
            k = int(p.argmax())
            if voiced[i]:
                label, score = (self.classes[k] if p[k] >= self.min_score else UNCERTAIN), float(p[k])
                ps = [float(v) for v in p]
            else:
                label, score, ps = NO_SPEECH, math.nan, [math.nan] * len(self.classes)
            row = {"start": round(float(s), 3), "end": round(float(e), 3), "label": label, "score": score,
                   "speech": round(float(speech[i]), 3), **{f"p_{c}": v for c, v in zip(self.classes, ps)}}
            for key, value in (extra or {}).items():
                row[key] = value[i] if isinstance(value, (list, tuple, np.ndarray)) else value
            out.append(row)
        if self.keep:
            self.rows += out
        return out

    def frame(self) -> pd.DataFrame:
        extra = [k for k in (self.rows[0] if self.rows else {}) if k not in set(columns(self.classes))]
        return pd.DataFrame(self.rows, columns=columns(self.classes) + extra)

    def decision(self, *, duration: float, notes=()) -> dict:
        """The clip decision over the segments with speech so far; ``no speech`` when there are none."""
        t = self.tally
        out = {"rule": self.rule, "n_segments": self.n_segments, "n_speech": t.n, "duration": round(float(duration), 3),
               "notes": "; ".join(n for n in notes if n)}
        if t.n == 0:
            label = NO_SPEECH if self.n_segments else None
            return {"label": label, "score": math.nan, **out, **{f"p_{c}": math.nan for c in self.classes}}
        scores = t.scores()
        k = RULES[self.rule](t)
        label, score = (self.classes[k], float(scores[k])) if k >= 0 else (TIE, math.nan)
        if k >= 0 and score < self.min_score:
            label = UNCERTAIN
        return {"label": label, "score": score, **out, **{f"p_{c}": float(s) for c, s in zip(self.classes, scores)}}


def plain(value):
    """JSON-safe scalar: numpy types to Python, NaN to None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def file_json(result: FileResult, *, name: str | None = None) -> dict:
    """One file's entry of the JSON output: its decision and segments, or its error."""
    name = display_path(name or result.file)
    if not result.ok:
        return {"file": name, "error": result.error}
    out = {"file": name, "decision": {k: plain(v) for k, v in result.decision.items()}}
    if result.adaptation:
        out["adaptation"] = {k: plain(v) for k, v in result.adaptation.items()}
    if result.turns is not None:
        out["turns"] = [{k: plain(v) for k, v in t.items()} for t in result.turns]
        out["speakers"] = _plain_tree(result.speakers)
    out["segments"] = [{k: plain(v) for k, v in r.items()} for r in result.segments.to_dict("records")]
    return out


def _plain_tree(value):
    if isinstance(value, dict):
        return {str(k): _plain_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v) for v in value]
    return plain(value)


def decision_row(result: FileResult) -> dict:
    """One row of a decisions table (the Python API, Ray's decisions/ table)."""
    return {"file": result.file, **result.decision, **{f"adapt_{k}": v for k, v in result.adaptation.items()}}


__all__ = ["FileResult", "NO_SPEECH", "SPEECH_GATE", "Timeline", "UNCERTAIN", "columns", "decision_columns", "decision_row",
           "file_json", "plain"]
