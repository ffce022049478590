"""Speaker turns on real recordings: the pyannote sample against its RTTM, a conversation built from real clips,
one speaker, more speakers asked for than present, and the command line's outputs (JSON, CSV, RTTM, TextGrid)."""
import json

import numpy as np
import pytest
import soundfile as sf

from segser.cli import main
from segser.diarization.scoring import der, read_rttm
from segser.diarization.turns import TurnOptions, find_turns
from segser.io.audio import load

pytestmark = pytest.mark.integration


def test_the_sample_conversation_against_its_rttm(shared_data):
    turns = find_turns(load(shared_data / "conversation" / "sample.wav"))
    reference = read_rttm(shared_data / "conversation" / "sample.rttm")
    assert len(turns.speakers) == 2
    assert der(reference, turns.turns)["collar_0.25"] < 0.10  # the target (measured 0.088)
    assert turns.turns[0].start > 6.0  # the silent opening belongs to nobody


def savee_turns(shared_data, speakers, tmp_path, name="built.wav"):
    """Two or more SAVEE speakers taking turns with their neutral clips, 0.6 s pauses."""
    pieces, truth, t = [], [], 0.3
    for k in range(4):
        for sp in speakers:
            x = load(shared_data / "savee" / f"{sp}_n{k + 1:02d}.ogg")
            pieces.append(np.zeros(int(0.6 * 16000), np.float32))
            pieces.append(x)
            truth.append((t + 0.6, t + 0.6 + len(x) / 16000, sp))
            t += 0.6 + len(x) / 16000
    x = np.concatenate([np.zeros(int(0.3 * 16000), np.float32), *pieces])
    sf.write(tmp_path / name, x, 16000)
    return tmp_path / name, truth


def test_a_conversation_of_real_clips_gets_its_speakers_back(shared_data, tmp_path):
    path, truth = savee_turns(shared_data, ["DC", "KL"], tmp_path)
    turns = find_turns(load(path))
    assert len(turns.speakers) == 2
    assert der(truth, turns.turns)["collar_0.25"] < 0.2


def test_one_speaker_and_more_speakers_asked_for_than_present(shared_data, tmp_path):
    path, _ = savee_turns(shared_data, ["JK"], tmp_path, "alone.wav")
    assert len(find_turns(load(path)).speakers) == 1
    path, _ = savee_turns(shared_data, ["DC", "KL"], tmp_path)
    asked = find_turns(load(path), TurnOptions(num_speakers=4))
    assert len(asked.speakers) == 2 and "2 distinct voices found of the 4 asked for" in asked.notes


def test_predict_speakers_auto_writes_every_format(shared_data, tmp_path, capsys):
    wav = shared_data / "conversation" / "sample.wav"
    for suffix in (".json", ".csv", ".rttm", ".TextGrid"):
        assert main(["predict", str(wav), "--speakers", "auto", "--quiet", "--out", str(tmp_path / f"r{suffix}")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert {s["speaker"] for s in doc["segments"]} >= {"S1", "S2"} and len(doc["speakers"]) == 2
    for summary in doc["speakers"].values():
        assert summary["speech_seconds"] > 3 and abs(sum(summary["share"].values()) - 1) < 0.01
        # two voices: each is adapted against the recording as its collection, as the guard says
        note = summary["adaptation"]
        if note["segments"] < 10:
            assert note["mode"] == "collection" and "fewer than 10 segments" in note["reason"]
        elif note["one_mood_probability"] >= 0.4:
            assert note["mode"] == "collection" and note["reason"].startswith("one mood")
        else:
            assert note["mode"] in ("speaker", "speaker+collection") and note["weights"]["speaker"] > 0
    assert doc["adaptation"] == {"mode": "per speaker", "speakers": 2}
    assert (tmp_path / "r.rttm").read_text().count("SPEAKER sample 1 ") == len(doc["turns"])
    # one read of the file feeds both passes: the turns equal a speaker pass of its own
    alone = find_turns(load(wav)).turns
    assert [(round(t["start"], 3), round(t["end"], 3), t["speaker"]) for t in doc["turns"]] == [
        (round(t.start, 3), round(t.end, 3), t.speaker) for t in alone]
    assert "speaker" in (tmp_path / "r.csv").read_text().splitlines()[0]
    grid = (tmp_path / "r.TextGrid").read_text()
    assert 'name = "emotion S1"' in grid and 'name = "speakers"' in grid
    assert main(["predict", str(wav), "--speakers", "auto", "--quiet", "--plot", str(tmp_path / "lanes.png")]) == 0
    assert (tmp_path / "lanes.png").stat().st_size > 20_000
    capsys.readouterr()
    assert main(["predict", str(wav), "--out", str(tmp_path / "no.rttm"), "--quiet"]) == 2
    assert "--speakers auto" in capsys.readouterr().err and not (tmp_path / "no.rttm").exists()
