"""Splits are over clips and speakers: no clip, and for speaker protocols no
speaker, in two of train/validation/test - for every protocol."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from segser.protocols import ProtocolError, make_folds, speaker_independent


def manifest(n_speakers, per_speaker, n_classes, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_speakers + 1):
        for k in range(per_speaker):
            rows.append({"path": f"s{s}_{k}.wav", "speaker": f"spk_{s:02d}", "label": f"c{rng.integers(n_classes)}",
                         "session": (s + 1) // 2})
    return pd.DataFrame(rows)


SPECS = ["loso", "loso-session", "speaker-kfold:3", "groups:1-2,3-4,5-6,7-8", "kfold:3", "random"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), spec=st.sampled_from(SPECS), per=st.integers(6, 12))
def test_no_leakage(seed, spec, per):
    df = manifest(8, per, 3, seed)
    folds = make_folds(df, spec, seed=seed)
    tested = np.concatenate([f.test for f in folds])
    if spec != "random":
        assert sorted(tested) == list(range(len(df)))  # every clip tested exactly once
    for f in folds:
        parts = [set(f.train), set(f.val), set(f.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(f.val) > 0 and len(f.train) > 0
        if speaker_independent(spec):
            spk = [set(df.loc[list(p), "speaker"]) for p in parts]
            assert not (spk[0] & spk[1] or spk[0] & spk[2] or spk[1] & spk[2])


def test_segments_follow_their_clip():
    """Segments are mapped to folds through their clip index, so a clip's
    segments cannot straddle train and test."""
    df = manifest(6, 5, 2, 0)
    seg_clip = np.repeat(np.arange(len(df)), 3)  # 3 segments per clip
    for f in make_folds(df, "loso"):
        tr, te = np.isin(seg_clip, f.train), np.isin(seg_clip, f.test)
        assert not set(seg_clip[tr]) & set(seg_clip[te])


def test_speaker_protocol_without_speakers_is_refused():
    df = manifest(4, 5, 2, 0)
    df["speaker"] = None
    with pytest.raises(ProtocolError, match="speaker"):
        make_folds(df, "loso")
    assert len(make_folds(df, "kfold:2")) == 2


def test_same_seed_same_folds():
    df = manifest(8, 8, 3, 1)
    a, b = make_folds(df, "speaker-kfold:4", seed=5), make_folds(df, "speaker-kfold:4", seed=5)
    assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
