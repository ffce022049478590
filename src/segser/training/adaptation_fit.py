"""What training fits for adaptation beside a model: the mood check's emotion directions and coefficients
(:mod:`segser.adaptation.mood`), and speaker vectors (003's i-vector role)."""
from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from segser.adaptation.heads import AdaptationHeads, ZHead


def heads_from_torch(heads: dict) -> AdaptationHeads:
    """Adaptation heads from ``{kind: (EmotionHead with a "segment" head, temperature)}``, their logits divided by
    their own temperature."""
    out = {}
    for kind, (module, temperature) in heads.items():
        first, last = module.head.net[1], module.head.net[3]
        out[kind] = ZHead(*(t.detach().numpy().astype(np.float32) for t in (
            module.mean, module.std, first.weight, first.bias, last.weight / temperature, last.bias / temperature)))
    return AdaptationHeads(out)


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


def append_speaker_vectors(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each segment's features plus its speaker's mean features over all that
    speaker's (unlabelled) segments: a speaker vector in the role of 003's i-vectors."""
    means = {s: X[speakers == s].mean(0) for s in np.unique(speakers)}
    return np.concatenate([X, np.stack([means[s] for s in speakers])], axis=1)

