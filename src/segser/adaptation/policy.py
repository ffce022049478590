"""What ``--adapt`` means for given inputs (:func:`plan_for`, the one place that checks adapt, speakers and the
model together), and adaptation of a batch's segment embeddings group by group (:func:`adapt_rows`).

``adapt`` (:class:`Mode`): ``none``; ``speaker`` (each group's own statistics); ``collection`` (the statistics of
all inputs); ``auto``, the guarded rule: each group's own statistics unless its :class:`~segser.adaptation.mood.Sample`
says it holds one mood, when it keeps the fallback (the collection's statistics, or no adaptation where there is
no collection), blended in between. Groups are speakers (given or found), recordings or a folder.

Rows are read in chunks, in three passes (statistics, the guard's votes, logits), so a batch's embeddings may
lie on disk (:class:`~segser.io.spill.SpillRows`) and memory does not grow with its length.

>>> plan_for(load_model("default-4class"), "auto", inputs=1).reason  # doctest: +SKIP
'one recording: its own statistics unless the mood check hears one mood'
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segser.adaptation.groups import SPEAKER_MODES
from segser.adaptation.heads import adapted_logits
from segser.adaptation.mood import Sample
from segser.adaptation.statistics import RunningStatistics, Statistics, standardise
from segser.errors import AudioError, ConfigError

# Fewer segments than this give statistics too noisy to normalise with (README: UA against seconds of speech).
MIN_SPEAKER_SEGMENTS = 10
# Segments of one batch adapted together: bounds the disk its embeddings take (~385 MB at 1920-d) and the time
# before its first result.
MAX_GROUP_SEGMENTS = 50_000
NOBODY = "-"  # the group of segments that belong to no group (silence between a conversation's turns)


class Mode(str, enum.Enum):
    """Statistics a group's segments are adapted with; ``AUTO`` (the default) chooses among them, ``PER_SPEAKER``
    says of a conversation that each found speaker has a note of their own."""

    NONE = "none"
    SPEAKER = "speaker"
    COLLECTION = "collection"
    AUTO = "auto"
    PER_SPEAKER = "per speaker"


ADAPT_MODES = tuple(m.value for m in (Mode.NONE, Mode.SPEAKER, Mode.COLLECTION, Mode.AUTO))


@dataclass(frozen=True)
class AdaptationNote:
    """What adaptation a file, a speaker or a group got. ``mode``: the statistics applied; ``blend``: the logits
    they were blended with, at ``weight`` (the blend's share), e.g. ``speaker+collection``."""

    mode: Mode
    blend: Mode | None = None
    weight: float = 0.0
    group: str | None = None
    segments: int | None = None
    speech_seconds: float | None = None
    dominant_share: float | None = None
    one_mood_probability: float | None = None
    reason: str = ""
    speakers: int | None = None  # a conversation: how many were found
    guarded: bool | None = None  # a live voice: whether the guard applies
    batch: str = ""  # said of the whole batch

    @property
    def label(self) -> str:
        return self.mode.value + (f"+{self.blend.value}" if self.blend is not None else "")

    def as_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v not in (None, "") and k not in ("mode", "blend", "weight")}
        out = {"mode": self.label, **d}
        if self.blend is not None:
            out["weights"] = {self.mode.value: round(1 - self.weight, 3), self.blend.value: round(self.weight, 3)}
        return out


class Policy(enum.Enum):
    NONE = "none"
    OWN = "own statistics"  # each group's own
    COLLECTION = "collection"  # the batch's
    GUARDED = "guarded"  # own, unless the group holds one mood


@dataclass(frozen=True)
class Plan:
    """How a batch is adapted. ``grouping``: ``all``, ``file``, ``auto`` (found speakers), a table or a mapping;
    ``chosen``: chosen by ``auto`` (past the bound on segments held at once it gives way instead of refusing);
    ``own``: what a group's own statistics are called (a folder's: ``collection``)."""

    policy: Policy
    grouping: object = None
    reason: str = ""
    chosen: bool = False
    own: Mode = Mode.SPEAKER

    def note(self) -> AdaptationNote:
        """The note of a file this plan leaves unadapted."""
        return AdaptationNote(Mode.NONE, reason=self.reason)


def plan_for(model, adapt: str, *, inputs: int, speakers=None, alone: bool = False, live: bool = False) -> Plan:
    """The adaptation ``adapt`` means for this model and these inputs. ``speakers``: ``None``, ``all``, ``file``,
    ``auto`` (found in each recording), a ``file,speaker`` CSV or a mapping; ``alone``: each recording is predicted
    on its own (the service, Ray), so its "collection" is itself; ``live``: one voice as it is heard.
    ``auto`` (benchmarks/adaptation.py): the guarded rule when speakers are given or found; when several
    recordings come without speakers, their statistics as one group, guarded as a group with nothing to compare
    with; for one recording alone the guarded rule when the model has a mood check, else nothing (a
    speaker-normalised model: the recording's own statistics)."""
    if adapt not in ADAPT_MODES:
        raise ConfigError(f"adapt must be one of {', '.join(ADAPT_MODES)} (got {adapt!r})")
    if speakers is not None and not isinstance(speakers, dict) and not (
            speakers in SPEAKER_MODES or Path(str(speakers)).suffix.lower() == ".csv"):
        raise ConfigError(f"speakers: {speakers!r} is none of {', '.join(SPEAKER_MODES)} or a file,speaker CSV")
    if live:
        return _live_plan(model, adapt)
    if alone and speakers not in (None, "file", "auto"):
        raise ConfigError("each recording is predicted on its own here (an upload, a Ray worker): --speakers auto or "
                          "file; predict without --ray to adapt groups of recordings together")
    if adapt == "none":
        if model.speaker_norm:
            raise ConfigError(f"{model.name}: trained on speaker-normalised embeddings, so it needs statistics: "
                              "--adapt speaker|collection|auto")
        if speakers not in (None, "auto"):
            raise ConfigError("--speakers groups inputs for --adapt speaker|auto; with --adapt none each file stands alone")
        return Plan(Policy.NONE, speakers)
    if adapt == "collection":
        if speakers not in (None, "auto"):
            raise ConfigError("--adapt collection takes every input as one group; --speakers is for --adapt speaker|auto")
        return Plan(Policy.COLLECTION, "auto" if speakers == "auto" else "all")
    if adapt == "speaker":
        return Plan(Policy.OWN, speakers or "file")
    if model.reference is None:  # a head that takes raw features (svm, layer sums): nothing to map statistics onto
        return Plan(Policy.NONE, speakers, "the model's head takes no standardised input")
    if speakers is not None:  # the guarded rule: measured safe with the collection as its fallback
        return Plan(Policy.GUARDED, speakers, "speakers given" if speakers != "auto" else "speakers found", True)
    if inputs > 1 and not alone:  # no speakers known: the collection's statistics, unless it holds one mood (a folder
        # of angry calls: the plain collection falls to chance there; benchmarks/adaptation.py, one-emotion collection)
        return Plan(Policy.GUARDED, "all", "several recordings, no speakers: one collection, unless it holds one mood",
                    True, own=Mode.COLLECTION)
    if model.speaker_norm:  # it cannot go without statistics: the recording's own
        return Plan(Policy.OWN, "file", "one recording: its own statistics (this model needs them)", True)
    if model.mood is not None:  # the mood check judges the recording's own statistics: measured safe
        return Plan(Policy.GUARDED, "file", "one recording: its own statistics unless the mood check hears one mood", True)
    # one recording alone: its own statistics are those of one speaker, who may hold one mood; measured unsafe
    return Plan(Policy.NONE, None, "one recording: nothing to compare it with", True)


def _live_plan(model, adapt: str) -> Plan:
    """One voice as it is heard. ``speaker``: the guarded rule on the statistics heard so far; ``auto``: the same
    when the model carries a mood check (measured safe: no worse than unadapted on voices that keep one emotion,
    benchmarks/live_adaptation.py), else none, as the share alone loses 3.4 points there. A stream has no
    collection."""
    if adapt == "collection":
        raise ConfigError("adapt=collection needs a collection of recordings; a stream is one voice: "
                          "adapt=speaker|auto|none")
    if model.speaker_norm:
        raise ConfigError(f"{model.name}: trained on speaker-normalised embeddings, it needs a speaker's statistics "
                          "before it can judge any segment; live streams use a model without that (e.g. default-4class, "
                          "with adapt=speaker to adapt to the voice as it is heard)")
    if adapt == "speaker" and model.reference is None:
        raise ConfigError(f"{model.name}: its head takes no standardised input, so it cannot be adapted")
    checked = model.mood is not None and model.reference is not None
    if adapt == "speaker" or (adapt == "auto" and checked):
        return Plan(Policy.GUARDED, "file", "the voice as it is heard", adapt == "auto")
    return Plan(Policy.NONE, None, "no mood check to guard a voice alone" if adapt == "auto" else "")


@dataclass(frozen=True)
class Choice:
    """One group's adaptation: logits of its ``own`` statistics (through the adaptation head ``kind``), of the
    ``fallback`` (``COLLECTION``: the batch's statistics; ``NONE``: unadapted) or both, the fallback at ``weight``."""

    note: AdaptationNote
    own: Statistics | None = None
    kind: str = "speaker"
    fallback: Mode | None = None
    weight: float = 0.0

    def logits(self, model, X: np.ndarray, collection: Statistics | None) -> np.ndarray:
        fallback = None
        if self.fallback is not None and self.weight > 0:
            fallback = adapted_logits(model, X, collection, "collection") if self.fallback is Mode.COLLECTION \
                else model.logits(X)
        if self.own is None or self.weight >= 1.0:
            return fallback
        own = adapted_logits(model, X, self.own, self.kind)
        return own if fallback is None else (1 - self.weight) * own + self.weight * fallback


def choose(model, plan: Plan, sample: Sample, collection: Statistics | None, *, group: str, seconds: float) -> Choice:
    """The guard (or the plain rule) for one group, from its :class:`Sample` (statistics and, for the guard, the
    votes of the prior model) and the batch's ``collection`` statistics (None: there is none to fall back on)."""
    base = dict(group=group, segments=sample.n, speech_seconds=round(seconds, 1))
    if plan.policy is Policy.COLLECTION and collection is not None:
        return Choice(AdaptationNote(Mode.COLLECTION, **base), fallback=Mode.COLLECTION, weight=1.0)
    if sample.n < MIN_SPEAKER_SEGMENTS:
        few = f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech"
        if collection is not None and plan.policy is Policy.GUARDED:
            return Choice(AdaptationNote(Mode.COLLECTION, reason=few, **base), fallback=Mode.COLLECTION, weight=1.0)
        if model.speaker_norm:
            raise AudioError(group, f"{group} has {sample.n} segments of speech; adaptation needs at least "
                                    f"{MIN_SPEAKER_SEGMENTS} (more speech, or a shorter hop)")
        return Choice(AdaptationNote(Mode.NONE, reason=few, **base), fallback=Mode.NONE, weight=1.0)
    own = sample.stats.statistics()
    own_mode = Mode.COLLECTION if plan.own is Mode.COLLECTION or plan.policy is Policy.COLLECTION else Mode.SPEAKER
    kind = own_mode.value
    if plan.policy is not Policy.GUARDED:
        return Choice(AdaptationNote(own_mode, **base), own, kind)
    weight, evidence = sample.fallback_weight()
    base.update(evidence)
    fallback = Mode.COLLECTION if collection is not None else (None if model.speaker_norm else Mode.NONE)
    if fallback is None:  # it cannot go without statistics: its own, said so
        reason = "mostly one mood, but this model needs statistics" if weight > 0 else ""
        return Choice(AdaptationNote(own_mode, reason=reason, **base), own, kind)
    if weight >= 1.0:
        reason = ("one mood: the collection's statistics" if fallback is Mode.COLLECTION else
                  "one mood and nothing to compare with: not adapted")
        return Choice(AdaptationNote(fallback, reason=reason, **base), fallback=fallback, weight=1.0)
    if weight <= 0.0:
        return Choice(AdaptationNote(own_mode, **base), own, kind)
    reason = f"between a mix and one mood: logits {1 - weight:.0%} own statistics, {weight:.0%} {fallback.value}"
    return Choice(AdaptationNote(own_mode, fallback, weight, reason=reason, **base), own, kind, fallback, weight)


@dataclass
class ArrayRows:
    """Rows held in memory, read the way :class:`~segser.io.spill.SpillRows` are."""

    X: np.ndarray
    chunk: int = field(default=8192)

    def __len__(self) -> int:
        return len(self.X)

    def chunks(self):
        for a in range(0, len(self.X), self.chunk):
            yield a, self.X[a:a + self.chunk]


def adapt_rows(model, plan: Plan, rows, *, voiced: np.ndarray, groups: np.ndarray, seconds: np.ndarray,
               who=lambda key: f"speaker {key}") -> tuple[np.ndarray, dict[str, AdaptationNote], dict[str, AudioError]]:
    """Logits of a batch's segment embeddings ``rows`` (an array, :class:`ArrayRows` or
    :class:`~segser.io.spill.SpillRows`) adapted group by group as ``plan`` says; the statistics come from the
    ``voiced`` segments, ``groups`` names each segment's group (:data:`NOBODY`: left unadapted), ``seconds`` is each
    segment's speech in seconds. The batch's statistics are the collection, the guard's fallback when there are
    several groups. Returns the logits, a note per group and the groups that could not be adapted (a
    speaker-normalised model and too little speech), whose rows are NaN."""
    rows = ArrayRows(np.asarray(rows)) if isinstance(rows, np.ndarray) else rows
    groups = np.asarray(groups, dtype=object)
    out = np.empty((len(rows), len(model.classes)), np.float32)
    keys = [k for k in dict.fromkeys(groups.tolist()) if k != NOBODY]
    if plan.policy is Policy.NONE:
        for a, X in rows.chunks():
            out[a:a + len(X)] = model.logits(X)
        return out, {k: plan.note() for k in keys}, {}
    wants_collection = plan.policy is Policy.COLLECTION or (plan.policy is Policy.GUARDED and len(keys) > 1)
    everything = RunningStatistics()
    samples = {k: Sample(len(model.classes), model.mood, model.reference) for k in keys}
    for a, X in rows.chunks():  # pass 1: statistics
        v, g = voiced[a:a + len(X)], groups[a:a + len(X)]
        if wants_collection:
            everything.add(X[v])
        for k in dict.fromkeys(g[v].tolist()):
            if k != NOBODY:
                samples[k].add(X[v & (g == k)])
    collection = everything.statistics() if wants_collection and everything.n >= MIN_SPEAKER_SEGMENTS else None
    if plan.policy is Policy.GUARDED:  # pass 2: what the model hears in each group without its own statistics
        for a, X in rows.chunks():
            v, g = voiced[a:a + len(X)], groups[a:a + len(X)]
            for k in dict.fromkeys(g[v].tolist()):
                if k == NOBODY:
                    continue
                Xk = X[v & (g == k)]
                if collection is not None:
                    prior = model.logits(standardise(Xk, collection, model.reference))
                elif model.speaker_norm:
                    prior = model.logits(standardise(Xk, samples[k].stats.statistics(), model.reference))
                else:
                    prior = model.logits(Xk)
                samples[k].vote(prior)
    speech = {k: float(seconds[groups == k].sum()) for k in keys}
    choices, errors = {}, {}
    for k in keys:
        try:
            choices[k] = choose(model, plan, samples[k], collection, group=who(k), seconds=speech[k])
        except AudioError as exc:
            errors[k] = exc
    for a, X in rows.chunks():  # pass 3: logits
        g = groups[a:a + len(X)]
        for k in dict.fromkeys(g.tolist()):
            m = g == k
            if k in errors:
                out[a:a + len(X)][m] = np.nan
            else:
                out[a:a + len(X)][m] = model.logits(X[m]) if k == NOBODY else choices[k].logits(model, X[m], collection)
    return out, {k: c.note for k, c in choices.items()}, errors
