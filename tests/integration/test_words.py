"""Words and feelings on real recordings: the words said (Whisper through CTranslate2, offline, its weights from
the registry packages through the resolver), a row per utterance with its text, speaker and emotion, captions and
TextGrid tiers that the libraries reading those formats parse, clear errors for languages the recogniser does not
know, and no words (nor emotion) for silence and noise."""
import json

import numpy as np
import pytest
import soundfile as sf

from segser import Pipeline, predict
from segser.cli import main
from segser.errors import ConfigError
from segser.words.transcribe import WordOptions

pytestmark = pytest.mark.integration


def test_a_tess_clip_says_its_target_word(shared_data):
    """TESS's files are named after the target word of the carrier phrase 'Say the word ...'."""
    r = Pipeline("default-4class", transcribe=WordOptions(language="en")).classify_file(shared_data / "tess" / "OAF_back_angry.ogg")
    assert r.ok and r.language == "en"
    said = " ".join(w.text.lower().strip(".,!?") for w in r.words)
    assert "back" in said.split() and "word" in said.split()
    assert list(r.segments.columns[-1:]) == ["text"] and "back" in r.segments["text"].str.lower().iloc[-1]


def test_a_conversation_reads_as_a_transcript_with_speakers_and_emotions(shared_data, tmp_path, capsys):
    wav = shared_data / "conversation" / "sample.wav"
    for suffix in (".json", ".srt", ".vtt", ".TextGrid", ".csv"):
        assert main(["predict", str(wav), "--speakers", "auto", "--transcribe", "--language", "en", "--quiet",
                     "--out", str(tmp_path / f"r{suffix}")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())["files"][0]
    first = doc["segments"][:3]  # the first utterances: "Hello?" ...
    assert all(s["text"] and s["speaker"] in ("S1", "S2") and s["label"] for s in first), first
    assert "hello" in first[0]["text"].lower() and first[0]["start"] > 6.0  # the silent opening has no words
    assert doc["language"] == "en" and len(doc["words"]) > 60 and doc["decision"]["n_segments"] == 30
    import srt
    import webvtt
    from praatio import textgrid

    cues = list(srt.parse((tmp_path / "r.srt").read_text()))
    assert len(cues) == len(doc["segments"]) and cues[0].content.startswith(f"{first[0]['speaker']} ({first[0]['label']}")
    vtt = webvtt.read(str(tmp_path / "r.vtt"))
    assert [c.text for c in vtt] == [c.content for c in cues]
    grid = textgrid.openTextgrid(str(tmp_path / "r.TextGrid"), includeEmptyIntervals=False)
    assert {"emotion S1", "emotion S2", "speakers", "utterances", "words"} <= set(grid.tierNames)
    assert len(grid.getTier("words").entries) == len(doc["words"])
    assert "text" in (tmp_path / "r.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["predict", str(wav), "--transcribe", "--language", "en", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "utterances)" in table and "Hello?" in table.splitlines()[2]


def test_fixed_windows_carry_the_words_they_overlap(shared_data):
    timeline, _, errors = predict([shared_data / "conversation" / "sample.wav"], transcribe=WordOptions(
        language="en", segments="windows"))
    assert not errors and len(timeline) == 30
    text = timeline.reset_index().set_index("start")["text"]
    assert text.loc[0.0] == "" and "Chicago" in " ".join(text.loc[14.0:20.0])


def test_languages_the_recogniser_does_not_know_are_clear_errors(shared_data, capsys):
    wav = str(shared_data / "emodb-originals" / "03a01Wa.wav")
    assert main(["predict", wav, "--transcribe", "--language", "xx"]) == 2
    assert "language 'xx' is not one the base recogniser knows" in capsys.readouterr().err
    assert main(["predict", wav, "--transcribe", "--asr", "tiny.en", "--language", "de"]) == 2
    assert "tiny.en recogniser knows English only" in capsys.readouterr().err
    assert main(["predict", wav, "--language", "de"]) == 2
    assert "--language goes with --transcribe" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="language must be auto or a language code"):
        WordOptions(language="German!")


def test_german_speech_is_transcribed_in_german(shared_data):
    r = Pipeline("default", transcribe=True).classify_file(shared_data / "emodb-originals" / "03a01Wa.wav")
    assert r.language == "de" and "language de (detected" in r.decision.notes
    assert " ".join(w.text for w in r.words).rstrip(".!") == "Der Lappen liegt auf dem Eisschrank"  # EmoDB's sentence a01


def test_silence_and_noise_give_no_words_and_no_emotion(shared_data, tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16000 * 20, np.float32), 16000)
    noise = sorted((shared_data / "noise" / "test").rglob("*.flac"))[:3]
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hiss.wav", (0.05 * rng.standard_normal(16000 * 20)).astype(np.float32), 16000)
    for f in [tmp_path / "hiss.wav", *noise]:
        r = Pipeline("default", transcribe=WordOptions(language="en")).classify_file(f)
        assert r.ok and r.words == [] and r.decision.label == "no speech" and r.segments.empty, f
    r = Pipeline("default", transcribe=WordOptions(language="en")).classify_file(tmp_path / "silence.wav")
    assert not r.ok and "silence" in r.error
