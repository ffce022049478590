"""End to end on generated signals: train -> run directory -> predict, and the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from segser.cli import main
from segser.inference import load_model, predict
from segser.train import TrainConfig, run
from tests.conftest import tone, write


def test_train_writes_complete_run_and_predicts(toy_corpus, tmp_path):
    cfg = TrainConfig(corpora=[{"name": "csv", "root": str(toy_corpus)}], backbone="logmel", max_epochs=30, patience=5,
                      protocol="speaker-kfold:2")
    result = run(cfg, tmp_path / "run", progress=False)
    for f in ("config.json", "metrics.json", "predictions.csv", "segments.csv", "confusion.png", "learning_curve.png",
              "roc.png", "recall.png", "model.pt"):
        assert (tmp_path / "run" / f).exists(), f
    assert result["summary"]["UA"]["mean"] > 0.9
    assert result["provenance"]["speaker_independent"] and result["provenance"]["protocol"] == "speaker-kfold:2"
    model = load_model(tmp_path / "run")
    timeline, decisions, errors = predict([tmp_path / "wav" / "s0_sad_0.wav"], model)
    assert list(timeline.index.names) == ["file", "start", "end"]
    assert len(timeline) == 2 and decisions.iloc[0]["label"] == "sad"


def test_cli_train_predict_json_and_bad_files(toy_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "20", "--protocol", "kfold:2",
                 "--out", str(out), "--quiet"]) == 0
    assert "NOT speaker-independent" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    sf.write(str(bad / "silent.wav"), np.zeros(16000, np.float32), 16000)
    (tmp_path / "no_audio").mkdir()
    good = tmp_path / "wav" / "s1_angry_2.wav"
    code = main(["predict", str(out), str(good), str(bad), str(tmp_path / "no_audio"), "--json", "--quiet"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert code == 0 and len(payload["files"]) == 1
    assert payload["files"][0]["decision"]["label"] == "angry"
    errs = payload["errors"]
    assert any("empty.wav" in k and "empty" in v for k, v in errs.items())
    assert any("silent.wav" in k and "silence" in v for k, v in errs.items())
    assert any("no_audio" in k and "no audio files" in v for k, v in errs.items())

    two = [str(good), str(tmp_path / "wav" / "s2_sad_3.wav")]
    for suffix in (".json", ".csv", ".txt"):
        assert main(["predict", str(out), *two, "--out", str(tmp_path / f"res{suffix}"), "--quiet"]) == 0
    assert [f["decision"]["label"] for f in json.loads((tmp_path / "res.json").read_text())["files"]] == ["angry", "sad"]
    table = pd.read_csv(tmp_path / "res.csv")
    assert len(table) == 4 and set(table["clip_label"]) == {"angry", "sad"}  # 1.5 s clips: 2 segments each
    labels = [line.split("\t") for line in (tmp_path / "res.txt").read_text().splitlines()]
    assert [(a, b) for a, b, _ in labels] == [("0.000", "1.000"), ("1.000", "1.500")] * 2
    assert labels[0][2].startswith("s1_angry_2.wav: ")
    capsys.readouterr()
    assert main(["predict", str(out), str(good), "--out", str(tmp_path / "res.xlsx")]) == 2
    assert "res.xlsx: unknown output format" in capsys.readouterr().err


def test_cli_corpus_writes_manifest(tmp_path, capsys):
    for n in ("03a01Fa", "08a02Wb"):
        write(tmp_path / "emo" / f"{n}.wav", tone(200, 0.5))
    assert main(["corpus", "emodb", str(tmp_path / "emo"), "--out", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "2 clips, 2 speakers" in out and (tmp_path / "m.csv").read_text().startswith("path,corpus,label")


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["corpus", "emodb", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), str(tmp_path / "x.wav")]) == 2
    assert "model" in capsys.readouterr().err.lower()


def test_committed_recipes_are_valid_configs():
    from pathlib import Path

    recipes = sorted(Path(__file__).resolve().parents[2].joinpath("recipes").glob("*/*.json"))
    assert len(recipes) >= 10
    for r in recipes:
        TrainConfig.from_dict(json.loads(r.read_text()))


def test_clip_segmentation_gives_one_unpadded_span():
    from segser.segments import Segmentation, spans_for

    assert spans_for(np.ones(38220, np.float32), sample_rate=16000, segmentation=Segmentation(method="clip")) == [(0.0, 2.38875)]


def test_cli_evaluate_clean_and_noisy(toy_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "20", "--out", str(out), "--quiet"]) == 0
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        write(tmp_path / "noise" / split / "hum" / f"{split}.wav", (0.1 * rng.standard_normal(48000)).astype(np.float32))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--csv", str(toy_corpus), "--noise", str(tmp_path / "noise"), "--snr", "20", "0",
                 "--out", str(tmp_path / "eval.json")]) == 0
    text = capsys.readouterr().out
    assert "clean" in text and "20 dB" in text and "0 dB" in text
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["conditions"]) == {"clean", "20 dB", "0 dB"}
    assert result["conditions"]["clean"]["UA"] >= result["conditions"]["0 dB"]["UA"]


def test_speaker_statistics_never_use_labels():
    from segser.train import append_speaker_vectors, speaker_normalise

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3)).astype(np.float32)
    spk = np.array(["a", "a", "a", "b", "b", "b"])
    Z = speaker_normalise(X, spk)  # the function has no label argument: statistics come from audio only
    np.testing.assert_allclose(Z[:3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(Z[3:].std(0), 1, atol=1e-3)
    V = append_speaker_vectors(X, spk)
    assert V.shape == (6, 6)
    np.testing.assert_allclose(V[0, 3:], X[:3].mean(0), rtol=1e-6)


def test_speaker_adapted_model_is_refused_by_predict(toy_corpus, tmp_path):
    from segser.inference import ModelError

    cfg = TrainConfig(corpora=[{"name": "csv", "root": str(toy_corpus)}], backbone="logmel", max_epochs=3,
                      speaker_norm=True, protocol="speaker-kfold:2")
    run(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ModelError, match="speaker adaptation"):
        load_model(tmp_path / "run")
