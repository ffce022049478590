"""The main job: the built-in default model on real recordings, and bad input in a batch."""
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr

from segser import predict
from segser.errors import ModelError
from segser.model import load_model

pytestmark = pytest.mark.integration


def test_cli_predict_default_model(shared_data):
    out = subprocess.run([sys.executable, "-m", "segser.cli", "predict", str(shared_data / "emodb-originals" / "03a01Wa.wav")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("03a01Wa.wav  (1.88 s, 2 segments)")
    assert [line.split()[:3] for line in lines[2:4]] == [["0.00", "1.00", "angry"], ["1.00", "1.88", "angry"]]
    assert lines[4].strip().startswith("clip: angry (score 0.9")


def test_batch_with_bad_inputs_keeps_going(shared_data, tmp_path):
    x, sr = sf.read(str(shared_data / "emodb-originals" / "03a01Fa.wav"), dtype="float32")
    sf.write(str(tmp_path / "six_channels.wav"), np.stack([x] * 6, axis=1), sr)
    sf.write(str(tmp_path / "rate_8k.wav"), soxr.resample(x, sr, 8000), 8000)
    sf.write(str(tmp_path / "rate_96k.flac"), soxr.resample(x, sr, 96000), 96000)
    sf.write(str(tmp_path / "silence.wav"), np.zeros(sr, np.float32), sr)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "not_audio.wav").write_text("hello")
    (tmp_path / "empty_dir").mkdir()
    timeline, decisions, errors = predict([tmp_path, tmp_path / "empty_dir"])
    assert sorted(p.split("/")[-1] for p in decisions.index) == ["rate_8k.wav", "rate_96k.flac", "six_channels.wav"]
    assert "6 channels mixed to mono" in decisions.loc[str(tmp_path / "six_channels.wav"), "notes"]
    assert "upsampled from 8000 Hz" in decisions.loc[str(tmp_path / "rate_8k.wav"), "notes"]
    msgs = " | ".join(errors.values())
    for fragment in ("silence.wav: pure digital silence", "empty.wav: empty file", "not_audio.wav: unreadable",
                     "empty_dir: directory contains no audio"):
        assert fragment in msgs


def test_vad_segments_skip_silence(shared_data, tmp_path):
    x, sr = sf.read(str(shared_data / "emodb-originals" / "03a02Ta.wav"), dtype="float32")
    padded = np.concatenate([np.zeros(sr * 2, np.float32), x, np.zeros(sr * 2, np.float32)])
    sf.write(str(tmp_path / "padded.wav"), padded, sr)
    model = load_model()
    timeline, _, _ = predict([tmp_path / "padded.wav"], model, vad=True)
    starts = timeline.index.get_level_values("start")
    ends = timeline.index.get_level_values("end")
    assert starts.min() >= 1.7 and ends.max() <= 2.0 + x.size / sr + 0.3


def test_altered_model_file_is_refused(tmp_path):
    shutil.copytree(load_model().source, tmp_path / "m")
    with open(tmp_path / "m" / "model.pt", "r+b") as f:
        f.seek(2000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="checksum"):
        load_model(tmp_path / "m")


def test_long_file_streamed_in_blocks_gives_a_seamless_timeline(shared_data, tmp_path):
    from segser.io.audio import load

    x = np.concatenate([load(p) for p in sorted((shared_data / "emodb-originals").glob("*.wav"))] * 4)  # about 65 s
    sf.write(str(tmp_path / "long.flac"), x, 16000)
    model = load_model()
    timeline, decisions, errors = predict([tmp_path / "long.flac"], model, segment=1.0, hop=0.5)
    starts = np.array(timeline.index.get_level_values("start"))
    assert not errors and decisions.iloc[0]["n_segments"] == len(starts)
    np.testing.assert_allclose(np.diff(starts), 0.5)  # no gap or duplicate at the block borders (every 4 s)
    assert starts[0] == 0.0 and starts[-1] + 1.0 >= x.size / 16000 >= starts[-1] + 0.25  # the tail rule's minimum


def test_speaker_adapted_model_on_speakers_it_never_heard(shared_data, tmp_path):
    """adapted-4class on SAVEE speakers (a corpus no built-in model trains on), each
    speaker's statistics from that speaker's own recordings: `predict --speakers`
    gives the decisions `segser evaluate` gives, well above chance."""
    import pandas as pd

    from segser.cli import main
    from segser.training import corpora
    from segser.training import labels as labelsets
    from segser.training.config import CorpusSpec
    from segser.training.evaluation import evaluate_model
    from segser.training.metrics import classification_metrics

    m, classes = labelsets.apply(corpora.load("savee", shared_data / "savee"), "4class")
    m = m[m["speaker"].isin(["savee_DC", "savee_JE"])].reset_index(drop=True)
    table = tmp_path / "speakers.csv"
    m[["path", "speaker"]].rename(columns={"path": "file"}).to_csv(table, index=False)
    assert main(["predict", *m["path"], "--model", "adapted-4class", "--speakers", str(table), "--adapt", "speaker",
                 "--quiet", "--out", str(tmp_path / "t.json")]) == 0
    y = [classes.index(v) for v in m["label"]]
    for runtime in ("auto", "torch"):  # the default (ONNX, int8) and evaluate's runtime (torch, fp32)
        _, decisions, errors = predict(list(m["path"]), "adapted-4class", speakers=str(table), adapt="speaker",
                                       runtime=runtime, clip_min_score=0)  # every decision, as evaluate scores them
        assert not errors
        ua = classification_metrics(y, [classes.index(v) for v in decisions.loc[m["path"], "label"]], len(classes))["UA"]
        assert ua > 0.55  # chance 0.25
    pd.DataFrame({"path": m["path"], "label": m["label"], "speaker": m["speaker"]}).to_csv(tmp_path / "m.csv", index=False)
    ev = evaluate_model("adapted-4class", [CorpusSpec("csv", str(tmp_path / "m.csv"))], labels="4class", progress=False)
    assert abs(ev["conditions"]["clean"]["UA"] - ua) < 1e-9


def test_the_service_runs_the_speaker_adapted_model_per_upload(shared_data, tmp_path):
    """One upload = one speaker: a call-like recording made of a SAVEE speaker's clips."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from segser.io.audio import load
    from segser.serving.service import create_app

    clips = sorted((shared_data / "savee").rglob("*.ogg"))[:8]
    assert len(clips) == 8
    call = tmp_path / "call.wav"
    sf.write(call, np.concatenate([load(c, sample_rate=16000) for c in clips]), 16000)
    client = TestClient(create_app(["adapted-4class"]))
    r = client.post("/predict", files={"file": ("call.wav", call.read_bytes())})
    assert r.status_code == 200, r.text
    timeline, decisions, _ = predict([call], "adapted-4class")
    assert r.json()["decision"]["label"] == decisions["label"].iloc[0]
    got = [np.nan if s["p_sad"] is None else s["p_sad"] for s in r.json()["segments"]]  # no speech: null
    np.testing.assert_allclose(got, timeline["p_sad"].to_numpy(), atol=1e-5)


def test_one_emotion_speakers_do_not_collapse_under_the_default_adaptation(shared_data, tmp_path):
    """The four SAVEE speakers, each keeping the clips of one emotion (DC angry, JE happy, JK neutral, KL sad),
    with a speaker table: each speaker's own statistics flatten their one mood to chance; the default (guarded)
    rule hears (mostly) one mood and keeps (mostly) the collection's. Choices are reported per file in JSON and CSV."""
    import json

    import pandas as pd

    from segser.cli import main
    from segser.training.metrics import classification_metrics

    pick = {"DC": ("a", "angry"), "JE": ("h", "happy"), "JK": ("n", "neutral"), "KL": ("sa", "sad")}
    rows = [(str(p), sp, label) for sp, (code, label) in pick.items()
            for p in sorted((shared_data / "savee").glob(f"{sp}_{code}[0-9]*.ogg"))]
    files = [r[0] for r in rows]
    table = {f: sp for f, sp, _ in rows}
    classes = ["angry", "happy", "neutral", "sad"]
    y = [classes.index(label) for _, _, label in rows]

    def ua(decisions):
        return classification_metrics(y, [classes.index(v) if v in classes else -1 for v in decisions.loc[files, "label"]],
                                      4)["UA"]

    for model in ("default-4class", "adapted-4class"):
        _, own, _ = predict(files, model, speakers=table, adapt="speaker")
        _, safe, _ = predict(files, model, speakers=table)
        assert ua(own) < 0.4 < 0.55 < ua(safe), model  # own statistics collapse; the default does not
        one_mood = [m == "collection" or (m == "speaker+collection" and w["collection"] >= 0.5)
                    for m, w in zip(safe["adapt_mode"], safe.get("adapt_weights", [None] * len(safe)))]
        assert sum(one_mood) >= 30, model  # at least two speakers heard as mostly one mood
        if model == "default-4class":  # its mood check weighs in beside the share: no worse than not adapting
            _, alone, _ = predict(files, model, adapt="none")
            assert ua(safe) >= ua(alone) - 0.01 and safe["adapt_one_mood_probability"].min() > 0.5
    pd.DataFrame({"file": files, "speaker": [table[f] for f in files]}).to_csv(tmp_path / "spk.csv", index=False)
    assert main(["predict", *files, "--model", "adapted-4class", "--speakers", str(tmp_path / "spk.csv"), "--quiet",
                 "--out", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {f["adaptation"]["mode"] for f in doc["files"]} <= {"speaker", "collection", "speaker+collection"}
    assert all(sum(f["adaptation"]["weights"].values()) == pytest.approx(1, abs=0.002)
               for f in doc["files"] if f["adaptation"]["mode"] == "speaker+collection")
    assert all("dominant_share" in f["adaptation"] for f in doc["files"])
    # several recordings without speakers: one collection, guarded like any group with nothing to compare with;
    # these eight are one speaker's angry sentences, a folder in one mood: not flattened by its own statistics
    assert main(["predict", *files[:8], "--model", "default-4class", "--quiet", "--out", str(tmp_path / "r.csv")]) == 0
    assert main(["predict", *files[:8], "--model", "default-4class", "--json", "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    folder = json.loads((tmp_path / "r.json").read_text())["files"]
    assert set(pd.read_csv(tmp_path / "r.csv")["adaptation"]) == {"none"}
    assert all(f["adaptation"]["group"] == "the collection" and f["adaptation"]["one_mood_probability"] > 0.9 for f in folder)
    assert main(["predict", *files[:8], "--model", "default-4class", "--adapt", "collection", "--quiet", "--out",
                 str(tmp_path / "asked.csv")]) == 0
    assert set(pd.read_csv(tmp_path / "asked.csv")["adaptation"]) == {"collection"}  # asked for: the plain collection


def test_one_voice_with_nothing_to_compare_with_is_adapted_only_when_it_mixes_emotions(shared_data, tmp_path):
    """A speaker group alone has no collection, so the mood check decides: SAVEE's DC, angry sentences only
    (one recording, and the clips as one --speakers all group), keeps exactly the unadapted answers (its own
    statistics would centre its one mood away); TESS's YAF mixing four emotions (one recording) is adapted. Both
    say how likely the check found one mood."""
    from segser.io.audio import load

    angry = sorted((shared_data / "savee").glob("DC_a[0-9]*.ogg"))
    words = [p for e in ("angry", "happy", "neutral", "sad") for p in sorted((shared_data / "tess").glob(f"YAF_*_{e}.ogg"))[:15]]
    one, mix = tmp_path / "DC-angry.wav", tmp_path / "YAF-mixed.wav"
    sf.write(str(one), np.concatenate([load(p) for p in angry]), 16000)
    sf.write(str(mix), np.concatenate([load(p) for p in np.random.default_rng(0).permutation(words)]), 16000)
    model = load_model("default-4class")
    timeline, decisions, errors = predict([one], model)  # auto
    plain, _, _ = predict([one], model, adapt="none")
    note = decisions.iloc[0]
    assert not errors and note["adapt_mode"] == "none" and note["adapt_one_mood_probability"] >= 0.4
    assert list(timeline["label"]) == list(plain["label"])
    _, grouped, _ = predict([str(p) for p in angry], model, speakers="all")
    _, alone, _ = predict([str(p) for p in angry], model, adapt="none")
    assert list(grouped["label"]) == list(alone["label"]) and (grouped["adapt_mode"] == "none").all()
    assert (grouped["adapt_one_mood_probability"] >= 0.4).all()
    _, decisions, _ = predict([mix], model)
    note = decisions.iloc[0]
    assert note["adapt_mode"] in ("speaker", "speaker+none") and note["adapt_one_mood_probability"] < 0.4


def test_a_mood_check_that_does_not_fit_the_model_is_refused(tmp_path):
    from segser.adaptation.mood import MoodCheck
    from segser.model import resolve_model_dir

    run = tmp_path / "run"
    shutil.copytree(resolve_model_dir("default-4class")[0], run)
    MoodCheck(np.ones((384, 3)) / np.sqrt(384), np.zeros(3)).save(run / "mood.npz")
    with pytest.raises(ModelError, match="run: mood.npz has 384-d directions but the head takes 1920-d"):
        load_model(run, runtime="torch")
    (run / "mood.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="run: mood.npz unreadable"):
        load_model(run, runtime="torch")


def test_adaptation_heads_that_do_not_fit_the_model_are_refused(tmp_path):
    from segser.adaptation.heads import ADAPTATION_HEADS_FILE, AdaptationHeads, ZHead
    from segser.model import resolve_model_dir

    run = tmp_path / "run"
    shutil.copytree(resolve_model_dir("default-4class")[0], run)
    layer = ZHead(np.zeros(384), np.ones(384), np.zeros((8, 384)), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
    AdaptationHeads({"speaker": layer, "collection": layer}).save(run / ADAPTATION_HEADS_FILE)
    with pytest.raises(ModelError, match="run: adaptation_heads.npz takes 384-d embeddings to 4 classes, but the model 1920-d"):
        load_model(run, runtime="torch")
    (run / ADAPTATION_HEADS_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="run: adaptation_heads.npz unreadable"):
        load_model(run, runtime="torch")


def test_adaptation_heads_take_the_adapted_input_on_speakers_never_heard(shared_data):
    """default-4class's adaptation heads on SAVEE (never trained on), each speaker mixing four emotions: a speaker's
    own z-scores into the speaker-normalised head and a folder's into the corpus-normalised one, each well above not
    adapting; the same model without the heads (moment matching into its one head) gives other answers."""
    import dataclasses

    from segser.training.metrics import classification_metrics

    codes = {"a": "angry", "h": "happy", "n": "neutral", "sa": "sad"}
    rows = [(str(p), sp, label) for sp in ("DC", "JE", "JK", "KL") for code, label in codes.items()
            for p in sorted((shared_data / "savee").glob(f"{sp}_{code}[0-9]*.ogg"))[:8]]
    files, table = [r[0] for r in rows], {f: sp for f, sp, _ in rows}
    classes = ["angry", "happy", "neutral", "sad"]

    def ua(decisions):
        return classification_metrics([classes.index(lab) for _, _, lab in rows],
                                      [classes.index(v) if v in classes else -1 for v in decisions.loc[files, "label"]], 4)["UA"]

    model = load_model("default-4class")
    assert model.adaptation is not None and model.describe()["adaptation_heads"] is True
    plain = dataclasses.replace(model, adaptation=None)
    _, none, _ = predict(files, model, adapt="none")
    _, speaker, _ = predict(files, model, speakers=table, adapt="speaker")
    _, folder, _ = predict(files, model, adapt="collection")
    _, speaker_mm, _ = predict(files, plain, speakers=table, adapt="speaker")
    _, folder_mm, _ = predict(files, plain, adapt="collection")
    scores = {k: ua(d) for k, d in (("none", none), ("speaker", speaker), ("collection", folder),
                                    ("speaker_mm", speaker_mm), ("collection_mm", folder_mm))}
    assert scores["speaker"] >= scores["none"] + 0.05 and scores["collection"] >= scores["none"] + 0.03, scores
    assert list(speaker["label"]) != list(speaker_mm["label"]) and list(folder["label"]) != list(folder_mm["label"])


def adaptation_ua(model, rows, **kw):
    """UA of ``predict`` on ``rows`` [(file, speaker, label)], and its decisions."""
    from segser.training.metrics import classification_metrics

    classes = list(model.classes)
    files = [f for f, _, _ in rows]
    _, decisions, errors = predict(files, model, **kw)
    assert not errors
    return classification_metrics([classes.index(lab) for _, _, lab in rows],
                                  [classes.index(v) if v in classes else -1 for v in decisions.loc[files, "label"]],
                                  len(classes))["UA"], decisions


def tess_mixed(shared_data, classes):
    """TESS's two speakers (never trained on), ten words of each class each."""
    return [(str(p), sp, label) for sp in ("OAF", "YAF") for label in classes
            for p in sorted((shared_data / "tess").glob(f"{sp}_*_{label}.ogg"))[:10]]


def savee_one_mood(shared_data):
    """Four SAVEE speakers, each keeping ten clips of one emotion (DC angry, JE happy, JK neutral, KL sad)."""
    pick = {"DC": ("a", "angry"), "JE": ("h", "happy"), "JK": ("n", "neutral"), "KL": ("sa", "sad")}
    return [(str(p), sp, label) for sp, (code, label) in pick.items()
            for p in sorted((shared_data / "savee").glob(f"{sp}_{code}[0-9]*.ogg"))[:10]]


def test_the_default_model_adapts_safely_to_speakers_it_never_heard(shared_data):
    """The built-in default (six classes) carries its own mood check and adaptation heads: on TESS (never trained
    on), its two speakers mixing the six emotions, `auto` with the speakers given adapts them, well above not
    adapting; SAVEE's four speakers each keeping one emotion are not flattened."""
    model = load_model("default")
    assert model.mood is not None and model.adaptation is not None and len(model.classes) == 6
    mixed = tess_mixed(shared_data, model.classes)
    none, _ = adaptation_ua(model, mixed, adapt="none")
    auto, decisions = adaptation_ua(model, mixed, speakers={f: sp for f, sp, _ in mixed})
    assert set(decisions["adapt_mode"]) <= {"speaker", "speaker+collection"}, decisions["adapt_mode"].unique()
    moods = savee_one_mood(shared_data)
    one_none, _ = adaptation_ua(model, moods, adapt="none")
    one_auto, _ = adaptation_ua(model, moods, speakers={f: sp for f, sp, _ in moods})
    print({"mixed none": none, "mixed auto": auto, "one-mood none": one_none, "one-mood auto": one_auto})
    assert auto >= none + 0.15 and one_auto >= one_none - 0.01


def test_a_model_trained_here_adapts_safely_too(shared_data, tmp_path):
    """`segser train` gives its final model a mood check (coefficients from its own folds) and adaptation heads:
    a 4-class model trained on EmoDB alone, on TESS's mixed speakers and SAVEE's one-mood ones (neither heard)."""
    from segser.training.config import CorpusSpec, TrainConfig
    from segser.training.train import run

    cfg = TrainConfig(corpora=(CorpusSpec("emodb", str(shared_data / "emodb")),), labels="4class", backbone="whisper",
                      backbone_options={"size": "tiny.en", "layer": "all", "context": 5}, head_options={"hidden": 200},
                      weight_decay=1e-4, class_weights=True, corpus_balance=True, calibrate=True,
                      protocol="speaker-kfold:5", seed=0)
    result = run(cfg, tmp_path / "run", progress=False)
    mood = result["adaptation"]["mood_check"]
    assert mood["fitted"] and mood["groups"]["mixed"] == 10 and mood["groups"]["one_mood"] >= 20, mood
    model = load_model(tmp_path / "run", runtime="torch")
    assert model.mood is not None and model.adaptation is not None
    moods = savee_one_mood(shared_data)
    one_none, _ = adaptation_ua(model, moods, adapt="none")
    one_auto, decisions = adaptation_ua(model, moods, speakers={f: sp for f, sp, _ in moods})
    assert one_auto >= one_none - 0.01 and decisions["adapt_one_mood_probability"].notna().all()
    # TESS's mixed speakers through segser evaluate --adapt auto (the same rule, the corpus's speakers given)
    from segser.training.evaluation import evaluate_model

    table = tmp_path / "tess.csv"
    table.write_text("path,label,speaker\n" + "".join(f"{f},{lab},{sp}\n" for f, sp, lab in tess_mixed(shared_data, model.classes)))
    spec = [CorpusSpec("csv", str(table))]
    plain = evaluate_model(model, spec, progress=False)["conditions"]["clean"]
    adapted = evaluate_model(model, spec, adapt="auto", progress=False)["conditions"]["clean"]
    print({"mixed none": plain["UA"], "mixed auto": adapted["UA"], "one-mood none": one_none, "one-mood auto": one_auto})
    assert adapted["UA"] >= plain["UA"] + 0.1 and sum(adapted["adaptation"]["csv"].values()) == 2, adapted["adaptation"]
