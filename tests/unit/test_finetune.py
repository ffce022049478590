"""End-to-end fine-tuning: only the chosen tail of the backbone moves, and a run works."""
import numpy as np
import torch

from segser.finetune import fit_finetune
from segser.train import EmotionHead, TrainConfig, run
from tests.conftest import tone
from tests.unit.test_whisper import random_openai_state


def tiny_whisper_checkpoint(path):
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 2},
                "model_state_dict": random_openai_state()}, path)
    return path


def finetune_last_block(bb, network, *, n: int, f1: float, batch_size: int, patience: int, epochs: int):
    """Fine-tune ``bb``'s last block on n two-class tones (the last quarter for
    validation); the names of ``network``'s parameters that moved, and the history."""
    W = np.stack([tone(200 + f1 * (i % 2), 1.0, seed=i) for i in range(n)])
    y = np.array([i % 2 for i in range(n)])
    cfg = TrainConfig(lr=1e-2, batch_size=batch_size, patience=patience,
                      finetune={"blocks": 1, "backbone_lr": 1e-2, "epochs": epochs})
    k = n * 3 // 4
    model, hist = fit_finetune(bb, EmotionHead(bb.dim, 2), W[:k], y[:k], W[k:], y[k:], cfg)
    before, after = network(bb).state_dict(), network(model.backbone).state_dict()
    return {name for name in before if not torch.equal(before[name], after[name])}, hist


def test_only_the_last_block_moves(tmp_path):
    from segser.backbones.whisper import Whisper

    bb = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "w.pt"), layer=-1, context=2.0)
    moved, hist = finetune_last_block(bb, lambda b: b.encoder, n=16, f1=300, batch_size=8, patience=3, epochs=3)
    assert moved and all(k.startswith(("blocks.1.", "ln_post.")) for k in moved)
    assert len(hist) >= 1


def test_finetune_run_writes_metrics(toy_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSER_WHISPER_TINY_EN", str(tiny_whisper_checkpoint(tmp_path / "w.pt")))
    cfg = TrainConfig(corpora=[{"name": "csv", "root": str(toy_corpus)}], backbone="whisper",
                      backbone_options={"size": "tiny.en", "layer": -1}, protocol="speaker-kfold:2", lr=1e-2,
                      finetune={"blocks": None, "backbone_lr": 1e-3, "epochs": 2}, final_model=False)
    result = run(cfg, tmp_path / "run", progress=False)
    assert result["summary"]["UA"]["n_folds"] == 2 and (tmp_path / "run" / "predictions.csv").exists()


def test_efficientnet_b0_partial_finetuning_moves_only_its_last_block(tmp_path, monkeypatch):
    from segser.backbones import create
    from segser.backbones.imagenet import EfficientNet

    torch.save(EfficientNet("b0").state_dict(), tmp_path / "b0.pth")
    monkeypatch.setenv("SEGSER_EFFICIENTNET_B0", str(tmp_path / "b0.pth"))
    bb = create("imagenet", arch="efficientnet-b0", image_size=64)
    moved, _ = finetune_last_block(bb, lambda b: b.net, n=8, f1=900, batch_size=4, patience=2, epochs=1)
    assert moved and all(k.startswith(("features.7.0.", "features.8.")) for k in moved)


def test_in_context_forward_equals_the_frozen_embedding_and_trains(tmp_path):
    from segser.backbones.whisper import Whisper
    from segser.finetune import context_windows

    bb = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "w.pt"), layer="all", context=2.0)
    x = np.concatenate([tone(300, 2.2, seed=1), tone(900, 1.3, seed=2)])  # 3.5 s: two windows
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 3.5)]
    rows = context_windows(x, spans, sample_rate=16000, context=2.0)
    assert rows.shape == (4, 32002) and rows[2, -2:].tolist() == [0.0, 1.0]
    with torch.no_grad():
        got = bb.context_segment_forward(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(got, bb.embed(x, spans), atol=1e-4, rtol=1e-4)

    y = np.array([0, 0, 1, 1])
    cfg = TrainConfig(lr=1e-2, batch_size=2, patience=2, finetune={"blocks": 1, "backbone_lr": 1e-2, "epochs": 1,
                                                                   "in_context": True})
    model, _ = fit_finetune(bb, EmotionHead(bb.dim, 2), rows, y, rows[:2], y[:2], cfg)
    assert model.in_context and model(torch.from_numpy(rows)).shape == (4, 2)


def test_warm_started_in_context_run_reports_the_frozen_head_beside(toy_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSER_WHISPER_TINY_EN", str(tiny_whisper_checkpoint(tmp_path / "w.pt")))
    cfg = TrainConfig(corpora=[{"name": "csv", "root": str(toy_corpus)}], backbone="whisper",
                      backbone_options={"size": "tiny.en", "layer": "all", "context": 2.0}, protocol="speaker-kfold:2",
                      lr=1e-2, max_epochs=20, final_model=False,
                      finetune={"blocks": 1, "backbone_lr": 1e-3, "epochs": 2, "in_context": True, "warm_start": True})
    result = run(cfg, tmp_path / "run", progress=False)
    assert result["summary"]["UA_before_finetune"]["n_folds"] == 2
    assert all(0.0 <= f["UA_before_finetune"] <= 1.0 for f in result["folds"])
