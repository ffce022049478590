"""Cross-corpus training options: corpus balance, label smoothing, per-layer
embedding normalisation, temperature calibration with ECE."""
import numpy as np
import pandas as pd
import pytest

from segser.config import CorpusSpec, TrainConfig
from segser.evaluation import expected_calibration_error
from segser.loop import fit_temperature, sample_weights
from segser.model import load_model
from segser.train import run
from tests.conftest import tone, write


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


@pytest.fixture
def two_corpora(tmp_path):
    """Two 'corpora' of 'angry' (low tones) vs 'sad' (high tones) at different levels, 3 speakers each."""
    rows = ["path,label,speaker"]
    for corpus, amp, n in (("a", 0.3, 8), ("b", 0.05, 3)):
        for s in range(3):
            for k in range(n):
                for label, f0 in (("angry", 300.0), ("sad", 1200.0)):
                    p = write(tmp_path / corpus / f"{s}_{label}_{k}.wav", tone(f0 + 15 * k, 1.2, amp=amp, seed=k + 10 * s))
                    rows.append(f"{p.relative_to(tmp_path / corpus)},{label},{corpus}{s}")
        (tmp_path / corpus / "data.csv").write_text("\n".join(rows[:1] + [r for r in rows[1:] if r.endswith(tuple(f"{corpus}{i}" for i in range(3)))]) + "\n")
    return tmp_path


def test_balanced_calibrated_cross_corpus_run_and_its_model(two_corpora, tmp_path):
    corpora_ = tuple(CorpusSpec("csv", str(two_corpora / c / "data.csv"), {"corpus": c}) for c in "ab")
    cfg = TrainConfig(corpora=corpora_, backbone="logmel", protocol="speaker-kfold:3", max_epochs=15, patience=4,
                      corpus_balance=True, class_weights=True, label_smoothing=0.1, embedding_norm="per_layer",
                      calibrate=True)
    result = run(cfg, tmp_path / "run", progress=False)
    assert set(result["per_corpus"]) == {"a", "b"}  # the CSVs named as corpora
    assert {"ECE", "ECE_calibrated"} <= set(result["per_corpus"]["b"])
    assert all(f["temperature"] > 0 and 0 <= f["ECE_calibrated"] <= 1 for f in result["folds"])
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert np.allclose(preds[["pc_angry", "pc_sad"]].sum(axis=1), 1.0, atol=1e-5)
    model = load_model(tmp_path / "run")
    assert model.temperature != 1.0 and model.head.module.embedding_norm == "per_layer"
    import segser

    timeline, decisions, _ = segser.predict([two_corpora / "b" / "0_sad_1.wav"], model)
    assert decisions.iloc[0]["label"] == "sad"


def test_leave_one_corpus_out_run_reports_each_held_out_corpus(two_corpora, tmp_path):
    corpora_ = tuple(CorpusSpec("csv", str(two_corpora / c / "data.csv"), {"corpus": c}) for c in "ab")
    cfg = TrainConfig(corpora=corpora_, backbone="logmel", protocol="leave-one-corpus-out", max_epochs=10, patience=3,
                      corpus_balance=True, final_model=False)
    result = run(cfg, tmp_path / "run", progress=False)
    assert [f["fold"] for f in result["folds"]] == ["corpus=a", "corpus=b"]
    assert result["per_corpus"]["a"]["n_clips"] == 48 and result["per_corpus"]["b"]["n_clips"] == 18
