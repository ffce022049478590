"""Speaker adaptation from unlabelled speech: per-speaker statistics.

A model trained with ``speaker_norm`` sees every segment embedding
standardised by its speaker's mean and standard deviation, taken over that
speaker's segments without their labels. This removes much of what differs
between voices, microphones and corpora, which is why it holds up on speech
the model has never heard (see the README's cross-corpus table). At
prediction time it needs several recordings of each speaker, or one long
recording, covering more than one emotion:

>>> groups = speaker_groups(["a.wav", "b.wav"], "all")     # one speaker
>>> groups
{'all inputs': ['a.wav', 'b.wav']}
>>> speaker_groups(["a.wav", "b.wav"], "file")             # a speaker per recording
{'a.wav': ['a.wav'], 'b.wav': ['b.wav']}
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.adaptation.heads import adapted_logits
from segser.adaptation.mood import MoodCheck, one_mood
from segser.adaptation.statistics import Statistics, standardise
from segser.errors import ConfigError

# Fewer segments than this give statistics too noisy to normalise with (README: UA against seconds of speech).
MIN_SPEAKER_SEGMENTS = 10
ADAPT_MODES = ("none", "speaker", "collection", "auto")
# Bounds the memory a batch's embeddings take while its statistics are computed (~385 MB at 1920-d).
MAX_GROUP_SEGMENTS = MAX_SPEAKER_SEGMENTS = 50_000


@dataclass(frozen=True)
class AdaptationPlan:
    """What ``--adapt`` does for a batch. ``mode``: ``none``; ``speaker`` (each group's own statistics);
    ``collection`` (the statistics of all inputs); ``guarded`` (the safe rule: each group's own statistics,
    unless the collection-adapted model hears mostly one emotion in it, when it keeps the collection's, or
    no adaptation when it is alone; in between, the two logits blended: :func:`one_mood`). ``grouping``:
    ``all``, ``file``, ``auto`` (found speakers), a table or a mapping."""

    mode: str
    grouping: object = None
    reason: str = ""
    chosen: bool = False  # by ``auto``: past the bound on segments held at once it gives way instead of refusing
    own: str = "speaker"  # what a group's own statistics are called in the output (a folder's: "collection")

    def describe(self) -> dict:
        return {"mode": self.mode, "reason": self.reason} if self.reason else {"mode": self.mode}

    def collection(self, model, X: np.ndarray, voiced: np.ndarray, *, groups: int) -> Statistics | None:
        """The batch's statistics (from its voiced segments), when there are enough of them; for the guard, only
        when the batch holds more than one group (one group is its own collection: nothing to fall back on)."""
        n = int(voiced.sum())
        if n < MIN_SPEAKER_SEGMENTS or self.mode not in ("collection", "guarded") or (self.mode == "guarded" and groups < 2):
            return None
        return Statistics.of(X[voiced])

    def adapt(self, model, X: np.ndarray, voiced: np.ndarray, seconds: float, *, who: str,
              collection: Statistics | None = None) -> tuple[np.ndarray, dict]:
        """Logits of one group's segment embeddings ``X`` adapted with the statistics of its ``voiced``
        ones as the mode says; ``collection``: the statistics of the whole batch."""
        from segser.errors import AudioError

        n, reference = int(voiced.sum()), model.reference
        note = {"mode": self.mode, "group": who, "segments": n, "speech_seconds": round(seconds, 1)}
        if self.mode == "none":
            return model.logits(X), {"mode": "none"}
        if self.mode == "collection" and collection is not None:
            return adapted_logits(model, X, collection, "collection"), {**note, "mode": "collection"}
        if n < MIN_SPEAKER_SEGMENTS:
            if collection is not None and self.mode == "guarded":
                return adapted_logits(model, X, collection, "collection"), {
                    **note, "mode": "collection", "reason": f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech"}
            if model.speaker_norm:
                raise AudioError(who, f"{who} has {n} segments of speech; adaptation needs at least "
                                      f"{MIN_SPEAKER_SEGMENTS} (more speech, or a shorter hop)")
            return model.logits(X), {**note, "mode": "none", "reason": f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech"}
        own = Statistics.of(X[voiced])
        if self.mode != "guarded":
            return adapted_logits(model, X, own), note
        # the guard: what the model hears in this group without its own statistics
        prior = standardise(X[voiced], collection, reference) if collection is not None else X[voiced]
        weight, share = one_mood(model.logits(prior) if not model.speaker_norm or collection is not None else
                                 model.logits(standardise(X[voiced], own, reference)))
        note["dominant_share"] = round(share, 3)
        if model.mood is not None and reference is not None:
            # the mood check decides (benchmarks/adaptation.py, speakers known, through the adaptation heads: 0.711 on
            # one-emotion speakers, 0.667 when the share weighs the same, for 0.768 / 0.789 on mixed ones)
            p = model.mood.probability(model.mood.spread((X[voiced] - reference[0]) / reference[1]), share)
            weight = MoodCheck.weight(p)
            note["one_mood_probability"] = round(p, 3)
        if collection is not None:
            fallback, name = adapted_logits(model, X, collection, "collection"), "collection"
        elif model.speaker_norm:  # it cannot go without statistics: its own, said so
            fallback, name = None, "speaker"
        else:
            fallback, name = model.logits(X), "none"
        if weight == 1.0 and fallback is not None:
            reason = "one mood: the collection's statistics" if name == "collection" else \
                "one mood and nothing to compare with: not adapted"
            return fallback, {**note, "mode": name, "reason": reason}
        adapted = adapted_logits(model, X, own, "collection" if self.own == "collection" else "speaker")
        if weight == 0.0 or fallback is None:
            return adapted, {**note, "mode": self.own, **({"reason": "mostly one mood, but this model needs statistics"}
                                                           if weight > 0 else {})}
        return (1 - weight) * adapted + weight * fallback, {
            **note, "mode": f"{self.own}+{name}", "weights": {self.own: round(1 - weight, 3), name: round(weight, 3)},
            "reason": f"between a mix and one mood: logits {1 - weight:.0%} own statistics, {weight:.0%} {name}"}


def batch_logits(model, plan: AdaptationPlan, X: np.ndarray, voiced: np.ndarray, groups: np.ndarray,
                 seconds: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Logits of one batch's segment embeddings ``X`` adapted as ``plan`` says, the segments falling into
    ``groups`` (a key per segment: speakers, or one key for a folder), the batch's statistics as the collection,
    as predict adapts a batch; and how many groups took each mode. ``seconds``: each segment's duration."""
    keys = np.unique(groups)
    collection = plan.collection(model, X, voiced, groups=len(keys))
    out = np.empty((len(X), len(model.classes)), np.float32)
    modes: dict[str, int] = {}
    for k in keys:
        m = groups == k
        speech = float(seconds[m & voiced].sum()) if seconds is not None else float((m & voiced).sum())
        out[m], note = plan.adapt(model, X[m], voiced[m], speech, who=str(k), collection=collection)
        modes[note["mode"]] = modes.get(note["mode"], 0) + 1
    return out, modes


def plan_for(model, adapt: str, *, n_inputs: int, speakers=None) -> AdaptationPlan:
    """The adaptation ``adapt`` means for this model and these inputs. ``auto`` (benchmarks/adaptation.py):
    the guarded rule when speakers are given or found; when several recordings come without speakers, their
    statistics as one group, guarded as a group with nothing to compare with; for one recording alone the
    guarded rule when the model has a mood check (with nothing to compare with, it decides), else nothing (a
    speaker-normalised model: the recording's own statistics)."""
    if adapt == "none":
        if model.speaker_norm:
            raise ConfigError(f"{model.name}: trained on speaker-normalised embeddings, so it needs statistics: "
                              "--adapt speaker|collection|auto")
        if speakers not in (None, "auto"):
            raise ConfigError("--speakers groups inputs for --adapt speaker|auto; with --adapt none each file stands alone")
        return AdaptationPlan("none", speakers)
    if adapt == "collection":
        if speakers not in (None, "auto"):
            raise ConfigError("--adapt collection takes every input as one group; --speakers is for --adapt speaker|auto")
        return AdaptationPlan("collection", speakers if speakers == "auto" else "all")
    if adapt == "speaker":
        return AdaptationPlan("speaker", speakers or "file")
    if model.reference is None:  # a head that takes raw features (svm, layer sums): nothing to map statistics onto
        return AdaptationPlan("none", speakers, "the model's head takes no standardised input")
    if speakers is not None:  # the guarded rule: measured safe with the collection as its fallback
        return AdaptationPlan("guarded", speakers, "speakers given" if speakers != "auto" else "speakers found", True)
    if n_inputs > 1:  # no speakers known: the collection's statistics, unless it holds one mood (a folder of angry
        # calls: the plain collection falls to chance there; benchmarks/adaptation.py, one-emotion collection)
        return AdaptationPlan("guarded", "all", "several recordings, no speakers: one collection, unless it holds one mood",
                              True, own="collection")
    if model.speaker_norm:  # it cannot go without statistics: the recording's own
        return AdaptationPlan("speaker", "file", "one recording: its own statistics (this model needs them)", True)
    if model.mood is not None:  # the mood check judges the recording's own statistics: measured safe
        return AdaptationPlan("guarded", "file", "one recording: its own statistics unless the mood check hears one mood",
                              True)
    # one recording alone: its own statistics are those of one speaker, who may hold one mood; measured unsafe
    return AdaptationPlan("none", None, "one recording: nothing to compare it with", True)


