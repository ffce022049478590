"""Cross-corpus training options: corpus balance, label smoothing, per-layer
embedding normalisation, temperature calibration with ECE."""
import numpy as np
import pandas as pd
import pytest

from segser.model import load_model
from segser.training.config import CorpusSpec, TrainConfig
from segser.training.evaluation import expected_calibration_error
from segser.training.loop import fit_temperature, sample_weights
from segser.training.train import run


def test_sample_weights_make_every_corpus_and_class_weigh_the_same():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    g = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"])
    w = sample_weights(y, g, 2, per_class=True)
    cells = {(c, k): w[(g == c) & (y == k)].sum() for c in "ab" for k in (0, 1)}
    assert np.allclose(list(cells.values()), 2.5) and w.mean() == pytest.approx(1.0)
    w = sample_weights(y, g, 2, per_class=False)
    assert w[g == "a"].sum() == pytest.approx(w[g == "b"].sum()) == pytest.approx(5.0)


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # bins of 1/15: 0.9 -> bin 13 (acc 1), 0.8 -> bin 11 (acc 0), 0.6 -> bin 8 (acc 1), 0.7 -> bin 10 (acc 1)
    want = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.6) + abs(1 - 0.7)) / 4
    assert expected_calibration_error(probs, y) == pytest.approx(want)


def test_temperature_scaling_softens_overconfident_logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(0, 1, (600, 3))
    logits[np.arange(600), y] += 1.0
    logits *= 6.0  # right 70-80 % of the time but nearly always ~100 % sure
    t = fit_temperature(logits, y)
    soft = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
    assert 3.0 < t < 12.0
    assert expected_calibration_error(soft(logits / t), y) < 0.5 * expected_calibration_error(soft(logits), y)


def test_balanced_calibrated_cross_corpus_run_and_its_model(toy_corpora, tmp_path):
    corpora_ = tuple(CorpusSpec("csv", str(toy_corpora[c]), {"corpus": c}) for c in "ab")
    cfg = TrainConfig(speech_gate=0, corpora=corpora_, backbone="logmel", protocol="speaker-kfold:3", max_epochs=15, patience=4,
                      corpus_balance=True, class_weights=True, label_smoothing=0.1, embedding_norm="per_layer",
                      calibrate=True)
    result = run(cfg, tmp_path / "run", progress=False)
    assert set(result["per_corpus"]) == {"a", "b"}  # the CSVs named as corpora
    assert {"ECE", "ECE_calibrated"} <= set(result["per_corpus"]["b"])
    assert all(f["temperature"] > 0 and 0 <= f["ECE_calibrated"] <= 1 for f in result["folds"])
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert np.allclose(preds[["pc_angry", "pc_sad"]].sum(axis=1), 1.0, atol=1e-5)
    model = load_model(tmp_path / "run", runtime="torch")
    assert model.temperature != 1.0 and model.head.module.embedding_norm == "per_layer"
    import segser

    timeline, decisions, _ = segser.predict([toy_corpora["b"].parent / "0_sad_1.wav"], model)
    assert decisions.iloc[0]["label"] == "sad"
    exported = load_model(tmp_path / "run")  # auto: the ONNX export, with the same normalisation and temperature
    assert exported.runtime == "onnx" and exported.temperature == model.temperature
    timeline_onnx, _, _ = segser.predict([toy_corpora["b"].parent / "0_sad_1.wav"], exported)
    assert np.allclose(timeline_onnx[["p_angry", "p_sad"]], timeline[["p_angry", "p_sad"]], atol=1e-4)
    from segser.training.evaluation import evaluate_model, format_evaluation

    ev = evaluate_model(model, [corpora_[0]], progress=False)
    a = ev["conditions"]["clean"]["per_corpus"]["a"]
    assert a["ECE"] != a["ECE_calibrated"] and 0 <= a["ECE_calibrated"] <= 1  # the model's temperature changes confidences
    assert "ECE" in format_evaluation(ev) and "calibrated" in format_evaluation(ev)


def test_leave_one_corpus_out_run_reports_each_held_out_corpus(toy_corpora, tmp_path):
    corpora_ = tuple(CorpusSpec("csv", str(toy_corpora[c]), {"corpus": c}) for c in "ab")
    cfg = TrainConfig(speech_gate=0, corpora=corpora_, backbone="logmel", protocol="leave-one-corpus-out", max_epochs=10, patience=3,
                      corpus_balance=True, final_model=False)
    result = run(cfg, tmp_path / "run", progress=False)
    assert [f["fold"] for f in result["folds"]] == ["corpus=a", "corpus=b"]
    assert result["per_corpus"]["a"]["n_clips"] == 36 and result["per_corpus"]["b"]["n_clips"] == 18


def test_cross_corpus_suite_fills_the_matrix_and_its_report(toy_corpora, tmp_path):
    import json

    from segser.training.benchmark import run_suite

    suite = {"name": "toy-cross", "mode": "cross-corpus", "seed": 0, "evaluation_only": ["c"], "pairwise": True,
             "corpora": [{"name": "csv", "root": str(toy_corpora[c]), "options": {"corpus": c}} for c in "abc"],
             "pipelines": [{"name": "logmel-balanced", "speech_gate": 0, "backbone": "logmel", "max_epochs": 8, "patience": 3,
                            "corpus_balance": True}]}
    payload = run_suite(suite, tmp_path / "bench", progress=False)
    (row,) = payload["results"]
    assert set(row["held_out"]) == {"a", "b", "c"} and set(row["pairwise"]) == {"a", "b"}
    assert row["mean_held_out_UA"] == pytest.approx(sum(row["held_out"].values()) / 3)
    loco = json.loads((tmp_path / "bench" / "logmel-balanced--loco" / "metrics.json").read_text())
    assert row["held_out"]["c"] == loco["per_corpus"]["c"]["UA"]  # the report's figure is the run's
    assert [f["fold"] for f in loco["folds"]] == ["corpus=a", "corpus=b", "corpus=c"]
    report = (tmp_path / "bench" / "report.md").read_text()
    assert f"{row['mean_held_out_UA']:.3f}" in report and (tmp_path / "bench" / "held-out.png").stat().st_size > 5000


def test_a_pipeline_can_keep_a_corpus_out_of_training(toy_corpora, tmp_path):
    from segser.training.benchmark import run_suite

    suite = {"name": "toy-cross", "mode": "cross-corpus", "seed": 0, "pairwise": True,
             "corpora": [{"name": "csv", "root": str(toy_corpora[c]), "options": {"corpus": c}} for c in "abc"],
             "pipelines": [{"name": "no-c", "speech_gate": 0, "backbone": "logmel", "max_epochs": 4, "patience": 2,
                            "evaluation_only": ["c"]},
                           {"name": "no-pairs", "speech_gate": 0, "backbone": "logmel", "max_epochs": 2, "patience": 1,
                            "pairwise": False}]}
    row, no_pairs = run_suite(suite, tmp_path / "bench", progress=False)["results"]
    assert "pairwise" not in no_pairs and no_pairs["protocol"] == "leave-one-corpus-out"
    assert row["protocol"] == "leave-one-corpus-out:c" and row["evaluation_only"] == ["c"]
    assert set(row["held_out"]) == {"a", "b", "c"} and set(row["pairwise"]) == {"a", "b"}
    assert "Pipeline no-c also never trains on c." in (tmp_path / "bench" / "report.md").read_text()
