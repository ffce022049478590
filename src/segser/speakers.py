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

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, display_path

# Fewer segments than this give statistics too noisy to normalise with (README: UA against seconds of speech).
MIN_SPEAKER_SEGMENTS = 10
# Bounds the memory a batch's embeddings take while its statistics are computed (~385 MB at 1920-d).
MAX_GROUP_SEGMENTS = MAX_SPEAKER_SEGMENTS = 50_000
MAX_TABLE_ROWS = 1_000_000
SPEAKER_MODES = ("all", "file", "auto")
# The safe rule (benchmarks/adaptation.py): a group whose voiced segments the collection-adapted model gives
# mostly one emotion is taken to hold one mood, and keeps the collection's statistics, not its own. Around the
# share fixed before the first measurement (0.6) the two are blended over +-ONE_MOOD_RAMP, so that a segment or
# two more of one emotion never flips a whole speaker's adaptation (a 112-segment SAVEE speaker did: 0.616 -> 0.598).
ONE_MOOD_SHARE = 0.6
ONE_MOOD_RAMP = 0.1


@dataclass(frozen=True)
class Statistics:
    """Mean and standard deviation of a group's segment embeddings, and how many segments they come from."""

    mean: np.ndarray
    std: np.ndarray
    segments: int

    @classmethod
    def of(cls, X: np.ndarray) -> "Statistics":
        return cls(X.mean(0), X.std(0) + 1e-5, int(len(X)))

    def shrunk(self, prior: "Statistics", k: float) -> "Statistics":
        """Towards ``prior`` by the amount of evidence: weight n / (n + k) on this group's own statistics."""
        w = self.segments / (self.segments + k)
        return Statistics(w * self.mean + (1 - w) * prior.mean, w * self.std + (1 - w) * prior.std, self.segments)


def speaker_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (floored) of one speaker's segment embeddings."""
    st = Statistics.of(X)
    return st.mean, st.std


def standardise(X: np.ndarray, stats: Statistics, reference: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``X`` standardised with a group's statistics, then (``reference``: the mean and std the head was
    trained to expect) mapped onto the training population's: the group's moments are matched to the
    training population's, so a head trained without adaptation can use it too."""
    Z = (X - stats.mean) / stats.std
    return (Z * reference[1] + reference[0]).astype(np.float32) if reference is not None else Z.astype(np.float32)


def speaker_normalise(X: np.ndarray, speakers: np.ndarray, voiced: np.ndarray | None = None) -> np.ndarray:
    """Per-speaker z-normalisation from each speaker's own (unlabelled) segments (those ``voiced``, if given).

    >>> X = np.array([[1.0], [3.0], [10.0], [20.0]])
    >>> speaker_normalise(X, np.array(["a", "a", "b", "b"])).round(3).ravel().tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    out = np.empty_like(X)
    for s in np.unique(speakers):
        m = speakers == s
        stats_rows = m & voiced if voiced is not None and np.any(m & voiced) else m
        out[m] = standardise(X[m], Statistics.of(X[stats_rows]))
    return out


def mood_weight(share: float, centre: float = ONE_MOOD_SHARE) -> float:
    """The weight of the fallback (no own statistics) for a group whose commonest emotion has ``share`` of its
    segments: 0 up to ``centre - ONE_MOOD_RAMP``, 1 from ``centre + ONE_MOOD_RAMP``, linear between."""
    return float(np.clip((share - centre + ONE_MOOD_RAMP) / (2 * ONE_MOOD_RAMP), 0.0, 1.0))


def one_mood(logits: np.ndarray, *, centre: float = ONE_MOOD_SHARE) -> tuple[float, float]:
    """How far a group is taken to hold one mood (0: a mix, use its own statistics; 1: one mood, keep the
    fallback's), from the share of its segments (their logits under prior statistics) given the commonest
    emotion; and that share.

    >>> one_mood(np.eye(4)[[0, 0, 0, 0, 0, 0, 1, 2, 3, 1]])   # 60 % one emotion: half way
    (0.5, 0.6)
    """
    if not len(logits):
        return 0.0, 0.0
    share = float(np.bincount(logits.argmax(1), minlength=logits.shape[1]).max() / len(logits))
    return mood_weight(share, centre), share


# Where the unadapted model is all the guard can ask (a stream, a group alone), the mood check's probability that a
# sample holds one mood sets the weight of no adaptation: 0 at p = 0, 1 from MOOD_CHECK_TOP (benchmarks/adaptation.py:
# a wrong "mixed" flattens a one-mood voice, a wrong "one mood" only forgoes a gain, so the ramp sits low).
MOOD_CHECK_TOP = 0.4
MOOD_CHECK_FILE = "mood.npz"


@dataclass(frozen=True)
class MoodCheck:
    """Does a voice's sample hold one mood, or a mix? From two things: how much of the sample's spread lies along
    the emotion directions of the training speakers (a mix of emotions spreads along them, one mood hardly does:
    ``spread``), and the share of its segments the unadapted model gives its commonest emotion. A logistic
    regression on the two, fitted on the leave-one-corpus-out folds of the licensed corpora, says how likely one
    mood is (:meth:`probability`). ``directions``: d x k, in the space standardised by the model's reference."""

    directions: np.ndarray
    coef: np.ndarray  # bias, log spread fraction, dominant share

    @staticmethod
    def spread_of(trace_all: float, trace_along: float) -> float:
        return float(np.log(max(trace_along, 1e-12) / max(trace_all, 1e-12)))

    def spread(self, Z: np.ndarray) -> float:
        """Log of the fraction of the variance of ``Z`` (reference-standardised embeddings) along the directions."""
        P = Z @ self.directions
        return self.spread_of(float(Z.var(0).sum()), float(P.var(0).sum()))

    def probability(self, spread: float, share: float) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.coef[0] + self.coef[1] * spread + self.coef[2] * share))))

    @staticmethod
    def weight(probability: float) -> float:
        """The unadapted logits' weight for a sample with this probability of one mood."""
        return float(np.clip(probability / MOOD_CHECK_TOP, 0.0, 1.0))

    def save(self, path) -> None:
        from .fileio import atomic_path

        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, directions=self.directions.astype(np.float32), coef=np.asarray(self.coef, np.float64))

    @classmethod
    def load(cls, path, name: str) -> "MoodCheck":
        import zipfile

        from .errors import ModelError

        try:
            with np.load(path) as z:
                directions, coef = z["directions"].astype(np.float64), z["coef"].astype(np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} unreadable ({type(exc).__name__})") from None
        if directions.ndim != 2 or coef.shape != (3,) or not np.all(np.isfinite(directions)) or not np.all(np.isfinite(coef)):
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} holds no valid mood check")
        return cls(directions, coef)


def fit_mood_coefficients(one_mood: np.ndarray, spread: np.ndarray, share: np.ndarray) -> np.ndarray:
    """A mood check's coefficients (bias, log spread fraction, dominant share): a logistic regression on groups
    known to hold one mood or a mix, the two kinds weighing the same.

    >>> one = np.array([True] * 4 + [False] * 4)
    >>> coef = fit_mood_coefficients(one, np.array([-6, -5.5, -6.2, -5.8, -4, -3.5, -4.2, -3.8]),
    ...                              np.array([.9, .8, .95, .7, .4, .5, .35, .45]))
    >>> bool(coef[1] < 0 < coef[2])
    True
    """
    from sklearn.linear_model import LogisticRegression

    one = np.asarray(one_mood, bool)
    if one.all() or not one.any():
        raise ValueError("a mood check needs groups of both kinds (one mood and a mix)")
    F = np.column_stack([np.asarray(spread, float), np.asarray(share, float)])
    lr = LogisticRegression().fit(F, one, sample_weight=np.where(one, 1 / one.mean(), 1 / (1 - one.mean())))
    return np.array([lr.intercept_[0], *lr.coef_[0]])


ADAPTATION_HEADS_FILE = "adaptation_heads.npz"


@dataclass(frozen=True)
class AdaptationHeads:
    """Heads for adapted input beside a model's own (recipes/default/adaptation_heads.py): ``speaker``, trained on
    per-speaker standardised embeddings (for a group adapted with its own statistics), and ``collection``, on
    per-corpus standardised ones (for a batch's statistics). They take plain z-scores, which suit them better than
    moment matching into the unadapted head (benchmarks/adaptation.py). Each is one hidden ReLU layer run in
    numpy, so every runtime has them; the file holds their logits already divided by their own temperature.

    >>> rng = np.random.default_rng(0)
    >>> layer = (np.zeros(3), np.ones(3), rng.normal(size=(5, 3)), np.zeros(5), rng.normal(size=(2, 5)), np.zeros(2))
    >>> AdaptationHeads({"speaker": layer, "collection": layer}).logits("speaker", np.ones((4, 3))).shape
    (4, 2)
    """

    layers: dict  # "speaker" | "collection" -> (mean, std, w1, b1, w2, b2)

    KINDS = ("speaker", "collection")

    def logits(self, kind: str, Z: np.ndarray) -> np.ndarray:
        mean, std, w1, b1, w2, b2 = self.layers[kind]
        hidden = np.maximum(((np.asarray(Z, np.float32) - mean) / std) @ w1.T + b1, 0.0)
        return (hidden @ w2.T + b2).astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """(embedding size, classes)."""
        _, _, w1, _, w2, _ = self.layers["speaker"]
        return w1.shape[1], w2.shape[0]

    @classmethod
    def from_torch(cls, heads: dict) -> "AdaptationHeads":
        """From ``{kind: (EmotionHead with a "segment" head, temperature)}``."""
        layers = {}
        for kind, (module, temperature) in heads.items():
            first, last = module.head.net[1], module.head.net[3]
            layers[kind] = tuple(t.detach().numpy().astype(np.float32) for t in (
                module.mean, module.std, first.weight, first.bias, last.weight / temperature, last.bias / temperature))
        return cls(layers)

    def save(self, path) -> None:
        from .fileio import atomic_path

        arrays = {f"{kind}_{i}": a for kind, layer in self.layers.items() for i, a in enumerate(layer)}
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, name: str) -> "AdaptationHeads":
        import zipfile

        from .errors import ModelError

        try:
            with np.load(path) as z:
                layers = {kind: tuple(z[f"{kind}_{i}"].astype(np.float32) for i in range(6)) for kind in cls.KINDS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} unreadable ({type(exc).__name__})") from None
        for kind, (mean, std, w1, b1, w2, b2) in layers.items():
            d, h = w1.shape[1] if w1.ndim == 2 else -1, len(b1)
            if (mean.shape != (d,) or std.shape != (d,) or w1.shape != (h, d) or w2.ndim != 2 or w2.shape[1] != h
                    or b2.shape != (w2.shape[0],) or not all(np.all(np.isfinite(a)) for a in layers[kind]) or np.any(std <= 0)):
                raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE} holds no valid {kind} head")
        if layers["speaker"][2].shape[1] != layers["collection"][2].shape[1] or len(layers["speaker"][5]) != len(layers["collection"][5]):
            raise ModelError(f"{name}: {ADAPTATION_HEADS_FILE}: its two heads disagree on input or classes")
        return cls(layers)


def adapted_logits(model, X: np.ndarray, stats: Statistics, kind: str = "speaker") -> np.ndarray:
    """Logits of ``X`` standardised with a group's statistics (``kind``: ``speaker``, a group's own; ``collection``,
    a whole batch's): into the model's adaptation head for that kind when it has them (their logits brought to the
    model's temperature, so its calibration and blends hold), else mapped onto the head's reference."""
    if model.adaptation is not None:
        return model.adaptation.logits(kind, standardise(X, stats)) * np.float32(model.temperature)
    return model.logits(standardise(X, stats, model.reference))


def emotion_directions(Z: np.ndarray, y: np.ndarray, speakers: np.ndarray, n_classes: int, *,
                       ridge: float = 0.1) -> np.ndarray:
    """The directions that separate emotions within speakers (linear discriminants of speaker-centred,
    reference-standardised embeddings ``Z``), unit length, d x (n_classes - 1).

    The between-class scatter has rank k - 1 (k classes present), so the discriminants lie in the span of the
    within-class covariance's inverse applied to the class means: one solve and a k x k eigenproblem, not a d x d
    eigenproblem (minutes at d = 6144). With fewer segments than dimensions the solve goes through the segments
    (Woodbury), so no d x d matrix is held (300 MB each at d = 6144).

    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 50)
    >>> Z = rng.normal(size=(150, 5)); Z[:, 0] += 3 * y
    >>> B = emotion_directions(Z, y, np.zeros(150), 3)
    >>> B.shape, bool(abs(B[0, 0]) > 0.9)
    ((5, 2), True)
    """
    from scipy.linalg import cho_factor, cho_solve

    Zc = np.asarray(Z, np.float64).copy()
    for s in np.unique(speakers):
        m = speakers == s
        Zc[m] -= Zc[m].mean(0)
    present = [c for c in range(n_classes) if np.any(y == c)]
    spread = [c for c in present if np.sum(y == c) > 1]  # a class of one segment has no spread
    # within = ridge I + R.T @ R: the mean over classes of their covariance (each class's deviations over n_c - 1)
    R = np.concatenate([(Zc[y == c] - Zc[y == c].mean(0)) / np.sqrt((np.sum(y == c) - 1) * len(spread))
                        for c in spread]) if spread else np.zeros((0, Z.shape[1]))
    means = np.array([Zc[y == c].mean(0) for c in present]).T
    means -= means.mean(1, keepdims=True)  # np.cov of the class means is means @ means.T / (k - 1)
    if not len(R):
        projected = means / ridge
    elif len(R) < Z.shape[1]:  # (ridge I + R'R)^-1 M = (M - R' (ridge I + R R')^-1 R M) / ridge
        projected = (means - R.T @ cho_solve(cho_factor(ridge * np.eye(len(R)) + R @ R.T), R @ means)) / ridge
    else:
        projected = cho_solve(cho_factor(ridge * np.eye(Z.shape[1]) + R.T @ R), means)
    values, vectors = np.linalg.eigh(means.T @ projected)
    B = projected @ vectors[:, np.argsort(-values)[:len(present) - 1]]
    return B / np.linalg.norm(B, axis=0)


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
        from .errors import AudioError

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


class LiveAdaptation:
    """The guarded rule over a voice as it is heard (a live stream): each segment is adapted with the
    statistics of the voiced segments so far, once there are ``MIN_SPEAKER_SEGMENTS`` of them, blended with the
    unadapted logits as far as the model without adaptation hears one emotion in them (:func:`mood_weight`
    around ``mood_share``; ``guarded=False`` drops that guard). :meth:`logits` also says, per segment, how many
    seconds of speech its statistics come from (0: not adapted). Memory is constant: running sums, not segments.

    >>> live = LiveAdaptation(load_model("default-4class"))             # doctest: +SKIP
    >>> logits, heard = live.logits(X, speech, spans, gate=0.2)         # doctest: +SKIP
    """

    def __init__(self, model, *, guarded: bool = True, mood_share: float = ONE_MOOD_SHARE):
        from .errors import check_number

        self.mood_share = check_number("mood_share", mood_share, lo=0.3, hi=1.0)
        if model.reference is None and not model.speaker_norm:
            raise ConfigError(f"{model.name}: its head takes no standardised input, so it cannot be adapted")
        if model.speaker_norm:
            raise ConfigError(f"{model.name}: trained on speaker-normalised embeddings, it cannot judge a segment before "
                              "a voice's statistics exist; live adaptation uses a model without that (e.g. default-4class)")
        self.model, self.guarded = model, guarded
        self.n, self.seconds = 0, 0.0
        self.sum = self.sumsq = None
        self.votes = np.zeros(len(model.classes), np.int64)
        # the mood check's running sums: the voice's spread along the emotion directions (constant memory)
        self.check = model.mood if guarded and model.reference is not None else None
        if self.check is not None:
            k = self.check.directions.shape[1]
            self.along, self.along_sq = np.zeros(k), np.zeros(k)

    def statistics(self) -> Statistics:
        mean = self.sum / self.n
        return Statistics(mean, np.sqrt(np.maximum(self.sumsq / self.n - mean ** 2, 0.0)) + 1e-5, self.n)

    def weight(self) -> float:
        """The unadapted logits' weight now: 1 before the warm-up, then the mood check's (:meth:`MoodCheck.weight`),
        or for a model without one :func:`mood_weight` of the votes."""
        if self.n < MIN_SPEAKER_SEGMENTS:
            return 1.0
        if not self.guarded:
            return 0.0
        if self.check is not None:
            return MoodCheck.weight(self.one_mood_probability())
        return mood_weight(self.votes.max() / self.n, self.mood_share)

    def one_mood_probability(self) -> float:
        """The mood check on the voice so far (the same figure as on these segments at once)."""
        ref_mean, ref_std = self.model.reference
        mean = self.sum / self.n
        var = np.maximum(self.sumsq / self.n - mean ** 2, 0.0) / np.asarray(ref_std, np.float64) ** 2
        along = np.maximum(self.along_sq / self.n - (self.along / self.n) ** 2, 0.0)
        return self.check.probability(MoodCheck.spread_of(float(var.sum()), float(along.sum())),
                                      float(self.votes.max() / self.n))

    def adapting(self) -> bool:
        return self.weight() < 1.0

    def logits(self, X: np.ndarray, speech: np.ndarray, spans, *, gate: float) -> tuple[np.ndarray, list[float]]:
        raw = self.model.logits(X)
        out, heard = raw.copy(), []
        for i, ((s, e), share) in enumerate(zip(spans, speech)):
            if share >= gate:
                x = X[i].astype(np.float64)
                self.sum = x.copy() if self.sum is None else self.sum + x
                self.sumsq = x * x if self.sumsq is None else self.sumsq + x * x
                self.n += 1
                self.votes[int(raw[i].argmax())] += 1
                if self.check is not None:
                    proj = ((x - self.model.reference[0]) / self.model.reference[1]) @ self.check.directions
                    self.along += proj
                    self.along_sq += proj * proj
                self.seconds += (e - s) * float(share)
            w = self.weight()
            if w < 1.0:
                adapted = adapted_logits(self.model, X[i:i + 1], self.statistics())[0]
                out[i] = (1 - w) * adapted + w * raw[i]
                heard.append(round(self.seconds, 1))
            else:
                heard.append(0.0)
        return out, heard

    def describe(self) -> dict:
        w = self.weight()
        note = {"mode": "none" if w == 1.0 else "speaker" if w == 0.0 else "speaker+none", "segments": self.n,
                "speech_seconds": round(self.seconds, 1), "guarded": self.guarded}
        if 0.0 < w < 1.0:
            note["weights"] = {"speaker": round(1 - w, 3), "none": round(w, 3)}
        if self.n:
            note["dominant_share"] = round(float(self.votes.max() / self.n), 3)
        if self.check is not None and self.n >= MIN_SPEAKER_SEGMENTS:
            note["one_mood_probability"] = round(self.one_mood_probability(), 3)
        if w == 1.0:
            note["reason"] = (f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech" if self.n < MIN_SPEAKER_SEGMENTS
                              else "one mood so far: not adapted")
        return note


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


def append_speaker_vectors(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each segment's features plus its speaker's mean features over all that
    speaker's (unlabelled) segments: a speaker vector in the role of 003's i-vectors."""
    means = {s: X[speakers == s].mean(0) for s in np.unique(speakers)}
    return np.concatenate([X, np.stack([means[s] for s in speakers])], axis=1)


def read_speaker_table(path) -> dict[str, str]:
    """``file,speaker`` rows (a header line naming those two columns) -> {real path: speaker}."""
    path = Path(path)
    table: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            if not rows.fieldnames or not {"file", "speaker"} <= set(rows.fieldnames):
                raise ConfigError(f"{display_path(path)}: a speaker table needs a header 'file,speaker' and one row per file")
            for i, row in enumerate(rows, start=2):
                if i - 1 > MAX_TABLE_ROWS:
                    raise ConfigError(f"{display_path(path)}: more than {MAX_TABLE_ROWS:,} rows; split the inputs")
                name, speaker = (row["file"] or "").strip(), (row["speaker"] or "").strip()
                if not name or not speaker:
                    raise ConfigError(f"{display_path(path)}, line {i}: empty file or speaker")
                file = Path(name) if Path(name).is_absolute() else path.parent / name
                key = os.path.realpath(file)
                if key in table:  # the same speaker twice is as much a mistake in the table as another speaker
                    raise ConfigError(f"{display_path(path)}, line {i}: {name} is listed twice (speaker {table[key]!r}); "
                                      "give each file once")
                table[key] = speaker
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{display_path(path)}: speaker table unreadable ({exc})") from None
    if not table:
        raise ConfigError(f"{display_path(path)}: a speaker table needs a header 'file,speaker' and one row per file")
    return table


def speaker_groups(files: list[str], speakers) -> dict[str, list[str]]:
    """The input files grouped by speaker, in input order. ``speakers``: ``"all"``
    (every input is one speaker), ``"file"`` (each recording is its own speaker),
    a ``file,speaker`` CSV, or a mapping {file: speaker}."""
    if speakers == "all":
        return {"all inputs": list(files)} if files else {}
    if speakers == "file":
        return {f: [f] for f in files}
    if isinstance(speakers, dict):
        table = {os.path.realpath(k): str(v) for k, v in speakers.items()}
    elif isinstance(speakers, (str, Path)) and Path(speakers).suffix.lower() == ".csv":
        table = read_speaker_table(speakers)
    else:
        raise ConfigError(f"speakers: {speakers!r} is none of {', '.join(SPEAKER_MODES)} or a file,speaker CSV")
    missing = [f for f in files if os.path.realpath(f) not in table]
    if missing:
        raise ConfigError(f"{display_path(missing[0])}: not in the speaker table"
                          + (f" (and {len(missing) - 1} more inputs)" if len(missing) > 1 else ""))
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(table[os.path.realpath(f)], []).append(f)
    return groups
