"""The one result path: segment logits -> timeline rows and a clip decision.

Every caller (files, live streams, Ray workers, the service, the WebSocket) builds its rows and decisions
with :class:`Timeline`, so a new column or rule is added here once. A row is
``start, end, label, score, speech, p_<class>...`` (then any extra columns, such as ``speaker``): ``speech``
is the share of the segment that the voice activity detector calls speech. A segment whose share is below
``speech_gate`` is labelled ``no speech`` (no score, no probabilities) and takes no part in the clip decision;
one whose top probability is below ``min_score`` is ``uncertain``; so is a clip decision whose top probability
is below ``clip_min_score``. Rows are kept as columns of numbers, so a long recording's timeline takes little
memory; ``keep=False`` keeps only the running decision (a live stream).

>>> t = Timeline(["angry", "sad"], rule="mean_logits")
>>> rows = t.add([(0.0, 1.0), (1.0, 2.0)], np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0.9, 0.0]))
>>> [r["label"] for r in rows], t.decision(duration=2.0).label
(['angry', 'no speech'], 'angry')
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from segser.results.aggregate import RULES, TIE, Tally, check_rule, softmax
from segser.results.types import NO_SPEECH, UNCERTAIN, Decision

# A segment with less speech than this share of it (Silero VAD) is "no speech": benchmarks/segment_evidence.py.
SPEECH_GATE = 0.2
_NO_SPEECH, _UNCERTAIN = -1, -2  # label codes beside the class indices


def columns(classes, extra=()) -> list[str]:
    """The timeline's columns, everywhere (index columns first), then ``extra`` ones."""
    return ["start", "end", "label", "score", "speech"] + [f"p_{c}" for c in classes] + [c for c in extra]


class Timeline:
    """One recording's (or stream's) timeline as it grows, and a running clip decision over the segments with
    speech."""

    def __init__(self, classes, *, temperature: float = 1.0, rule: str = "mean_logits", min_score: float = 0.0,
                 clip_min_score: float = 0.0, speech_gate: float = SPEECH_GATE, keep: bool = True):
        self.classes, self.temperature = list(classes), float(temperature)
        self.rule, self.min_score, self.speech_gate = check_rule(rule), float(min_score), float(speech_gate)
        self.clip_min_score = max(float(clip_min_score), self.min_score)
        self.tally = Tally(len(self.classes), self.temperature)
        self.n_segments = 0
        self.keep = keep
        self.parts: list[dict] = []

    def add(self, spans, logits: np.ndarray, speech: np.ndarray, *, extra: dict | None = None) -> list[dict]:
        """Rows of these segments (in order); the ones with speech join the clip decision.
        ``extra``: further columns, one value or a sequence per segment (e.g. ``speaker``)."""
        spans = np.asarray(spans, np.float64).reshape(-1, 2)
        n = len(spans)
        logits = np.asarray(logits, np.float64).reshape(n, len(self.classes))
        speech = np.asarray(speech, np.float64).reshape(n)
        voiced = speech >= self.speech_gate
        self.tally.add(logits[voiced])
        self.n_segments += n
        probs = softmax(logits / self.temperature) if n else np.zeros((0, len(self.classes)))
        top = probs.argmax(1) if n else np.zeros(0, int)
        score = probs.max(1) if n else np.zeros(0)
        code = np.where(~voiced, _NO_SPEECH, np.where(score >= self.min_score, top, _UNCERTAIN))
        probs[~voiced] = np.nan
        score = np.where(voiced, score, np.nan)
        part = {"start": np.round(spans[:, 0], 3), "end": np.round(spans[:, 1], 3), "code": code, "score": score,
                "speech": np.round(speech, 3), "probs": probs,
                "extra": {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] * n) for k, v in (extra or {}).items()}}
        if self.keep:
            self.parts.append(part)
        return list(self._rows(part))

    def _label(self, code: int) -> str:
        return self.classes[code] if code >= 0 else (NO_SPEECH if code == _NO_SPEECH else UNCERTAIN)

    def _rows(self, part: dict):
        names = [f"p_{c}" for c in self.classes]
        for i in range(len(part["code"])):
            row = {"start": float(part["start"][i]), "end": float(part["end"][i]), "label": self._label(int(part["code"][i])),
                   "score": float(part["score"][i]), "speech": float(part["speech"][i]),
                   **dict(zip(names, part["probs"][i].tolist()))}
            for k, v in part["extra"].items():
                row[k] = v[i]
            yield row

    def frame(self) -> pd.DataFrame:
        """The rows kept so far, one per segment (columns: :func:`columns` and the extra ones)."""
        extra = list(self.parts[0]["extra"]) if self.parts else []
        if not self.parts:
            return pd.DataFrame(columns=columns(self.classes, extra))
        cat = {k: np.concatenate([p[k] for p in self.parts]) for k in ("start", "end", "code", "score", "speech", "probs")}
        labels = np.array(self.classes + [UNCERTAIN, NO_SPEECH], dtype=object)[cat["code"]]  # -1, -2 index from the end
        data = {"start": cat["start"], "end": cat["end"], "label": labels, "score": cat["score"], "speech": cat["speech"],
                **{f"p_{c}": cat["probs"][:, i] for i, c in enumerate(self.classes)}}
        for k in extra:
            data[k] = [v for p in self.parts for v in p["extra"][k]]
        return pd.DataFrame(data, columns=columns(self.classes, extra))

    def decision(self, *, duration: float, notes=()) -> Decision:
        """The clip decision over the segments with speech so far; ``no speech`` when there are none."""
        t = self.tally
        common = dict(rule=self.rule, n_segments=self.n_segments, n_speech=t.n, duration=round(float(duration), 3),
                      notes="; ".join(n for n in notes if n))
        if t.n == 0:
            return Decision(NO_SPEECH if self.n_segments else None, math.nan, {c: math.nan for c in self.classes}, **common)
        k, p = RULES[self.rule](t)
        probabilities = {c: float(v) for c, v in zip(self.classes, p)}
        if k < 0:
            return Decision(TIE, math.nan, probabilities, **common)
        label = self.classes[k] if p[k] >= self.clip_min_score else UNCERTAIN
        return Decision(label, float(p[k]), probabilities, **common)


def clip_decision(logits: np.ndarray, classes, *, rule: str = "mean_logits", temperature: float = 1.0,
                  clip_min_score: float = 0.0) -> Decision:
    """The decision of a whole clip's (voiced) segment logits, as a timeline of them decides."""
    t = Timeline(classes, temperature=temperature, rule=rule, clip_min_score=clip_min_score, speech_gate=0.0, keep=False)
    t.add(np.zeros((len(logits), 2)), logits, np.ones(len(logits)))
    return t.decision(duration=0.0)


__all__ = ["NO_SPEECH", "SPEECH_GATE", "UNCERTAIN", "Timeline", "clip_decision", "columns", "softmax"]
