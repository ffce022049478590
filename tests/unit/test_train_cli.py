"""End to end on generated signals: train -> run directory -> predict, and the CLI."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from segser import predict
from segser.cli import main
from segser.errors import ConfigError, LabelError, ModelError
from segser.model import load_model
from segser.training.config import CorpusSpec, TrainConfig
from segser.training.train import run
from tests.conftest import tone, write

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def toy_cfg(toy_corpus, **kw):
    return TrainConfig(**{"speech_gate": 0, "corpora": (CorpusSpec("csv", str(toy_corpus)),), "backbone": "logmel", "max_epochs": 30,
                          "patience": 5, "protocol": "speaker-kfold:2", **kw})


def test_train_writes_complete_run_and_predicts(toy_corpus, tmp_path):
    result = run(toy_cfg(toy_corpus), tmp_path / "run", progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        ["config.json", "metrics.json", "predictions.csv", "segments.csv", "confusion.png", "learning_curve.png",
         "roc.png", "recall.png", "model.pt", "mood.npz", "adaptation_heads.npz"])
    assert result["summary"]["UA"]["mean"] > 0.9
    mood = result["adaptation"]["mood_check"]  # each test speaker mixed, and each of their two classes alone
    assert mood["fitted"] and mood["groups"] == {"one_mood": 8, "mixed": 4} and mood["auc_held_out_folds"] > 0.9
    assert result["adaptation"]["adaptation_heads"]["voiced_segments"] == 96
    assert result["provenance"]["speaker_independent"] and result["provenance"]["protocol"] == "speaker-kfold:2"
    assert result["per_corpus"]["csv"]["n_clips"] == 48
    model = load_model(tmp_path / "run")
    assert model.name == "run" and model.runtime == "onnx"  # auto: onnxruntime is installed and the model exports
    assert model.mood is not None and model.adaptation is not None  # the export carries both
    timeline, decisions, errors = predict([tmp_path / "wav" / "s0_sad_0.wav"], model)
    assert list(timeline.index.names) == ["file", "start", "end"]
    assert len(timeline) == 2 and decisions.iloc[0]["label"] == "sad"


def test_a_mood_check_is_not_fitted_on_too_few_groups_and_the_run_says_why(toy_corpus, tmp_path):
    result = run(toy_cfg(toy_corpus, folds=(0,)), tmp_path / "run", progress=False)
    mood = result["adaptation"]["mood_check"]
    assert not mood["fitted"] and mood["groups"] == {"one_mood": 4, "mixed": 2} and "fewer than 4 groups" in mood["reason"]
    assert not (tmp_path / "run" / "mood.npz").exists() and (tmp_path / "run" / "adaptation_heads.npz").exists()
    assert load_model(tmp_path / "run", runtime="torch").mood is None


def test_cli_train_predict_json_and_bad_files(toy_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--speech-gate", "0", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "20", "--protocol", "kfold:2",
                 "--no-mood-check", "--no-adaptation-heads", "--out", str(out), "--quiet"]) == 0
    assert "NOT speaker-independent" in capsys.readouterr().out
    assert not (out / "mood.npz").exists() and not (out / "adaptation_heads.npz").exists()
    assert "adaptation" not in json.loads((out / "metrics.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    sf.write(str(bad / "silent.wav"), np.zeros(16000, np.float32), 16000)
    (tmp_path / "no_audio").mkdir()
    good = tmp_path / "wav" / "s1_angry_2.wav"
    code = main(["predict", str(out), str(good), str(bad), str(tmp_path / "no_audio"), "--json", "--quiet"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 1  # some inputs failed: the exit status says so
    assert len(payload["files"]) == 1 and payload["model"] == "run"
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


def test_failed_inputs_are_recorded_in_every_output_format(toy_corpus, tmp_path):
    out = tmp_path / "run"
    run(toy_cfg(toy_corpus, max_epochs=3), out, progress=False)
    good, bad = tmp_path / "wav" / "s1_angry_2.wav", tmp_path / "bad.wav"
    bad.write_text("not audio")
    for suffix in (".json", ".csv", ".txt"):
        assert main(["predict", str(out), str(good), str(bad), "--out", str(tmp_path / f"r{suffix}"), "--quiet"]) == 1
    assert "bad.wav" in json.loads((tmp_path / "r.json").read_text())["errors"].__repr__()
    table = pd.read_csv(tmp_path / "r.csv")
    assert table.loc[table["file"].str.endswith("bad.wav"), "error"].str.contains("not audio").all()
    assert "ERROR bad.wav: " in (tmp_path / "r.txt").read_text()


def test_same_file_twice_is_predicted_once(toy_corpus, tmp_path):
    run(toy_cfg(toy_corpus, max_epochs=3), tmp_path / "run", progress=False)
    f = tmp_path / "wav" / "s1_angry_2.wav"
    timeline, decisions, _ = predict([f, str(f), tmp_path / "wav" / ".." / "wav" / "s1_angry_2.wav"], tmp_path / "run")
    assert len(decisions) == 1 and len(timeline) == 2


def test_unwritable_outputs_fail_before_any_work(toy_corpus, tmp_path, capsys):
    run(toy_cfg(toy_corpus, max_epochs=3), tmp_path / "run", progress=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file instead
        locked = tmp_path / "wav" / "s1_angry_2.wav"
    for option in ("--out", "--plot"):
        ext = ".json" if option == "--out" else ".png"
        code = main(["predict", str(tmp_path / "run"), str(tmp_path / "wav"), option, str(locked / f"x{ext}"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "cannot write" in err and "Traceback" not in err and err.count("\n") == 1


def test_existing_run_is_refused_and_kept_when_a_rerun_fails(toy_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    run(toy_cfg(toy_corpus, max_epochs=3), out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError, match="already exists"):
        run(toy_cfg(toy_corpus), out, progress=False)
    assert main(["train", "--speech-gate", "0", "--csv", str(toy_corpus), "--backbone", "nosuch", "--out", str(out), "--overwrite"]) == 2
    assert "unknown backbone 'nosuch'" in capsys.readouterr().err
    with pytest.raises(LabelError):  # fails after the run started: the old run stays whole
        run(toy_cfg(toy_corpus, labels="angry,neutral"), out, progress=False, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]  # no temporary leftovers
    run(toy_cfg(toy_corpus, max_epochs=3, final_model=False), out, progress=False, overwrite=True)
    assert not (out / "model.pt").exists()  # --no-final over an old run: no stale model of other settings


def test_one_class_is_refused(tmp_path):
    rows = ["path,label,speaker"]
    for k in range(4):
        write(tmp_path / f"a{k}.wav", tone(300 + k, 1.0))
        rows.append(f"a{k}.wav,angry,s{k}")
    (tmp_path / "one.csv").write_text("\n".join(rows) + "\n")
    cfg = TrainConfig(speech_gate=0, corpora=(CorpusSpec("csv", str(tmp_path / "one.csv")),), backbone="logmel")
    with pytest.raises(LabelError, match="at least two"):
        run(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_csv_row_with_a_missing_file_is_an_error(toy_corpus, tmp_path):
    from segser.errors import CorpusError

    text = toy_corpus.read_text() + "wav/gone.wav,angry,spk0\n"
    (toy_corpus.parent / "broken.csv").write_text(text)
    with pytest.raises(CorpusError, match="gone.wav: file does not exist"):
        run(TrainConfig(speech_gate=0, corpora=(CorpusSpec("csv", str(toy_corpus.parent / "broken.csv")),)), tmp_path / "r", progress=False)


@pytest.mark.parametrize("argv,message", [
    (["train", "--csv", "X", "--backbone", "nosuch", "--out", "R"], "unknown backbone 'nosuch'"),
    (["train", "--csv", "X", "--backbone", "whisper", "--backbone-opt", "layr=3", "--out", "R"], "unknown option 'layr'"),
    (["train", "--csv", "X", "--head-opt", "hiden=3", "--out", "R"], "unknown option 'hiden'"),
    (["train", "--csv", "X", "--segment", "nan", "--out", "R"], "segment length"),
    (["train", "--csv", "X", "--hop", "0", "--out", "R"], "segment hop"),
    (["train", "--csv", "X", "--protocol", "lsoo", "--out", "R"], "unknown protocol 'lsoo'"),
    (["train", "--csv", "X", "--lr", "-1", "--out", "R"], "lr must be"),
    (["predict", "f.wav", "--segment", "-1"], "segment length"),
    (["predict", "f.wav", "--hop", "1e-9"], "segment hop"),
    (["predict", "f.wav", "--min-score", "2"], "--min-score"),
    (["predict", "--model", "nowhere", "f.wav"], "not a run directory, an exported model nor a built-in model"),
    (["corpus", "emodb", "nowhere"], "nowhere: EmoDB root does not exist"),
])
def test_cli_misuse_is_one_clear_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_cli_config_errors(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "typo.json").write_text('{"backbone": "logmel", "noise": {"dir": "n", "snr": [5]}}')
    for name, message in (("bad.json", "not valid JSON"), ("typo.json", "unknown option 'snr'")):
        assert main(["train", "--speech-gate", "0", "--config", str(tmp_path / name), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_backbone_options_are_parsed_by_type(tmp_path):
    from segser.encoders.backbones.whisper import WhisperConfig
    from segser.options import parse_pairs

    assert parse_pairs(WhisperConfig, ["layer=all", "context=5", "weights=123", "size=base"]) == {
        "layer": "all", "context": 5.0, "weights": "123", "size": "base"}
    assert parse_pairs(WhisperConfig, ["layer=3", "weights=none"]) == {"layer": 3, "weights": None}
    with pytest.raises(ConfigError, match="context"):
        parse_pairs(WhisperConfig, ["context=abc"])


def test_help_lists_every_backbone_and_head(capsys):
    from segser.encoders.backbones import REGISTRY
    from segser.heads import HEADS

    with pytest.raises(SystemExit):
        main(["train", "--speech-gate", "0", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in [*REGISTRY, *HEADS])


def test_serve_bad_port_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "99999"])
    assert exc.value.code == 2 and "port must be 1-65535" in capsys.readouterr().err


def test_cli_corpus_writes_manifest(tmp_path, capsys):
    for n in ("03a01Fa", "08a02Wb"):
        write(tmp_path / "emo" / f"{n}.wav", tone(200, 0.5))
    assert main(["corpus", "emodb", str(tmp_path / "emo"), "--out", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "2 clips, 2 speakers" in out and (tmp_path / "m.csv").read_text().startswith("path,corpus,label")


def test_committed_recipes_are_valid_configs():
    from pathlib import Path

    recipes = sorted(Path(__file__).resolve().parents[2].joinpath("recipes").glob("*/*.json"))
    assert len(recipes) >= 10
    for r in recipes:
        TrainConfig.from_file(r)


def test_cli_evaluate_clean_and_noisy_uses_the_training_noise_rule(toy_corpus, tmp_path, capsys):
    """Evaluating a run on its own data with the test noise gives exactly the noisy
    test set a training run with the same seed builds (one seeding rule)."""
    from segser.training import corpora
    from segser.training.augment import NoiseBank
    from segser.training.data import NoiseMix, embed_manifest

    out = tmp_path / "run"
    assert main(["train", "--speech-gate", "0", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "20",
                 "--out", str(out), "--quiet"]) == 0
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        write(tmp_path / "noise" / split / "hum" / f"{split}.wav", (0.1 * rng.standard_normal(48000)).astype(np.float32))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--csv", str(toy_corpus), "--noise", str(tmp_path / "noise"), "--snr", "20", "0",
                 "--out", str(tmp_path / "eval.json"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "clean" in text and "20 dB" in text and "0 dB" in text
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["conditions"]) == {"clean", "20 dB", "0 dB"}

    model = load_model(out)
    manifest = corpora.load("csv", toy_corpus)
    bank = NoiseBank.from_dir(tmp_path / "noise", split="test")
    a = embed_manifest(manifest, model.encoder, model.segmentation, noise=NoiseMix.test_set(bank, 20, seed=0), use_cache=False,
                       progress=False)
    from segser.training.config import NoiseConfig
    from segser.training.train import embed_data, load_data

    cfg = toy_cfg(toy_corpus, noise=NoiseConfig(dir=str(tmp_path / "noise"), copies=0, test_snrs=(20.0,)))
    feats = embed_data(cfg, load_data(cfg), model.encoder, progress=False)
    np.testing.assert_array_equal(feats.noisy_test["20dB"].X, a.X)


def test_speaker_normalisation_uses_each_speakers_own_segments_only():
    from segser.adaptation.statistics import speaker_normalise
    from segser.training.adaptation_fit import append_speaker_vectors

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3)).astype(np.float32)
    spk = np.array(["a", "a", "a", "b", "b", "b"])
    Z = speaker_normalise(X, spk)
    np.testing.assert_allclose(Z[:3], (X[:3] - X[:3].mean(0)) / (X[:3].std(0) + 1e-5), rtol=1e-6)
    X2 = X.copy()
    X2[3:] += 100.0  # another speaker's data changes: a's rows do not
    np.testing.assert_array_equal(speaker_normalise(X2, spk)[:3], Z[:3])
    V = append_speaker_vectors(X, spk)
    np.testing.assert_allclose(V[0, 3:], X[:3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(V[4, 3:], X[3:].mean(0), rtol=1e-6)


def test_a_model_with_speaker_vectors_is_refused_by_predict(toy_corpus, tmp_path):
    run(toy_cfg(toy_corpus, max_epochs=3, speaker_vectors=True), tmp_path / "run", progress=False)
    with pytest.raises(ModelError, match="speaker vectors"):
        load_model(tmp_path / "run")


def test_plot_streams_the_file_instead_of_loading_it(toy_corpus, tmp_path, monkeypatch):
    """--plot draws from a min/max envelope gathered while streaming: the whole
    signal is never loaded (a 2 h file took 2.9 GB that way)."""
    import segser.io.audio

    run(toy_cfg(toy_corpus, max_epochs=3), tmp_path / "run", progress=False)
    x = np.concatenate([tone(200 + 10 * k, 1.0, seed=k) for k in range(40)])
    write(tmp_path / "long.flac", x)

    def refuse(*a, **kw):
        raise AssertionError("the whole file was loaded")

    monkeypatch.setattr(segser.io.audio, "load", refuse)
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "long.flac"), "--plot", str(tmp_path / "t.png"),
                 "--quiet"]) == 0
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_cli_embed_writes_parquet_per_corpus(toy_corpus, tmp_path, capsys):
    assert main(["embed", "--csv", str(toy_corpus), "--backbone", "logmel", "--hop", "0.5", "--out", str(tmp_path / "emb"),
                 "--quiet"]) == 0
    table = pd.read_parquet(tmp_path / "emb" / "corpus=csv" / "part-0.parquet")
    assert len(table) == 96 and set(table["label"]) == {"angry", "sad"} and len(table["embedding"].iloc[0]) == 96 * 64
    meta = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert meta["dim"] == 6144 and meta["rows"] == 96 and meta["backbone"]["backbone"] == "logmel"


def test_a_seed_ensemble_trains_saves_exports_and_averages_its_calibrated_members(toy_corpus, tmp_path):
    import torch

    from segser.heads.modules import HeadEnsemble

    result = run(toy_cfg(toy_corpus, ensemble=3, calibrate=True), tmp_path / "run", progress=False)
    assert result["summary"]["UA"]["mean"] > 0.9
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert state["members"] == 3 and "temperature" not in state  # members are calibrated one by one
    model = load_model(tmp_path / "run", runtime="torch")
    head = model.head.module
    assert isinstance(head, HeadEnsemble) and len(head.members) == 3
    assert len({float(m.head.net[1].weight.sum()) for m in head.members}) == 3  # three seeds, three heads
    X = np.random.default_rng(0).normal(size=(5, int(head.mean.numel()))).astype(np.float32)
    with torch.no_grad():
        members = np.mean([(m(torch.from_numpy(X)) / t).numpy() for m, t in zip(head.members, head.temperatures)], 0)
    np.testing.assert_allclose(model.logits(X), members, rtol=1e-5, atol=1e-6)
    exported = load_model(tmp_path / "run", runtime="onnx")
    np.testing.assert_allclose(exported.logits(X), model.logits(X), atol=1e-4)
    state["members"] = 10**9
    torch.save(state, tmp_path / "run" / "model.pt")
    (tmp_path / "run" / "model.pt.sha256").unlink(missing_ok=True)
    with pytest.raises(ModelError, match="ensemble members"):
        load_model(tmp_path / "run", runtime="torch")
    with pytest.raises(ConfigError, match="ensemble"):
        toy_cfg(toy_corpus, ensemble=17)


def test_a_prior_correction_is_fitted_on_corpora_held_out_from_its_heads_and_shipped_in_the_head(toy_corpus, tmp_path):
    import torch

    rows = toy_corpus.read_text().splitlines()
    for name, speakers in (("a", ("spk0", "spk1")), ("b", ("spk2", "spk3"))):
        (toy_corpus.parent / f"{name}.csv").write_text(
            "\n".join([rows[0], *[r for r in rows[1:] if r.split(",")[2] in speakers]]) + "\n")
    specs = tuple(CorpusSpec("csv", str(toy_corpus.parent / f"{n}.csv"), {"corpus": n}) for n in "ab")
    cfg = toy_cfg(toy_corpus, corpora=specs, ensemble=2, prior_correction=True, calibrate=True,
                  protocol="speaker-kfold:2")
    run(cfg, tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    offsets = state["state_dict"]["offsets"].numpy()
    assert state["members"] == 2 and offsets.shape == (2,) and abs(offsets.sum()) < 1e-5
    model = load_model(tmp_path / "run", runtime="torch")
    X = np.random.default_rng(1).normal(size=(4, int(model.head.module.mean.numel()))).astype(np.float32)
    head = model.head.module
    with torch.no_grad():
        plain = np.mean([(m(torch.from_numpy(X)) / t).numpy() for m, t in zip(head.members, head.temperatures)], 0)
    np.testing.assert_allclose(model.logits(X), plain + offsets, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="at least two training corpora"):
        run(toy_cfg(toy_corpus, prior_correction=True), tmp_path / "one", progress=False)


def test_class_offsets_undo_a_bias_towards_one_class_and_leave_balanced_logits_alone():
    from segser.training.loop import fit_class_offsets

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    clean = np.eye(3)[y] * 2.0 + rng.normal(scale=1.0, size=(600, 3))
    biased = clean + np.array([1.5, 0.0, 0.0])  # every corpus over-hears class 0
    offsets = fit_class_offsets([(y[:300], biased[:300]), (y[300:], biased[300:])])
    assert abs(offsets.sum()) < 1e-5 and offsets[0] < -1.0 and offsets[1] > 0.3 and offsets[2] > 0.3
    recall0 = [np.mean((z.argmax(1) == y)[y == 1]) for z in (biased, biased + offsets)]
    assert recall0[1] > recall0[0] + 0.2
    assert np.abs(fit_class_offsets([(y, clean)])).max() < 0.2
