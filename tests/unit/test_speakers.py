"""Speaker-normalised models: prediction with each speaker's statistics taken
from that speaker's recordings (predict --speakers), the same numbers as
training and evaluation compute, and clear refusals where no such statistics exist."""
import numpy as np
import pandas as pd
import pytest

from segser import predict
from segser.adaptation.groups import speaker_groups
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS
from segser.adaptation.statistics import speaker_normalise
from segser.cli import main
from segser.errors import ConfigError
from segser.model import load_model
from segser.training.config import CorpusSpec, TrainConfig
from segser.training.data import embed_manifest
from segser.training.train import run


@pytest.fixture()
def adapted_run(toy_corpus, tmp_path):
    cfg = TrainConfig(speech_gate=0, corpora=(CorpusSpec("csv", str(toy_corpus)),), backbone="logmel", max_epochs=10, patience=5,
                      protocol="speaker-kfold:2", speaker_norm=True)
    run(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run"


def manifest_of(toy_corpus):
    m = pd.read_csv(toy_corpus)
    m["path"] = [str(toy_corpus.parent / p) for p in m["path"]]
    return m


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_predict_with_speakers_equals_normalising_each_speakers_embeddings(adapted_run, toy_corpus, runtime, tmp_path):
    model = load_model(adapted_run, runtime=runtime)
    assert model.speaker_norm
    m = manifest_of(toy_corpus)
    table = tmp_path / "speakers.csv"
    m[["path", "speaker"]].rename(columns={"path": "file"}).to_csv(table, index=False)
    timeline, decisions, errors = predict(list(m["path"]), model, speakers=str(table))
    assert not errors and len(decisions) == len(m)
    emb = embed_manifest(m, model.encoder, model.segmentation, progress=False)
    expected = model.probabilities(model.logits(speaker_normalise(emb.X, m["speaker"].to_numpy()[emb.clip])))
    got = timeline.reset_index().set_index(["file", "start"]).loc[
        list(zip(m["path"].to_numpy()[emb.clip], np.round(emb.start, 3)))][[f"p_{c}" for c in model.classes]]
    np.testing.assert_allclose(got.to_numpy(), expected, atol=2e-5)
    # one speaker's statistics never depend on another speaker's recordings
    spk0 = list(m.loc[m["speaker"] == "spk0", "path"])
    alone, _, _ = predict(spk0, model, speakers="all")
    np.testing.assert_allclose(alone.to_numpy()[:, 2:].astype(float),
                               timeline.loc[spk0].to_numpy()[:, 2:].astype(float), atol=2e-5)
    assert (decisions.loc[spk0, "label"] == m.set_index("path").loc[spk0, "label"]).mean() > 0.9


def test_speaker_normalised_model_needs_speakers_and_enough_speech(adapted_run, toy_corpus, tmp_path, capsys):
    m = manifest_of(toy_corpus)
    one = m["path"].iloc[0]
    with pytest.raises(ConfigError, match="needs statistics"):
        predict([one], adapted_run, adapt="none")
    for kw in ({}, {"speakers": "file"}, {"adapt": "speaker"}):  # auto, or per recording: the recording is its group
        _, decisions, errors = predict([one], adapted_run, **kw)
        assert decisions.empty and f"at least {MIN_SPEAKER_SEGMENTS}" in errors[one] and "s0_angry_0.wav" in errors[one]
    assert main(["predict", str(adapted_run), one, "--speakers", "file", "--quiet"]) == 1
    assert "adaptation needs at least" in capsys.readouterr().err
    files = list(m.loc[m["speaker"] == "spk1", "path"])
    assert main(["predict", str(adapted_run), *files, "--speakers", "all", "--quiet", "--out",
                 str(tmp_path / "t.csv")]) == 0
    assert pd.read_csv(tmp_path / "t.csv")["file"].nunique() == len(files)


def test_speakers_are_refused_where_they_cannot_apply(adapted_run, toy_corpus, tmp_path):
    from segser.runtime.cluster import predict_to_parquet
    from segser.serving.stream import Stream

    m = manifest_of(toy_corpus)
    with pytest.raises(ConfigError, match="with --adapt none each file stands alone"):
        predict([m["path"].iloc[0]], "default", speakers="all", adapt="none")
    with pytest.raises(ConfigError, match="--adapt collection takes every input"):
        predict([m["path"].iloc[0]], "default", speakers="all", adapt="collection")
    with pytest.raises(ConfigError, match="live streams"):
        Stream(adapted_run, sample_rate=16000)
    with pytest.raises(ConfigError, match="--speakers auto or file"):
        predict_to_parquet([m["path"].iloc[0]], tmp_path / "out", model=str(adapted_run), speakers="all")


def test_a_ray_worker_takes_each_recording_as_its_own_speaker(adapted_run, toy_corpus, tmp_path):
    """The Ray actor's code, run in this process: the same results as predict --speakers file."""
    import soundfile as sf

    from segser.runtime.cluster import Predictor, claim, read_results

    m = manifest_of(toy_corpus)
    one = m.loc[m["speaker"] == "spk3", "path"]
    long = tmp_path / "spk3.wav"
    sf.write(long, np.concatenate([sf.read(p, dtype="float32")[0] for p in one]), 16000)
    out = tmp_path / "out"
    run_id, _ = claim(out)
    worker = Predictor(str(adapted_run), str(out), run_id, {}, "auto", 1, "file", None)
    row = worker({"part": ["a"], "files": [[str(long), one.iloc[0]]]})
    assert row["files"].tolist() == [2] and row["errors"].tolist() == [1]  # the 1.5 s clip alone is too short
    tables = read_results(out)
    timeline, _, _ = predict([long], adapted_run, speakers="file")
    np.testing.assert_allclose(tables["segments"]["p_angry"].to_numpy(), timeline["p_angry"].to_numpy(), atol=1e-6)
    assert "segments of speech" in tables["errors"]["error"].iloc[0]


def test_the_service_takes_each_upload_as_its_own_speaker(adapted_run, toy_corpus, tmp_path):
    pytest.importorskip("fastapi")
    import soundfile as sf
    from fastapi.testclient import TestClient

    from segser.serving.service import create_app

    m = manifest_of(toy_corpus)
    one = m.loc[m["speaker"] == "spk2", "path"]
    long = tmp_path / "spk2.wav"
    sf.write(long, np.concatenate([sf.read(p, dtype="float32")[0] for p in one]), 16000)
    client = TestClient(create_app([str(adapted_run)]))
    assert client.get("/models").json()[0]["speaker_norm"] is True
    r = client.post("/predict", files={"file": ("call.wav", long.read_bytes())})
    assert r.status_code == 200, r.text
    timeline, _, _ = predict([long], adapted_run, speakers="file")
    np.testing.assert_allclose([s["p_angry"] for s in r.json()["segments"]], timeline["p_angry"].to_numpy(), atol=1e-6)
    r = client.post("/predict", files={"file": ("short.wav", open(one.iloc[0], "rb").read())})
    assert r.status_code == 400 and r.json()["detail"].startswith("short.wav: the recording has 2 segments")
    assert "/tmp" not in r.text and str(tmp_path) not in r.text


def test_speaker_tables(tmp_path):
    (tmp_path / "a.wav").touch()
    (tmp_path / "b.wav").touch()
    files = [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    table = tmp_path / "spk.csv"
    table.write_text("file,speaker\na.wav,x\nb.wav,y\n")  # relative to the table's folder
    assert speaker_groups(files, str(table)) == {"x": [files[0]], "y": [files[1]]}
    assert speaker_groups(files, {files[0]: "x", files[1]: "x"}) == {"x": files}
    with pytest.raises(ConfigError, match="none of all, file"):
        predict(files, "default", speakers="everyone")
    bad = [(b"file,speaker\na.wav,x\n", "b.wav: not in the speaker table"),
           (b"path;who\n", "header 'file,speaker'"),
           (b"file,speaker\na.wav,x\nb.wav,y\na.wav,y\n", "line 4: a.wav is listed twice \\(speaker 'x'\\)"),
           (b"file,speaker\na.wav,x\nb.wav,y\na.wav,x\n", "line 4: a.wav is listed twice"),
           (b"file,speaker\n", "one row per file"),
           (b"\xff\xfe\x00binary", "spk.csv")]
    for content, message in bad:
        table.write_bytes(content)
        with pytest.raises(ConfigError, match=message):
            speaker_groups(files, str(table))


def test_a_batch_over_the_segment_bound_is_refused_whole_with_a_clear_message(adapted_run, toy_corpus, monkeypatch):
    import segser.pipeline

    monkeypatch.setattr(segser.pipeline, "MAX_GROUP_SEGMENTS", 30)
    m = manifest_of(toy_corpus)
    m = m[m["speaker"].isin(["spk0", "spk1", "spk2"])]
    groups = {p: ("a" if s == "spk0" else "b") for p, s in zip(m["path"], m["speaker"])}
    _, decisions, errors = predict(list(m["path"]), adapted_run, speakers=groups)
    assert decisions.empty and set(errors) == set(m["path"])
    assert all("more than 30 segments to adapt together" in e for e in errors.values())
    small = list(m.loc[m["speaker"] == "spk0", "path"])[:6]  # 12 segments: within the bound
    _, decisions, errors = predict(small, adapted_run, speakers="all")
    assert not errors and len(decisions) == 6
    # one recording longer than a whole speaker may be is refused from its duration, before it is embedded
    import soundfile as sf

    long = toy_corpus.parent / "long.wav"
    sf.write(long, np.concatenate([sf.read(p, dtype="float32")[0] for p in m["path"]]), 16000)
    _, decisions, errors = predict([long], adapted_run, speakers="file")
    assert decisions.empty and "limit 30" in errors[str(long)]


def test_the_mood_check_tells_one_mood_from_a_mix_and_reads_the_same_live_as_at_once(tmp_path):
    from types import SimpleNamespace

    from segser.adaptation.live import LiveAdaptation
    from segser.adaptation.mood import MoodCheck
    from segser.errors import ModelError
    from segser.training.adaptation_fit import emotion_directions

    rng = np.random.default_rng(0)
    d = 16
    axes = np.linalg.qr(rng.normal(size=(d, 3)))[0]
    # six training speakers (offsets 0..-5), three emotions: two of them offset along two of the axes
    y = np.tile(np.repeat([0, 1, 2, 0], 60), 6)
    X = np.concatenate([np.concatenate([rng.normal(size=(60, d)) - i + (3.0 * axes[:, k] if k < 2 else 0)
                                        for k in (0, 1, 2, 0)]) for i in range(6)])
    B = emotion_directions(X, y, np.repeat(np.arange(6), 240), 3)
    assert B.shape == (d, 2) and np.allclose(np.linalg.norm(B, axis=0), 1)
    assert np.linalg.norm(axes[:, :2].T @ B, axis=0).min() > 0.95  # within the span of the true emotion axes

    check = MoodCheck(B, np.array([-6.5, -4.0, 0.0]))
    mix = np.concatenate([rng.normal(size=(40, d)) + 3.0 * axes[:, k] for k in (0, 1)] + [rng.normal(size=(40, d))])
    one = rng.normal(size=(120, d)) + 3.0 * axes[:, 0]
    assert check.spread(mix) > check.spread(one) + 0.5
    assert check.probability(check.spread(one), 0.5) > 0.8 > 0.2 > check.probability(check.spread(mix), 0.5)
    assert MoodCheck.weight(0.0) == 0.0 and MoodCheck.weight(0.2) == pytest.approx(0.5) and MoodCheck.weight(0.9) == 1.0

    # live: running sums give the figure the whole voice gives at once
    mean, std = rng.normal(size=d).astype(np.float32), rng.uniform(0.5, 2, d).astype(np.float32)
    W = rng.normal(size=(d, 3))
    model = SimpleNamespace(classes=["a", "b", "c"], reference=(mean, std), speaker_norm=False, mood=check, adaptation=None,
                            logits=lambda X: np.asarray(X, np.float64) @ W)
    V = (mix * std + mean).astype(np.float32)
    live = LiveAdaptation(model)
    _, heard = live.logits(V, np.ones(len(V)), [(i, i + 1.0) for i in range(len(V))], gate=0.2)
    share = np.bincount((V @ W).argmax(1), minlength=3).max() / len(V)
    p = live.sample.one_mood_probability()
    assert p == pytest.approx(check.probability(check.spread((V - mean) / std), share), abs=1e-4)
    assert heard[0] == 0.0 and heard[-1] == pytest.approx(len(V))  # a mix: adapted once warmed up
    assert live.note().one_mood_probability == round(p, 3) < 0.2

    check.save(tmp_path / "mood.npz")
    back = MoodCheck.load(tmp_path / "mood.npz", "toy")
    assert np.allclose(back.directions, check.directions) and np.allclose(back.coef, check.coef)
    (tmp_path / "bad.npz").write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="toy: mood.npz unreadable"):
        MoodCheck.load(tmp_path / "bad.npz", "toy")


def test_adaptation_heads_give_the_torch_heads_calibrated_logits_and_reject_a_bad_file(tmp_path):
    """Heads trained in torch run in numpy (every runtime has them) with the same logits, divided by their own
    temperature; adapted_logits brings them back to the model's temperature, so softmax(logits / model T) is the
    head's calibrated probability; a broken or mismatched file is a clear error."""
    from dataclasses import replace
    from types import SimpleNamespace

    import torch

    from segser.adaptation.heads import AdaptationHeads, adapted_logits
    from segser.adaptation.statistics import Statistics
    from segser.errors import ModelError
    from segser.heads import EmotionHead
    from segser.training.adaptation_fit import heads_from_torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    heads = {}
    for kind, t in (("speaker", 1.5), ("collection", 0.8)):
        module = EmotionHead(12, 3, "segment", hidden=7).eval()
        module.mean.copy_(torch.randn(12))
        module.std.copy_(torch.rand(12) + 0.5)
        heads[kind] = (module, t)
    ah = heads_from_torch(heads)
    X = rng.normal(size=(20, 12)).astype(np.float32)
    for kind, (module, t) in heads.items():
        with torch.no_grad():
            expected = module(torch.from_numpy(X)).numpy() / t
        np.testing.assert_allclose(ah.logits(kind, X), expected, rtol=1e-4, atol=1e-5)
    ah.save(tmp_path / "adaptation_heads.npz")
    back = AdaptationHeads.load(tmp_path / "adaptation_heads.npz", "toy")
    np.testing.assert_allclose(back.logits("collection", X), ah.logits("collection", X), rtol=1e-6)
    assert back.shape == (12, 3)

    # through a model of another temperature, the probabilities a reader sees are still the head's calibrated ones:
    # softmax(adapted logits / the model's T) = softmax(the torch head on the group's z-scores / its own T)
    from segser.results.aggregate import softmax

    stats = Statistics.of(X[:10])
    model = SimpleNamespace(adaptation=back, temperature=2.0)
    module, t = heads["speaker"]
    with torch.no_grad():
        expected = softmax(module(torch.from_numpy((X - X[:10].mean(0)) / (X[:10].std(0) + 1e-5))).numpy() / t)
    np.testing.assert_allclose(softmax(adapted_logits(model, X, stats, "speaker") / 2.0), expected, atol=1e-5)

    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="toy: adaptation_heads.npz unreadable"):
        AdaptationHeads.load(tmp_path / "bad.npz", "toy")
    AdaptationHeads({**back.heads, "collection": replace(back.heads["collection"], std=np.zeros(12, np.float32))}).save(
        tmp_path / "zero.npz")  # a zero std
    with pytest.raises(ModelError, match="toy: adaptation_heads.npz holds no valid collection head"):
        AdaptationHeads.load(tmp_path / "zero.npz", "toy")


def test_emotion_directions_stay_finite_when_a_class_has_one_segment():
    """A fold of a tiny training set can hold one segment of a class (np.cov of one row is NaN): its directions
    come from the classes that have a spread, and are finite and unit length."""
    from segser.training.adaptation_fit import emotion_directions

    rng = np.random.default_rng(0)
    Z, y = rng.normal(size=(5, 4)), np.array([0, 1, 1, 1, 2])
    B = emotion_directions(Z, y, np.zeros(5), 3)
    assert B.shape == (4, 2) and np.all(np.isfinite(B)) and np.allclose(np.linalg.norm(B, axis=0), 1)
    B1 = emotion_directions(Z[[0, 4]], np.array([0, 2]), np.zeros(2), 3)  # no class with a spread at all
    assert B1.shape == (4, 1) and np.all(np.isfinite(B1))


def test_emotion_directions_equal_the_discriminants_solved_in_full():
    """The k x k form (and, with fewer segments than dimensions, the Woodbury one) gives the linear discriminants
    of the full d x d eigenproblem."""
    from segser.training.adaptation_fit import emotion_directions

    rng = np.random.default_rng(1)
    for n, d in ((400, 12), (30, 50)):  # more segments than dimensions, and fewer
        y, spk = rng.integers(0, 4, n), rng.integers(0, 3, n)
        Z = rng.normal(size=(n, d)) + np.outer(y, rng.normal(size=d)) + np.outer(spk, rng.normal(size=d))
        Zc = Z.copy()
        for s in range(3):
            Zc[spk == s] -= Zc[spk == s].mean(0)
        within = sum(np.cov(Zc[y == c].T) for c in range(4)) / 4 + 0.1 * np.eye(d)
        between = np.cov(np.array([Zc[y == c].mean(0) for c in range(4)]).T)
        values, vectors = np.linalg.eig(np.linalg.solve(within, between))
        full = vectors[:, np.argsort(-values.real)[:3]].real
        full /= np.linalg.norm(full, axis=0)
        B = emotion_directions(Z, y, spk, 4)
        assert np.allclose(np.abs((B * full).sum(0)), 1, atol=1e-6), (n, d)
