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
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from .aggregate import RULES, TIE, Tally, check_rule, softmax
from .errors import ConfigError, check_choice, check_number, display_path

UNCERTAIN = "uncertain"
NO_SPEECH = "no speech"
# A segment with less speech than this share of it (Silero VAD) is "no speech": benchmarks/segment_evidence.py.
SPEECH_GATE = 0.2
ADAPT_MODES = ("none", "speaker", "collection", "auto")


def columns(classes) -> list[str]:
    """The timeline's columns, everywhere (index columns first)."""
    return ["start", "end", "label", "score", "speech"] + [f"p_{c}" for c in classes]


def decision_columns(classes) -> list[str]:
    return ["label", "score", "rule", "n_segments", "n_speech", "duration", "notes"] + [f"p_{c}" for c in classes]


@dataclass(frozen=True)
class PredictOptions:
    """How to turn audio into a timeline, validated where it is made and built
    the same way from Python keywords, command-line options, query strings and
    WebSocket parameters (:meth:`from_text`).

    ``segment``/``hop``/``vad`` override the model's segmentation; ``rule`` the
    clip decision; ``min_score`` labels a segment ``uncertain`` below that top
    probability; ``speech_gate`` labels ``no speech`` below that share of speech
    (0 turns the gate off; default: the gate the model was trained with); ``adapt`` chooses the statistics embeddings are
    adapted with (see :mod:`segser.speakers`)."""

    segment: float | None = None
    hop: float | None = None
    vad: bool = False
    rule: str = "mean_logits"
    min_score: float = 0.0
    speech_gate: float | None = None  # None: the gate the model was trained with
    adapt: str = "auto"

    def __post_init__(self):
        from .segmenters import MAX_LENGTH, MIN_HOP, MIN_LENGTH

        set_ = object.__setattr__
        if self.segment is not None:
            set_(self, "segment", check_number("segment length (segment)", self.segment, lo=MIN_LENGTH, hi=MAX_LENGTH, unit="s"))
        if self.hop is not None:
            set_(self, "hop", check_number("segment hop (hop)", self.hop, lo=MIN_HOP, hi=MAX_LENGTH, unit="s"))
        if not isinstance(self.vad, bool):
            raise ConfigError(f"vad must be true or false (got {self.vad!r})")
        check_rule(self.rule)
        set_(self, "min_score", check_number("min_score (--min-score)", self.min_score, lo=0.0, hi=1.0))
        if self.speech_gate is not None:
            set_(self, "speech_gate", check_number("speech_gate (--speech-gate)", self.speech_gate, lo=0.0, hi=1.0))
        check_choice("adapt", self.adapt, ADAPT_MODES)

    @classmethod
    def from_text(cls, values: dict) -> "PredictOptions":
        """Options from text (a query string, WebSocket parameters): ``{"hop": "0.5", "vad": "true"}``;
        unknown keys are ignored so a caller may pass its whole query."""
        from .options import field_types, parse_text

        types = field_types(cls)
        parsed = {k: parse_text(str(v), types[k], where=k) for k, v in values.items() if k in types and v is not None}
        return cls(**parsed)

    def replace(self, **changes) -> "PredictOptions":
        return replace(self, **changes)

    def gate(self, model) -> float:
        return model.speech_gate if self.speech_gate is None else self.speech_gate

    def segmentation(self, model_segmentation):
        """The model's segmentation with this call's overrides (one rule everywhere)."""
        return model_segmentation.with_overrides(length=self.segment, hop=self.hop, vad=self.vad)


OPTION_NAMES = tuple(f.name for f in fields(PredictOptions))
DEFAULT_OPTIONS = PredictOptions()


def options_of(options: PredictOptions | None = None, **overrides) -> PredictOptions:
    """A :class:`PredictOptions` from an instance and/or keywords (the Python API's way in)."""
    base = options or PredictOptions()
    unknown = sorted(set(overrides) - set(OPTION_NAMES))
    if unknown:
        raise ConfigError(f"unknown prediction option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"known: {', '.join(OPTION_NAMES)}")
    return base.replace(**overrides) if overrides else base


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
    def for_model(cls, model, options: PredictOptions, *, keep: bool = True) -> "Timeline":
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


@dataclass
class FileResult:
    """One input's outcome: its timeline and decision, or the error that stopped it."""

    file: str
    segments: pd.DataFrame | None = None  # columns(classes) [+ extra columns such as speaker]
    decision: dict = field(default_factory=dict)  # decision_columns(classes)
    error: str | None = None
    error_kind: str | None = field(default=None, repr=False)  # the AudioError subclass, e.g. LimitExceeded (HTTP 413)
    envelope: tuple | None = field(default=None, repr=False)  # (times, min, max) of the waveform, for plots
    adaptation: dict = field(default_factory=dict)  # what adaptation was applied, with how much speech
    turns: list | None = None  # speaker turns (start, end, speaker, overlap) when speakers were found
    speakers: dict | None = None  # per found speaker: seconds of speech, share per emotion, decision, adaptation

    @property
    def ok(self) -> bool:
        return self.error is None


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


__all__ = ["ADAPT_MODES", "DEFAULT_OPTIONS", "FileResult", "NO_SPEECH", "PredictOptions", "SPEECH_GATE", "Timeline", "UNCERTAIN", "columns",
           "decision_columns", "decision_row", "file_json", "options_of", "plain"]
