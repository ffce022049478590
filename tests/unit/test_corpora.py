"""Manifests from tiny fake trees in each corpus's published layout."""
import pandas as pd
import pytest

from segser.training import corpora, labels
from segser.training.corpora import CorpusError
from tests.conftest import tone, write


def wav(path, f=300.0):
    return write(path, tone(f, 0.3))


def test_emodb(tmp_path):
    for n in ["03a01Fa", "08b02Wb", "10a05Tc"]:
        wav(tmp_path / "wav" / f"{n}.wav")
    wav(tmp_path / "wav" / "README.wav")  # not in the layout: skipped, listed
    df = corpora.load("emodb", tmp_path)
    assert list(df["label"]) == ["happy", "angry", "sad"]
    assert list(df["speaker"]) == ["emodb_03", "emodb_08", "emodb_10"]
    assert list(df["gender"]) == ["male", "female", "male"]
    assert df["duration"].round(2).tolist() == [0.3, 0.3, 0.3]
    assert len(df.attrs["skipped"]) == 1


def test_ravdess_speech_only(tmp_path):
    wav(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")
    wav(tmp_path / "Actor_02" / "03-01-02-02-02-01-02.flac")
    wav(tmp_path / "Actor_02" / "03-02-05-01-01-01-02.wav")  # song: left out
    df = corpora.load("ravdess", tmp_path)
    assert list(df["label"]) == ["angry", "calm"]
    assert list(df["gender"]) == ["male", "female"]
    assert list(df["speaker"]) == ["ravdess_01", "ravdess_02"]


def test_cremad_with_demographics(tmp_path):
    wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    wav(tmp_path / "AudioWAV" / "1002_IEO_SAD_HI.wav")
    pd.DataFrame({"ActorID": [1001, 1002], "Sex": ["Male", "Female"]}).to_csv(tmp_path / "VideoDemographics.csv", index=False)
    df = corpora.load("cremad", tmp_path)
    assert list(df["label"]) == ["angry", "sad"] and list(df["gender"]) == ["male", "female"]
    assert list(df["speaker"]) == ["cremad_1001", "cremad_1002"]


def test_tess(tmp_path):
    wav(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    wav(tmp_path / "YAF_pleasant_surprised" / "YAF_bath_ps.wav")
    wav(tmp_path / "OAF_Fear" / "OAF_bean_fear.wav")
    df = corpora.load("tess", tmp_path).sort_values("path")
    assert sorted(df["label"]) == ["angry", "fear", "surprise"]
    assert set(df["speaker"]) == {"tess_OAF", "tess_YAF"}


def test_savee_flat_and_nested(tmp_path):
    wav(tmp_path / "flat" / "DC_a01.wav")
    wav(tmp_path / "flat" / "KL_sa03.wav")
    wav(tmp_path / "nested" / "AudioData" / "JE" / "su02.wav")
    assert list(corpora.load("savee", tmp_path / "flat")["label"]) == ["angry", "sad"]
    nested = corpora.load("savee", tmp_path / "nested")
    assert list(nested["label"]) == ["surprise"] and list(nested["speaker"]) == ["savee_JE"]


def iemocap_tree(root, lines_by_session):
    for s, lines in lines_by_session.items():
        ev = root / f"Session{s}" / "dialog" / "EmoEvaluation"
        ev.mkdir(parents=True)
        by_dialog = {}
        for utt, code in lines:
            by_dialog.setdefault(utt.rsplit("_", 1)[0], []).append((utt, code))
        for dialog, items in by_dialog.items():
            text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            for k, (utt, code) in enumerate(items):
                text += f"[{k * 3.0 + 1.5:.4f} - {k * 3.0 + 3.25:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 3.5000]\n"
                text += "C-E1:\tNeutral state;\t()\nC-E2:\tNeutral state;\t()\n\n"
                wav(root / f"Session{s}" / "sentences" / "wav" / dialog / f"{utt}.wav")
            (ev / f"{dialog}.txt").write_text(text)


def test_iemocap_4class_merges_excited_and_checks_count(tmp_path):
    iemocap_tree(tmp_path, {1: [("Ses01F_impro01_F000", "neu"), ("Ses01F_impro01_M001", "exc"),
                                ("Ses01F_script01_1_F002", "fru"), ("Ses01F_script01_1_M003", "ang")],
                            2: [("Ses02M_impro02_F000", "sad"), ("Ses02M_impro02_M001", "xxx")]})
    df = corpora.load("iemocap", tmp_path, expect=0)
    assert sorted(df["label"]) == ["angry", "happy", "neutral", "sad"]
    assert set(df["session"]) == {1, 2}
    assert set(df["speaker"]) == {"Ses01F", "Ses01M", "Ses02F"}
    with pytest.raises(CorpusError, match="expected 5531"):
        corpora.load("iemocap", tmp_path, expect=5531)
    impro = corpora.load("iemocap", tmp_path, subset=None, improvised=True, expect=0)
    assert sorted(impro["label"]) == ["excited", "neutral", "sad"]


def test_generic_csv_and_folders(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "sub" / "b.flac")
    (tmp_path / "data.csv").write_text("path,label,speaker\na.wav,angry,s1\nsub/b.flac,sad,s2\n")
    df = corpora.load("csv", tmp_path / "data.csv")
    assert list(df["label"]) == ["angry", "sad"] and list(df["speaker"]) == ["s1", "s2"]
    (tmp_path / "bad.csv").write_text("path,label\na.wav,furious\n")
    with pytest.raises(CorpusError, match="furious"):
        corpora.load("csv", tmp_path / "bad.csv")
    wav(tmp_path / "folders" / "happy" / "x.wav")
    wav(tmp_path / "folders" / "neutral" / "y.wav")
    assert sorted(corpora.load("folders", tmp_path / "folders")["label"]) == ["happy", "neutral"]


@pytest.mark.parametrize("name", ["emodb", "ravdess", "cremad", "tess", "savee", "iemocap"])
def test_bad_roots_name_the_path(tmp_path, name):
    with pytest.raises(CorpusError, match=str(tmp_path / "missing")):
        corpora.load(name, tmp_path / "missing")
    wav(tmp_path / "other" / "hello_world.wav")
    with pytest.raises(CorpusError, match=str(tmp_path / "other")):
        corpora.load(name, tmp_path / "other")


def test_unreadable_files_reported_not_fatal(tmp_path):
    wav(tmp_path / "03a01Fa.wav")
    (tmp_path / "03a02Wa.wav").write_bytes(b"RIFF garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        df = corpora.load("emodb", tmp_path)
    assert len(df) == 1 and "03a02Wa.wav" in df.attrs["errors"][0]


def test_label_sets():
    df = pd.DataFrame({"label": ["angry", "excited", "sad", "neutral", "frustrated"]})
    out, classes = labels.apply(df, "4class")
    assert classes == ["angry", "happy", "neutral", "sad"] and len(out) == 4
    out, classes = labels.apply(df, "angry,sad")
    assert classes == ["angry", "sad"]
    with pytest.raises(labels.LabelError, match="furious"):
        labels.apply(df, "angry,furious")
