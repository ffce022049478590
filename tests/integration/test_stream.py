"""The live Stream equals offline predict on real recordings, for any chunk size."""
import numpy as np
import pytest
import soundfile as sf

from segser import predict
from segser.model import load_model
from segser.serving.stream import Stream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.fixture(scope="module")
def long_file(shared_data, tmp_path_factory):
    """About 45 s of real speech at 22.05 kHz (EmoDB), so the resampler and several windows are involved."""
    x = np.concatenate([sf.read(str(p), dtype="float32")[0] for p in sorted((shared_data / "emodb").glob("03a0*.flac"))])
    path = tmp_path_factory.mktemp("long") / "emodb-03.flac"
    sf.write(str(path), x, 22050)
    return path


def stream_file(model, path, chunk_seconds, **kw):
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    live = Stream(model, sample_rate=sr, channels=x.shape[1], **kw)
    n = max(1, int(round(chunk_seconds * sr)))
    rows = []
    for i in range(0, len(x), n):
        rows += live.push(x[i:i + n])
    rows += live.finish()
    note = live.note()
    return rows, {**live.decision().as_dict(), **({"adaptation": note.as_dict()} if note is not None else {})}


def check_equal(model, path, chunk, **options):
    """Unadapted, a stream's segments are predict's (adapted, each has the statistics heard so far: see below)."""
    timeline, decisions, errors = predict([path], model, adapt="none", **options)
    rows, decision = stream_file(model, path, chunk, adapt="none", **options)
    assert not errors and len(rows) == len(timeline) > 0
    assert [(r["start"], r["end"]) for r in rows] == [(s, e) for _, s, e in timeline.index]
    assert [r["label"] for r in rows] == list(timeline["label"])
    assert [r["speech"] for r in rows] == list(timeline["speech"])
    cols = [f"p_{c}" for c in model.classes]
    np.testing.assert_allclose([[r[c] for c in cols] for r in rows], timeline[cols].to_numpy(), atol=1e-5)
    assert decision["label"] == decisions.iloc[0]["label"] and decision["n_segments"] == decisions.iloc[0]["n_segments"]
    np.testing.assert_allclose([decision[c] for c in cols], decisions.iloc[0][cols].to_numpy(dtype=float), atol=1e-5)


@pytest.mark.parametrize("chunk", [0.01, 0.0137, 0.25, 1.0, 3.3, 5.0])
def test_stream_equals_predict_on_a_long_recording(model, long_file, chunk):
    check_equal(model, long_file, chunk)


@pytest.mark.parametrize("name", ["03a01Wa.wav", "03a02Ta.wav"])
def test_stream_equals_predict_with_overlap_and_vad(model, shared_data, name):
    path = shared_data / "emodb-originals" / name
    check_equal(model, path, 0.07, segment=1.0, hop=0.5)
    check_equal(model, path, 0.5, vad=True)


def test_stereo_int16_chunks(model, shared_data, tmp_path):
    x, sr = sf.read(str(shared_data / "emodb-originals" / "03a01Fa.wav"), dtype="float32")
    stereo = np.stack([x, x], axis=1)
    sf.write(str(tmp_path / "stereo.wav"), stereo, sr, subtype="PCM_16")
    pcm = (np.clip(stereo, -1, 1 - 1 / 32768) * 32768).astype(np.int16)
    live = Stream(model, sample_rate=sr, channels=2)
    rows = [r for i in range(0, len(pcm), 800) for r in live.push(pcm[i:i + 800])] + live.finish()
    timeline, _, _ = predict([tmp_path / "stereo.wav"], model, adapt="none")
    assert [r["label"] for r in rows] == list(timeline["label"])


def test_memory_bounded_and_bad_chunks(model):
    from segser.errors import AudioError

    live = Stream(model, sample_rate=16000)
    tone = (0.1 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    for _ in range(30):
        live.push(tone)
    assert live.embedder.audio.size <= 5 * 16000 and len(live.embedder.frames) <= 3
    for bad, message in ((np.array([np.nan], np.float32), "NaN"), (np.full(10, 1e9, np.float32), "out of range"),
                         (np.zeros((4, 3), np.float32), "mono"), (np.zeros(4, np.int64), "int16 or float")):
        with pytest.raises(AudioError, match=message):
            live.push(bad)


def _voice(shared_data, tmp_path, name, files):
    """One SAVEE speaker's clips back to back (real speech, Opus copies) as one 16 kHz recording."""
    from segser.io.audio import load

    files = [shared_data / "savee" / f for f in files]
    path = tmp_path / f"{name}.wav"
    sf.write(str(path), np.concatenate([load(p) for p in files]), 16000)
    return path


@pytest.fixture(scope="module")
def model4():
    return load_model("default-4class")


def test_live_adaptation_grows_with_the_voice_and_says_how_much_it_heard(model4, shared_data, tmp_path):
    """adapt=speaker on a voice that mixes four emotions (TESS's YAF, 15 words each, shuffled): the first segments
    are not adapted (too little speech), later ones report the seconds of speech their statistics come from,
    growing; the clip decision says what the adaptation did and how likely the mood check found one mood."""
    from segser.io.audio import load

    words = [p for e in ("angry", "happy", "neutral", "sad") for p in sorted((shared_data / "tess").glob(f"YAF_*_{e}.ogg"))[:15]]
    path = tmp_path / "YAF-mixed.wav"
    sf.write(str(path), np.concatenate([load(p) for p in np.random.default_rng(0).permutation(words)]), 16000)
    rows, decision = stream_file(model4, path, 0.5, adapt="speaker")
    heard = [r["adapted_on_s"] for r in rows if r["label"] != "no speech"]
    assert heard[0] == 0.0 and heard[-1] > 30.0 and sum(h > 0 for h in heard) > len(heard) / 2
    on = [h for h in heard if h > 0]
    assert on == sorted(on)
    assert decision["adaptation"]["mode"] in ("speaker", "speaker+none") and decision["adaptation"]["speech_seconds"] > 30.0
    assert decision["adaptation"]["one_mood_probability"] < 0.4
    auto, _ = stream_file(model4, path, 0.5)  # auto: a model with a mood check adapts as adapt=speaker does
    assert [(r["label"], r["adapted_on_s"]) for r in auto] == [(r["label"], r["adapted_on_s"]) for r in rows]
    plain, _ = stream_file(model4, path, 0.5, adapt="none")
    assert "adapted_on_s" not in plain[0]
    assert [r["label"] for r in plain] == list(predict([path], model4, adapt="none")[0]["label"])


def test_a_voice_that_keeps_one_emotion_is_not_flattened_live(model4, shared_data, tmp_path):
    """SAVEE's JK reading only happy sentences: the guard hears one mood and does not adapt, so the stream stays
    as happy as without adaptation (its own statistics alone would centre the emotion away: unguarded, the
    benchmark's one-emotion UA falls to 0.25)."""
    path = _voice(shared_data, tmp_path, "JK-happy", [f"JK_h{i:02d}.ogg" for i in range(1, 16)])
    rows, decision = stream_file(model4, path, 1.0, adapt="speaker")
    plain, _ = stream_file(model4, path, 1.0, adapt="none")
    voiced = [r["label"] for r in rows if r["label"] != "no speech"]
    assert np.mean([v == "happy" for v in voiced]) >= 0.8
    assert [r["label"] for r in rows] == [r["label"] for r in plain]
    assert decision["adaptation"]["mode"] == "none" and "one mood" in decision["adaptation"]["reason"]


def test_live_adaptation_options_are_checked(model4, shared_data):
    from segser.errors import ConfigError

    with pytest.raises(ConfigError, match="a stream is one voice"):
        Stream(model4, sample_rate=16000, adapt="collection")
    with pytest.raises(ConfigError, match="adapt"):
        Stream(model4, sample_rate=16000, adapt="sometimes")
    with pytest.raises(ConfigError, match="speaker-normalised"):
        Stream("adapted-4class", sample_rate=16000, adapt="speaker")


@pytest.mark.parametrize("chunk", [0.01, 0.7, 5.0])
def test_the_live_model_streams_equal_predict(long_file, chunk):
    check_equal(load_model("live-4class"), long_file, chunk)


def test_the_live_model_answers_as_soon_as_a_segment_ends(shared_data):
    """Trailing windows: each segment's result comes with its last sample plus at most one 32 ms VAD window (no
    segment is held back for the tail rule: a short tail is dropped), never seconds later as with tiled 5 s windows."""
    from segser.io.audio import load

    x = np.concatenate([load(shared_data / "emodb-originals" / "03a01Wa.wav")] * 3)
    live = Stream(sample_rate=16000)  # the live default
    assert live.model.name == "live-4class" and live.segmentation.context == "trailing"
    lags = []
    for i in range(0, x.size, 160):
        lags += [live.seconds - r["end"] for r in live.push(x[i:i + 160])]
    assert len(lags) >= 4 and max(lags) <= 0.032 + 0.01, lags
