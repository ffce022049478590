"""ONNX export and the torch-free runtime on real recordings: parity with the
torch runtime, no torch imported, all inputs and outputs work."""
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from segser import predict  # noqa: E402
from segser.model import load_model  # noqa: E402
from segser.runtime.export import export  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "default-onnx"
    export(load_model("default", runtime="torch"), out)
    return out


def real_files(shared_data):
    return (sorted((shared_data / "emodb-originals").glob("*.wav")) + sorted((shared_data / "emodb").glob("1*.flac"))[:20]
            + sorted((shared_data / "ravdess" / "Actor_02").glob("*.flac"))[:20])


def test_fp32_onnx_equals_torch_within_1e_4(exported, shared_data):
    files = real_files(shared_data)
    t_torch, d_torch, e1 = predict(files, "default", runtime="torch")
    t_onnx, d_onnx, e2 = predict(files, exported, precision="fp32")
    cols = [c for c in t_torch.columns if c.startswith("p_")]
    assert not e1 and not e2 and len(t_torch) == len(t_onnx)
    np.testing.assert_allclose(t_onnx[cols].to_numpy(), t_torch[cols].to_numpy(), atol=1e-4)
    assert list(t_onnx.index) == list(t_torch.index) and list(d_onnx["label"]) == list(d_torch["label"])


def test_export_folder_is_checked_and_complete(exported):
    doc = json.loads((exported / "export.json").read_text())
    assert doc["classes"] == ["angry", "disgust", "fear", "happy", "neutral", "sad"]
    assert set(doc["sha256"]) == {"encoder.onnx", "encoder.int8.onnx", "head.onnx", "vad.onnx", "card.json",
                                  "reference.npz", "mood.npz", "adaptation_heads.npz"}  # default's companions too
    assert doc["encoder"]["kind"] == "whisper" and doc["encoder"]["window_seconds"] == 5.0


def test_int8_quantises_the_products_with_weight_matrices_only(exported, shared_data):
    """The export's int8 copy: every product with a weight matrix (feed-forward, attention projections) in int8,
    the attention's products of two activations and the convolutions in fp32; on real speech its logits stay close
    to fp32's and most clip decisions agree (fastest_path.py judges accuracy)."""
    import onnx

    from segser.errors import ModelError
    from segser.runtime.export import quantize

    doc = json.loads((exported / "export.json").read_text())
    assert doc["encoder"]["int8_layers"] == "linear"
    nodes = onnx.load(str(exported / "encoder.int8.onnx")).graph.node
    integer = [n.name for n in nodes if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "ConvInteger")]
    assert sum("/mlp/" in n for n in integer) == 8 and sum("/attn/" in n for n in integer) == 16  # 4 blocks
    assert sum(n.op_type == "Conv" for n in nodes) == 2
    assert sum(n.op_type == "MatMul" and "/attn/MatMul" in n.name for n in nodes) == 8  # q.k and weights.v, fp32
    files = real_files(shared_data)
    t32, d32, _ = predict(files, exported, precision="fp32")
    t8, d8, _ = predict(files, exported, precision="int8")
    cols = [c for c in t32.columns if c.startswith("p_")]
    p8, p32 = t8[cols].to_numpy(), t32[cols].to_numpy()  # NaN where a segment holds no speech, in both
    assert np.array_equal(np.isnan(p8), np.isnan(p32)) and np.nanmean(np.abs(p8 - p32)) < 0.02
    assert (d8["label"].to_numpy() == d32["label"].to_numpy()).mean() >= 0.9
    with pytest.raises(ModelError, match="int8 layers"):
        quantize(exported / "encoder.onnx", exported / "x.onnx", layers="attention")


def test_predict_with_an_export_imports_no_torch(exported, shared_data, tmp_path):
    code = f"""
import sys, json
from segser.cli import main
code = main(['predict', '--model', {str(exported)!r}, {str(shared_data / 'emodb-originals')!r}, '--vad', '--quiet',
             '--out', {str(tmp_path / 'r.csv')!r}, '--json'])
print(json.dumps({{'code': code, 'torch': 'torch' in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    status = json.loads(out.stdout.strip().splitlines()[-1])
    assert status == {"code": 0, "torch": False}, out.stderr[-2000:]
    assert (tmp_path / "r.csv").read_text().count("\n") > 7


def test_altered_export_is_refused(exported, tmp_path):
    import shutil

    from segser.errors import ModelError

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    with open(copy / "head.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x00")
    with pytest.raises(ModelError, match="head.onnx is missing or altered"):
        load_model(copy)


def test_the_service_serves_an_export(exported, shared_data):
    from fastapi.testclient import TestClient

    from segser.serving.service import create_app

    client = TestClient(create_app([str(exported)]))
    r = client.post("/predict", files={"file": ("a.wav", (shared_data / "emodb-originals" / "03a01Wa.wav").read_bytes())})
    assert r.status_code == 200 and r.json()["decision"]["label"] == "angry"
    assert client.get("/models").json()[0]["runtime"] == "onnx"


def test_an_export_carries_the_mood_check_and_the_adaptation_heads(tmp_path):
    """default-4class's mood check (the guard of a voice with nothing to compare with) and its adaptation heads go
    into its export, checked like every file, and the exported model reads them back."""
    source = load_model("default-4class", runtime="torch")
    export(source, tmp_path / "x", int8=False)
    doc = json.loads((tmp_path / "x" / "export.json").read_text())
    assert {"mood.npz", "adaptation_heads.npz"} <= set(doc["sha256"])
    back = load_model(tmp_path / "x")
    np.testing.assert_allclose(back.mood.directions, source.mood.directions, atol=1e-6)
    np.testing.assert_allclose(back.mood.coef, source.mood.coef)
    Z = np.random.default_rng(0).normal(size=(5, back.adaptation.shape[0])).astype(np.float32)
    for kind in ("speaker", "collection"):
        np.testing.assert_allclose(back.adaptation.logits(kind, Z), source.adaptation.logits(kind, Z), rtol=1e-6)


def test_the_cache_keeps_one_export_per_model_folder(tmp_path):
    """A new export of a folder (new model file or recipe: a new key) removes the cache's older exports of that
    folder, and only those; the export records the folder it was made from."""
    from segser.runtime.onnx import prune_stale_exports

    cache = tmp_path / "exports"
    for name, source in (("m-old", tmp_path / "run"), ("m-new", tmp_path / "run"), ("m-other", tmp_path / "elsewhere"),
                         ("m-broken", None)):
        (cache / name).mkdir(parents=True)
        doc = {"made_from": str(source.resolve())} if source else {}
        (cache / name / "export.json").write_text(json.dumps(doc) if source else "{not json")
    removed = prune_stale_exports(cache / "m-new", tmp_path / "run")
    assert removed == [cache / "m-old"]
    assert sorted(p.name for p in cache.iterdir()) == ["m-broken", "m-new", "m-other"]
    source = load_model("default-4class", runtime="torch")
    export(source, tmp_path / "x", int8=False)
    assert json.loads((tmp_path / "x" / "export.json").read_text())["made_from"] == str(source.source.resolve())
