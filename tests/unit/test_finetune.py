"""End-to-end fine-tuning: only the chosen tail of the backbone moves, and runs work."""
import numpy as np
import pandas as pd
import pytest
import torch

from segser.heads import EmotionHead
from segser.training.config import CorpusSpec, FinetuneConfig, TrainConfig
from segser.training.finetune import fit_finetune
from segser.training.train import run
from tests.conftest import tiny_whisper_checkpoint, tone


def finetune_last_block(bb, network, *, n: int, f1: float, batch_size: int, patience: int, epochs: int):
    """Fine-tune ``bb``'s last block on n two-class tones (the last quarter for
    validation); the names of ``network``'s parameters that moved, and the history."""
    W = np.stack([tone(200 + f1 * (i % 2), 1.0, seed=i) for i in range(n)])
    y = np.array([i % 2 for i in range(n)])
    cfg = TrainConfig(lr=1e-2, batch_size=batch_size, patience=patience,
                      finetune=FinetuneConfig(blocks=1, backbone_lr=1e-2, epochs=epochs))
    k = n * 3 // 4
    model, hist = fit_finetune(bb, EmotionHead(bb.dim, 2), W[:k], y[:k], W[k:], y[k:], cfg)
    before, after = network(bb).state_dict(), network(model.backbone).state_dict()
    return {name for name in before if not torch.equal(before[name], after[name])}, hist


def test_only_the_last_block_moves(tmp_path):
    from segser.encoders.backbones.whisper import Whisper

    bb = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "w.pt"), layer=-1, context=2.0)
    moved, hist = finetune_last_block(bb, lambda b: b.encoder, n=16, f1=300, batch_size=8, patience=3, epochs=3)
    assert moved and all(k.startswith(("blocks.1.", "ln_post.")) for k in moved)
    assert [h["epoch"] for h in hist] == [1, 2, 3]  # patience 3 cannot stop a 3-epoch run early


def test_meanstd_fine_tuning_builds_a_head_of_the_right_width(tmp_path):
    from segser.encoders.backbones.whisper import Whisper

    bb = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "w.pt"), layer="all", context=2.0, pooling="meanstd")
    moved, hist = finetune_last_block(bb, lambda b: b.encoder, n=8, f1=600, batch_size=4, patience=2, epochs=1)
    assert bb.dim == 96 and moved and len(hist) == 1


def toy_config(toy_corpus, **kw):
    return TrainConfig(speech_gate=0, corpora=(CorpusSpec("csv", str(toy_corpus)),), backbone="whisper", protocol="speaker-kfold:2",
                       backbone_options={"size": "tiny.en", "layer": "all", "context": 2.0}, lr=1e-2, max_epochs=20,
                       final_model=False, **kw)


def test_finetune_run_writes_one_prediction_per_clip(toy_corpus, tmp_path, tiny_whisper):
    cfg = toy_config(toy_corpus, finetune=FinetuneConfig(blocks=None, backbone_lr=1e-3, epochs=2))
    result = run(cfg, tmp_path / "run", progress=False)
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert len(preds) == 48 and preds["clip"].is_unique  # every toy clip tested exactly once over the 2 folds
    for m in result["folds"]:
        g = preds[preds["fold"] == m["fold"]]
        recalls = [np.mean(g.loc[g.label == c, "prediction"] == c) for c in ("angry", "sad")]
        assert m["UA"] == pytest.approx(np.mean(recalls))


def test_warm_start_reports_the_frozen_heads_figures(toy_corpus, tmp_path, tiny_whisper):
    frozen = run(toy_config(toy_corpus), tmp_path / "frozen", progress=False)
    warm = run(toy_config(toy_corpus, finetune=FinetuneConfig(blocks=1, backbone_lr=1e-3, epochs=2, in_context=True,
                                                              warm_start=True)), tmp_path / "warm", progress=False)
    assert [f["UA_before_finetune"] for f in warm["folds"]] == pytest.approx([f["UA"] for f in frozen["folds"]])


def test_efficientnet_b0_partial_finetuning_moves_only_its_last_block(tmp_path, monkeypatch):
    from segser.encoders.backbones import create
    from segser.encoders.backbones.imagenet import EfficientNet

    torch.save(EfficientNet("b0").state_dict(), tmp_path / "b0.pth")
    monkeypatch.setenv("SEGSER_EFFICIENTNET_B0", str(tmp_path / "b0.pth"))
    bb = create("imagenet", arch="efficientnet-b0", image_size=64)
    moved, _ = finetune_last_block(bb, lambda b: b.net, n=8, f1=900, batch_size=4, patience=2, epochs=1)
    assert moved and all(k.startswith(("features.7.0.", "features.8.")) for k in moved)


def test_in_context_forward_equals_the_frozen_embedding_and_trains(tmp_path):
    from segser.encoders.backbones.whisper import Whisper
    from segser.training.finetune import context_windows

    bb = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "w.pt"), layer="all", context=2.0)
    x = np.concatenate([tone(300, 2.2, seed=1), tone(900, 1.3, seed=2)])  # 3.5 s: two windows
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 3.5)]
    rows = context_windows(x, spans, sample_rate=16000, context=2.0)
    assert rows.shape == (4, 32002) and rows[2, -2:].tolist() == [0.0, 1.0]
    with torch.no_grad():
        got = bb.context_segment_forward(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(got, bb.embed(x, spans), atol=1e-4, rtol=1e-4)

    y = np.array([0, 0, 1, 1])
    cfg = TrainConfig(lr=1e-2, batch_size=2, patience=2, finetune=FinetuneConfig(blocks=1, backbone_lr=1e-2, epochs=1,
                                                                                 in_context=True))
    model, _ = fit_finetune(bb, EmotionHead(bb.dim, 2), rows, y, rows[:2], y[:2], cfg)
    assert model.in_context and model(torch.from_numpy(rows)).shape == (4, 2)
