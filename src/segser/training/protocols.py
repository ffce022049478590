"""Train/validation/test splits over CLIPS (never segments), speaker-independent by default.

A protocol spec is a string:

* ``loso`` leave-one-speaker-out; ``loso-session`` leave-one-session-out;
* ``speaker-kfold:K`` K speaker-disjoint folds, stratified by label;
* ``groups:1-4,5-8,...`` explicit speaker folds (numbers match the trailing
  digits of speaker ids, e.g. RAVDESS actors; ``1+11+20`` joins numbers);
* ``emobox-ravdess``: the 6 RAVDESS actor folds of the published EmoBox
  benchmark (Ma et al. 2024, its data/ravdess/fold_N test files), so RAVDESS
  figures can be set beside its published ones;
* ``kfold:K`` stratified K-fold over clips (NOT speaker-independent);
* ``random`` paper 001's stratified 8:1:1 split over clips (NOT speaker-independent);
* cross-corpus: ``leave-one-corpus-out`` trains on all corpora but one and tests
  on it, once per corpus; ``leave-one-corpus-out:ased,tess`` never trains on the
  listed (evaluation-only) corpora and tests them, together, with a model trained
  on all the others; ``corpus-split:emodb,ravdess->nemo`` trains on the left
  corpora and tests on the right. Test clips of classes the training corpora do
  not have are left out (scores are over the classes both sides share).

Validation clips for early stopping come from training speakers only (about
one speaker in nine, at least one) or, without speakers, 10% of training clips.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from segser.errors import ProtocolError


@dataclass(frozen=True)
class Fold:
    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


ALIASES = {
    "emobox-ravdess": "groups:1+11+20+21,4+10+12+14,8+9+19+23,3+5+7+24,2+15+16+18,6+13+17+22",
}


def resolve(spec: str) -> str:
    return ALIASES.get(spec, spec)


def speaker_independent(spec: str) -> bool:
    return not (spec.startswith("kfold") or spec == "random")


def cross_corpus(spec: str) -> bool:
    return spec.startswith(("leave-one-corpus-out", "corpus-split:"))


def never_trained(spec: str, manifest) -> np.ndarray:
    """Which clips no fold of ``spec`` trains on (evaluation-only and test-only corpora)."""
    if not cross_corpus(spec):
        return np.zeros(len(manifest), bool)
    train, test = _corpus_lists(spec)
    held = test if spec.startswith("corpus-split:") else train  # leave-one-corpus-out:A,B lists evaluation-only corpora
    return manifest["corpus"].isin(held).to_numpy()


def _k(spec: str, default: int = 5) -> int:
    if ":" not in spec:
        return default
    text = spec.split(":", 1)[1]
    if not text.isdigit() or not 2 <= int(text) <= 1000:
        raise ProtocolError(f"{spec}: K must be an integer from 2 to 1000")
    return int(text)


def _corpus_lists(spec: str) -> tuple[list[str], list[str]]:
    """(train corpora, test corpora) of a corpus-split spec; (eval-only, []) for leave-one-corpus-out."""
    body = spec.split(":", 1)[1] if ":" in spec else ""
    if spec.startswith("corpus-split:"):
        left, arrow, right = body.partition("->")
        train, test = [c for c in left.split(",") if c], [c for c in right.split(",") if c]
        if not arrow or not train or not test or set(train) & set(test):
            raise ProtocolError(f"{spec}: expected corpus-split:TRAIN1,TRAIN2->TEST1,TEST2 with disjoint corpora")
        return train, test
    return [c for c in body.split(",") if c], []


def check_spec(spec: str) -> str:
    """A protocol spec checked for syntax before any data is read."""
    if not isinstance(spec, str):
        raise ProtocolError(f"protocol must be text (got {spec!r})")
    spec = resolve(spec)
    if spec in ("loso", "loso-session", "random") or spec.startswith("leave-one-corpus-out"):
        if spec.startswith("leave-one-corpus-out") and spec not in ("leave-one-corpus-out",) \
                and not spec.startswith("leave-one-corpus-out:"):
            raise ProtocolError(f"unknown protocol {spec!r}")
        return spec
    if spec.startswith(("speaker-kfold", "kfold")) and spec.split(":")[0] in ("speaker-kfold", "kfold"):
        _k(spec)
        return spec
    if spec.startswith("groups:"):
        for group in spec.split(":", 1)[1].split(","):
            _group_numbers(spec, group)
        return spec
    if spec.startswith("corpus-split:"):
        _corpus_lists(spec)
        return spec
    raise ProtocolError(f"unknown protocol {spec!r} (loso, loso-session, speaker-kfold:K, groups:1-4,5-8,..., kfold:K, "
                        "random, leave-one-corpus-out[:EVAL_ONLY,...], corpus-split:TRAIN,...->TEST,...)")


def _validation(df: pd.DataFrame, train: np.ndarray, rng: np.random.Generator, by_speaker: bool):
    if by_speaker:
        speakers = np.array(sorted(df.loc[train, "speaker"].unique()))
        if len(speakers) >= 2:
            n_val = max(1, int(round(len(speakers) / 9)))
            val_spk = set(rng.choice(speakers, size=n_val, replace=False))
            is_val = df.loc[train, "speaker"].isin(val_spk).to_numpy()
            return train[~is_val], train[is_val]
    labels = df.loc[train, "label"].to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    n_val = max(1, int(round(0.1 * len(train))))
    strat = labels if counts.min() >= 2 and n_val >= len(classes) else None
    tr, va = train_test_split(train, test_size=n_val, random_state=int(rng.integers(1 << 31)), stratify=strat)
    return np.sort(tr), np.sort(va)


def _group_numbers(spec: str, group: str) -> set[int]:
    """Speaker numbers of one group: ``1-4`` or ``1+11+20`` (or both: ``1-3+9``)."""
    out = set()
    for part in group.split("+"):
        a, _, b = part.partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            raise ProtocolError(f"{spec}: groups are speaker numbers or ranges like 1-4 or 1+11+20")
        out |= set(range(int(a), int(b or a) + 1))
    return out


def _speaker_number(s: str) -> int:
    m = re.search(r"(\d+)$", str(s))
    if not m:
        raise ProtocolError(f"speaker id {s!r} has no trailing number for a groups: protocol")
    return int(m.group(1))


def make_folds(df: pd.DataFrame, spec: str, *, seed: int = 0) -> list[Fold]:
    """Folds of clip indices (0..len(df)-1) for protocol ``spec``."""
    spec = check_spec(spec)
    if cross_corpus(spec):
        return _corpus_folds(df, spec, seed=seed)
    n = len(df)
    idx = np.arange(n)
    rng = np.random.default_rng(seed)
    labels = df["label"].to_numpy()
    speakers = df["speaker"].to_numpy() if "speaker" in df else np.array([None] * n)
    needs_speakers = speaker_independent(spec)
    if needs_speakers and pd.isna(speakers).any():
        raise ProtocolError(f"protocol {spec!r} needs a speaker for every clip; use kfold:K or random for data without speakers")
    folds: list[tuple[str, np.ndarray]] = []
    if spec == "loso":
        for s in sorted(set(speakers)):
            folds.append((f"speaker={s}", idx[speakers == s]))
    elif spec == "loso-session":
        if "session" not in df or df["session"].isna().any():
            raise ProtocolError("protocol 'loso-session' needs a session for every clip")
        for s in sorted(df["session"].unique()):
            folds.append((f"session={int(s)}", idx[df["session"].to_numpy() == s]))
    elif spec.startswith("speaker-kfold"):
        k = _k(spec)
        if len(set(speakers)) < k:
            raise ProtocolError(f"{spec}: only {len(set(speakers))} speakers for {k} folds")
        sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for i, (_, test) in enumerate(sgkf.split(idx, labels, groups=speakers)):
            folds.append((f"fold={i}", test))
    elif spec.startswith("groups:"):
        numbers = np.array([_speaker_number(s) for s in speakers])
        for group in spec.split(":", 1)[1].split(","):
            test = idx[np.isin(numbers, sorted(_group_numbers(spec, group)))]
            if test.size:
                folds.append((f"speakers={group}", test))
        covered = np.unique(np.concatenate([t for _, t in folds])) if folds else np.array([])
        if covered.size != n:
            raise ProtocolError(f"{spec}: {n - covered.size} clips belong to no fold")
    elif spec.startswith("kfold"):
        k = _k(spec)
        skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        for i, (_, test) in enumerate(skf.split(idx, labels)):
            folds.append((f"fold={i}", test))
    elif spec == "random":
        rest, test = train_test_split(idx, test_size=0.1, random_state=seed, stratify=labels)
        train, val = train_test_split(rest, test_size=1 / 9, random_state=seed, stratify=labels[rest])
        return [Fold("random-8:1:1", np.sort(train), np.sort(val), np.sort(test))]
    else:
        raise ProtocolError(f"unknown protocol {spec!r} (loso, loso-session, speaker-kfold:K, groups:..., kfold:K, random)")
    out = []
    for name, test in folds:
        train = np.setdiff1d(idx, test)
        tr, va = _validation(df, train, rng, by_speaker=needs_speakers)
        out.append(Fold(name, tr, va, np.sort(test)))
    return out


def final_split(df: pd.DataFrame, spec: str, *, seed: int = 0) -> Fold:
    """All clips for training the shipped model, validation carved as in a fold
    (cross-corpus: the corpora the protocol may train on)."""
    idx = np.arange(len(df))
    if cross_corpus(spec):
        first, _ = _corpus_lists(spec)
        idx = idx[~df["corpus"].isin(first).to_numpy()] if spec.startswith("leave-one-corpus-out") else \
            idx[df["corpus"].isin(first).to_numpy()]
    tr, va = _validation(df, idx, np.random.default_rng(seed), by_speaker=speaker_independent(spec))
    return Fold("final", tr, va, np.array([], dtype=int))


def _corpus_folds(df: pd.DataFrame, spec: str, *, seed: int) -> list[Fold]:
    corpus = df["corpus"].to_numpy()
    present = list(dict.fromkeys(corpus))
    first, second = _corpus_lists(spec)
    named = first + second
    missing = [c for c in named if c not in present]
    if missing:
        raise ProtocolError(f"{spec}: corpus {', '.join(missing)} not in the data ({', '.join(present)})")
    if spec.startswith("corpus-split:"):
        plan = [(f"{'+'.join(first)}->{'+'.join(second)}", first, second)]
    else:
        trainable = [c for c in present if c not in first]
        if len(trainable) < 2 and not (first and trainable):
            raise ProtocolError(f"{spec}: needs at least two corpora that may be trained on")
        plan = [(f"corpus={c}", [t for t in trainable if t != c], [c]) for c in trainable if len(trainable) > 1]
        if first:
            plan.append((f"corpus={'+'.join(first)}", trainable, first))
    rng = np.random.default_rng(seed)
    folds = []
    for name, train_c, test_c in plan:
        train = np.flatnonzero(np.isin(corpus, train_c))
        shared = set(df.loc[train, "label"])
        test = np.flatnonzero(np.isin(corpus, test_c) & df["label"].isin(shared).to_numpy())
        if not len(test):
            raise ProtocolError(f"{spec}: {'+'.join(test_c)} shares no class with {'+'.join(train_c)}")
        tr, va = _validation(df, train, rng, by_speaker=df["speaker"].notna().all())
        folds.append(Fold(name, tr, va, test))
    return folds
