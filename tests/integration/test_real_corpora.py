import pytest

from segser import corpora
from segser.protocols import make_folds

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
