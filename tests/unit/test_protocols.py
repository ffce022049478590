"""Splits are over clips and speakers: no clip, and for speaker protocols no
speaker, in two of train/validation/test - for every protocol."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segser.training.protocols import ProtocolError, make_folds, speaker_independent


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


def test_no_test_segment_reaches_training(toy_corpus, tmp_path, monkeypatch):
    """Through a real run: the feature rows a head is trained and validated on
    never include a segment of a test clip (overlapping 0.5 s segments)."""
    from segser.segmentation.config import Segmentation
    from segser.training import train
    from segser.training.config import CorpusSpec, TrainConfig

    seen = []
    real_fit, real_fold = train.fit_head, train.run_fold

    def fit_spy(X_tr, y_tr, X_va, y_va, *a, **kw):
        seen.append({r.tobytes() for r in np.concatenate([X_tr, X_va])})
        return real_fit(X_tr, y_tr, X_va, y_va, *a, **kw)

    tests = []

    def fold_spy(cfg, data, feats, fold, *a, **kw):
        tests.append({r.tobytes() for r in feats.clean.select(fold.test).X})
        return real_fold(cfg, data, feats, fold, *a, **kw)

    monkeypatch.setattr(train, "fit_head", fit_spy)
    monkeypatch.setattr(train, "run_fold", fold_spy)
    cfg = TrainConfig(speech_gate=0, corpora=(CorpusSpec("csv", str(toy_corpus)),), backbone="logmel", protocol="loso", max_epochs=2,
                      segmentation=Segmentation(length=1.0, hop=0.5), final_model=False)
    train.run(cfg, tmp_path / "run", progress=False)
    assert len(tests) == len(seen) == 4 and all(len(t) == 24 for t in tests)  # 12 clips x 2 segments per held-out speaker
    for trained_on, tested in zip(seen, tests):
        assert not trained_on & tested


def corpus_manifest():
    rows = []
    for corpus, labels in (("a", "xyz"), ("b", "xyz"), ("c", "xy"), ("d", "xyw")):
        for s in range(3):
            for k, lab in enumerate(labels * 2):
                rows.append({"path": f"{corpus}{s}_{k}.wav", "corpus": corpus, "speaker": f"{corpus}_{s}", "label": lab})
    return pd.DataFrame(rows)


def test_leave_one_corpus_out_never_trains_on_test_or_evaluation_only_corpora():
    df = corpus_manifest()
    folds = make_folds(df, "leave-one-corpus-out:d")
    assert [f.name for f in folds] == ["corpus=a", "corpus=b", "corpus=c", "corpus=d"]
    for f in folds:
        train_c = set(df.loc[np.concatenate([f.train, f.val]), "corpus"])
        test_c = set(df.loc[f.test, "corpus"])
        assert "d" not in train_c and not train_c & test_c
        assert set(df.loc[f.test, "label"]) <= set(df.loc[f.train, "label"])  # shared classes only
    assert set(df.loc[folds[-1].test, "label"]) == {"x", "y"}  # d's class w is in no training corpus: left out
    assert len(folds[-1].test) == 12


def test_corpus_split_and_bad_cross_corpus_specs():
    df = corpus_manifest()
    (f,) = make_folds(df, "corpus-split:a,b->c")
    assert set(df.loc[f.test, "corpus"]) == {"c"} and set(df.loc[f.train, "corpus"]) <= {"a", "b"}
    for bad in ("corpus-split:a->a", "corpus-split:a", "corpus-split:a->zzz", "leave-one-corpusout", "speaker-kfold:x"):
        with pytest.raises(ProtocolError):
            make_folds(df, bad)


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


def test_never_trained_clips_are_the_evaluation_only_and_test_corpora():
    from segser.training.protocols import never_trained

    m = pd.DataFrame({"corpus": ["a", "b", "c", "a"]})
    assert never_trained("leave-one-corpus-out:c", m).tolist() == [False, False, True, False]
    assert never_trained("leave-one-corpus-out", m).tolist() == [False] * 4
    assert never_trained("corpus-split:a->b,c", m).tolist() == [False, True, True, False]
    assert never_trained("speaker-kfold:5", m).tolist() == [False] * 4
