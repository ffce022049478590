"""The HTTP service on the built-in models: real recordings in, the same
timeline and decision as the Python API out; bad or hostile requests are clear
4xx errors that never name a server path."""
import io

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

import segser  # noqa: E402
from segser.serving.service import create_app, upload_name  # noqa: E402
from tests.conftest import tone  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGSER_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("SEGSER_OFFLINE", "1")
        return TestClient(create_app(["default", "default-4class"], max_upload_mb=2, max_audio_s=60))


def wav_bytes(x, sr=16000, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def test_health_and_models(client):
    assert client.get("/health").json()["models"] == ["default", "default-4class"]
    models = client.get("/models").json()
    assert [m["name"] for m in models] == ["default", "default-4class"]
    assert models[1]["classes"] == ["angry", "happy", "neutral", "sad"]
    assert models[0]["segmentation"] == {"method": "fixed", "length": 1.0, "hop": 1.0}
    assert "/" not in str(models)  # no server path anywhere (weights are named by digest)


def test_the_runtime_is_chosen_at_start(shared_data):
    """`segser serve --runtime torch|onnx`: both answer a real recording with the same decision (ONNX at its default
    precision, int8 weight matrices: probabilities within 0.02; fp32 equals torch within 1e-4: test_onnx.py)."""
    path = shared_data / "emodb-originals" / "03a01Wa.wav"
    answers = {}
    for runtime in ("torch", "onnx"):
        c = TestClient(create_app(["default-4class"], runtime=runtime))
        assert c.get("/models").json()[0]["runtime"] == runtime
        r = c.post("/predict", files={"file": ("a.wav", path.read_bytes())})
        assert r.status_code == 200
        answers[runtime] = r.json()
    assert answers["torch"]["decision"]["label"] == answers["onnx"]["decision"]["label"] == "angry"
    np.testing.assert_allclose([s["p_angry"] for s in answers["torch"]["segments"]],
                               [s["p_angry"] for s in answers["onnx"]["segments"]], atol=0.02)


def test_predict_equals_the_python_api_on_a_real_recording(client, shared_data):
    path = shared_data / "emodb-originals" / "03a01Wa.wav"
    r = client.post("/predict", files={"file": ("03a01Wa.wav", path.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    doc = r.json()
    timeline, decisions, errors = segser.predict([path])
    assert not errors and doc["file"] == "03a01Wa.wav" and doc["model"] == "default"
    assert doc["decision"]["label"] == decisions.iloc[0]["label"] == "angry"
    assert len(doc["segments"]) == len(timeline) == int(np.ceil(sf.info(str(path)).duration))
    got = np.array([[s[f"p_{c}"] for c in doc["classes"]] for s in doc["segments"]])
    want = timeline[[f"p_{c}" for c in doc["classes"]]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert [s["start"] for s in doc["segments"]] == list(timeline.index.get_level_values("start"))

    r = client.post("/predict?hop=0.5&model=default-4class", files={"file": ("a.wav", path.read_bytes())})
    assert r.status_code == 200 and r.json()["classes"] == ["angry", "happy", "neutral", "sad"]
    assert len(r.json()["segments"]) > len(doc["segments"])


def test_bad_uploads_are_clear_errors(client):
    cases = {
        "empty.wav": (b"", 400, "empty.wav"),
        "notes.wav": (b"this is not audio" * 20, 400, "notes.wav"),
        "silence.wav": (wav_bytes(np.zeros(16000, np.float32)), 400, "silence.wav"),
        "huge.wav": (wav_bytes(tone(200, 1.0) * 1e37, subtype="FLOAT"), 400, "out of range"),
        "nan.wav": (wav_bytes(np.full(16000, np.nan, np.float32), subtype="FLOAT"), 400, "NaN"),
    }
    for name, (data, status, needle) in cases.items():
        r = client.post("/predict", files={"file": (name, data)})
        assert r.status_code == status, (name, r.text)
        assert needle in r.json()["detail"] and "/tmp" not in r.json()["detail"]
    big = wav_bytes(tone(200, 70.0))  # 2.2 MB > the 2 MB limit of this app
    r = client.post("/predict", files={"file": ("long.wav", big)})
    assert r.status_code == 413 and "2 MB" in r.json()["detail"]
    r = client.post("/predict?model=nope", files={"file": ("a.wav", wav_bytes(tone(200, 1.0)))})
    assert r.status_code == 404 and "default-4class" in r.json()["detail"]
    r = client.post("/predict?rule=vote", files={"file": ("a.wav", wav_bytes(tone(200, 1.0)))})
    assert r.status_code == 422
    assert client.post("/predict").status_code == 422  # no file


@pytest.mark.parametrize("query", ["hop=0.000001", "hop=1e-9", "hop=nan", "segment=0", "segment=-1", "hop=inf",
                                   "segment=1e9", "min_score=2"])
def test_segmentation_options_cannot_exhaust_the_server(client, query):
    r = client.post(f"/predict?{query}", files={"file": ("a.wav", wav_bytes(tone(200, 2.0)))})
    assert r.status_code == 422, r.text


def test_audio_length_and_segment_count_limits_come_before_decoding(client):
    flac = wav_bytes(np.zeros(16000 * 90, np.float32) + 1e-4, fmt="FLAC")  # 90 s of audio, a tiny upload
    r = client.post("/predict", files={"file": ("long.flac", flac)})
    assert r.status_code == 413 and "limit of 60 s" in r.json()["detail"]
    small = TestClient(create_app(["default"], max_segments=1000))
    r = small.post("/predict?segment=0.02&hop=0.01", files={"file": ("a.flac", wav_bytes(tone(200, 20.0), fmt="FLAC"))})
    assert r.status_code == 413 and "up to 2,001 segments (limit 1,000)" in r.json()["detail"]


@pytest.mark.parametrize("name", ["..", ".", "a/..", "x" * 300 + ".wav", "../../etc/passwd", "a\x00b.wav", ""])
def test_hostile_upload_names(client, name):
    r = client.post("/predict", files={"file": (name, b"not audio at all" * 10)})
    assert r.status_code == (422 if name == "" else 400), r.text  # no file name: not a file part
    detail = r.json()["detail"]
    assert "/tmp" not in detail and "segser-" not in detail and len(detail) < 300


def test_upload_names_are_made_safe():
    assert upload_name("../../x.wav") == "x.wav" and upload_name("..") == upload_name("a/..") == "upload"
    assert len(upload_name("y" * 400 + ".flac")) <= 100 and upload_name("y" * 400 + ".flac").endswith(".flac")
