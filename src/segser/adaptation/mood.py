"""Does a voice hold one mood? The share-based guard and the mood check (``mood.npz``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The safe rule (benchmarks/adaptation.py): a group whose voiced segments the collection-adapted model gives
# mostly one emotion is taken to hold one mood, and keeps the collection's statistics, not its own. Around the
# share fixed before the first measurement (0.6) the two are blended over +-ONE_MOOD_RAMP, so that a segment or
# two more of one emotion never flips a whole speaker's adaptation (a 112-segment SAVEE speaker did: 0.616 -> 0.598).
ONE_MOOD_SHARE = 0.6



ONE_MOOD_RAMP = 0.1



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
        from segser.io.files import atomic_path

        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, directions=self.directions.astype(np.float32), coef=np.asarray(self.coef, np.float64))

    @classmethod
    def load(cls, path, name: str) -> "MoodCheck":
        import zipfile

        from segser.errors import ModelError

        try:
            with np.load(path) as z:
                directions, coef = z["directions"].astype(np.float64), z["coef"].astype(np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} unreadable ({type(exc).__name__})") from None
        if directions.ndim != 2 or coef.shape != (3,) or not np.all(np.isfinite(directions)) or not np.all(np.isfinite(coef)):
            raise ModelError(f"{name}: {MOOD_CHECK_FILE} holds no valid mood check")
        return cls(directions, coef)

