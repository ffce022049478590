import numpy as np
import pytest

from segser.training import corpora
from segser.training.protocols import make_folds

pytestmark = pytest.mark.integration


def test_emodb_counts(shared_data):
    df = corpora.load("emodb", shared_data / "emodb")
    assert len(df) == 535 and df["speaker"].nunique() == 10 and df["label"].nunique() == 7
    assert df["label"].value_counts().to_dict() == {"angry": 127, "boredom": 81, "neutral": 79, "happy": 71, "fear": 69,
                                                    "sad": 62, "disgust": 46}
    per_speaker = {k[-2:]: v for k, v in df["speaker"].value_counts().items()}
    assert per_speaker == {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69, "15": 56, "16": 71}
    assert df["duration"].round(3).eq(2.0).all()


def test_ravdess_counts_and_actor_folds(shared_data):
    df = corpora.load("ravdess", shared_data / "ravdess")
    assert len(df) == 1434 and df["speaker"].nunique() == 24 and df["label"].nunique() == 8
    counts = df["speaker"].value_counts()
    assert sorted(counts[counts == 58].index) == ["ravdess_01", "ravdess_05", "ravdess_20"]
    folds = make_folds(df, corpora.ravdess.DEFAULT_PROTOCOL)
    assert len(folds) == 6
    assert [sorted(df.loc[f.test, "actor"].unique()) for f in folds][0] == [1, 2, 3, 4]


def per_speaker(df, prefix):
    return {k[len(prefix):]: v for k, v in df["speaker"].value_counts().items()}


def test_nemo_counts(shared_data):
    df = corpora.load("nemo", shared_data / "nemo")
    assert len(df) == 4481 and df.attrs["skipped"] == []
    assert df["label"].value_counts().to_dict() == {"neutral": 809, "sad": 769, "angry": 749, "happy": 749, "fear": 736,
                                                    "surprise": 669}
    assert per_speaker(df, "nemo_") == {"EB0": 539, "IC0": 540, "KD0": 540, "KS0": 540, "MK0": 450, "MP0": 256,
                                        "SM0": 538, "TP0": 539, "WR0": 539}
    assert set(df["gender"]) == {"male", "female"}


def test_ased_counts(shared_data):
    df = corpora.load("ased", shared_data / "ased")
    assert len(df) == 2470 and df["speaker"].nunique() == 65 and df.attrs["skipped"] == []
    assert df["label"].value_counts().to_dict() == {"neutral": 521, "fear": 510, "angry": 485, "happy": 485, "sad": 469}
    counts = df["speaker"].value_counts()
    assert counts.min() == 4 and counts.max() == 70
    both = df.groupby("speaker")["gender"].nunique()
    assert sorted(both[both == 2].index) == ["ased_09", "ased_15", "ased_21", "ased_23", "ased_25"]


def test_emovo_savee_tess_counts(shared_data):
    emovo = corpora.load("emovo", shared_data / "emovo")
    assert len(emovo) == 588 and set(emovo["label"].value_counts()) == {84} and emovo["label"].nunique() == 7
    assert set(emovo["speaker"].value_counts()) == {98} and emovo["speaker"].nunique() == 6
    savee = corpora.load("savee", shared_data / "savee")
    assert len(savee) == 480 and set(savee["speaker"].value_counts()) == {120}
    assert savee["label"].value_counts().to_dict() == {"neutral": 120, "angry": 60, "disgust": 60, "fear": 60,
                                                       "happy": 60, "sad": 60, "surprise": 60}
    tess = corpora.load("tess", shared_data / "tess")
    assert len(tess) == 2799 and per_speaker(tess, "tess_") == {"YAF": 1400, "OAF": 1399}
    assert tess["label"].value_counts()["neutral"] == 399 and tess["label"].nunique() == 7


def test_emobox_ravdess_folds_hold_the_published_actors(shared_data):
    df = corpora.load("ravdess", shared_data / "ravdess")
    folds = make_folds(df, "emobox-ravdess")
    actors = [sorted(df.loc[f.test, "actor"].unique()) for f in folds]
    assert actors == [[1, 11, 20, 21], [4, 10, 12, 14], [8, 9, 19, 23], [3, 5, 7, 24], [2, 15, 16, 18], [6, 13, 17, 22]]
    assert sorted(np.concatenate([f.test for f in folds])) == list(range(len(df)))


def test_corpus_errors_are_clear(tmp_path, shared_data):
    from segser.errors import CorpusError, LabelError
    from segser.training import labels

    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no nEMO files"):
        corpora.load("nemo", tmp_path / "empty")
    df = corpora.load("emovo", shared_data / "emovo")
    with pytest.raises(LabelError, match="unknown label 'joy'"):
        labels.apply(df, "angry,joy")
    with pytest.raises(LabelError, match="none of the classes calm, boredom occur"):
        labels.apply(df, "calm,boredom")
    nemo = corpora.load("nemo", shared_data / "nemo")
    with pytest.raises(LabelError, match="asks for disgust, which the data does not have"):
        labels.apply(nemo, "shared6", require_all=True)
    assert labels.apply(nemo, "shared6")[1] == ["angry", "fear", "happy", "neutral", "sad"]  # evaluation: what is there
