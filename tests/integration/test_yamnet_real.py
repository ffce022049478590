"""YAMNet rebuilt in PyTorch equals the TFLite interpreter on the Coral file."""
import numpy as np
import pytest
import torch

from segser.encoders.backbones import create
from segser.encoders.backbones.yamnet import YAMNetNet, read_tflite
from segser.encoders.features import VGGishLogMel, VGGishLogMelConfig
from segser.io.audio import load

pytestmark = pytest.mark.integration


def tflite_embedding(path, patch):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], patch[None].astype(np.float32))
    it.invoke()
    pooled = next(d for d in it.get_tensor_details() if d["name"].endswith("reduce_mean"))
    q = pooled["quantization_parameters"]
    return (it.get_tensor(pooled["index"]).astype(np.float32) - q["zero_points"][0]) * q["scales"][0]


def test_equivalence_on_real_speech_and_coral_vectors(shared_data, shared_models):
    pytest.importorskip("ai_edge_litert")
    path = shared_models / "yamnet" / "yamnet_spectra_in.tflite"
    spec = read_tflite(path)
    exact, dequant = YAMNetNet(spec, emulate_int8=True).eval(), YAMNetNet(spec).eval()
    fe = VGGishLogMel(VGGishLogMelConfig(log_offset=0.001))
    patches = [np.fromfile(shared_models / "yamnet" / "yamnet_test_spectra.bin", dtype=np.float32).reshape(96, 64)]
    for name in ("03a01Wa.wav", "03a02Ta.wav", "03a04Ad.wav"):
        x = load(shared_data / "emodb-originals" / name)
        patches.append(fe.patches(x[None, :16000])[0])
    for patch in patches:
        ref = tflite_embedding(path, patch).reshape(-1)
        with torch.no_grad():
            a = exact(torch.from_numpy(patch[None]))[0].numpy().reshape(-1)
            b = dequant(torch.from_numpy(patch[None]))[0].numpy().reshape(-1)
        step = exact.pool_q[0]  # one int8 step of the pooled embedding
        # TFLite's fixed-point requantisation rounds a few values to a neighbouring step
        assert np.abs(a - ref).max() <= 2 * step * 1.01
        assert np.mean(np.abs(a - ref) < 1e-4) > 0.9
        cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
        assert cos(a, ref) > 0.999 and cos(b, ref) > 0.995


def test_yamnet_backbone_segments(shared_data, shared_models):
    pytest.importorskip("ai_edge_litert")
    bb = create("yamnet")
    x = load(shared_data / "emodb-originals" / "03b10Ec.wav")
    emb = bb.embed(x, [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)])
    assert emb.shape == (4, 1024) and np.isfinite(emb).all() and emb.std() > 0


def test_float_h5_release_reader_matches_the_tflite_interpreter(tmp_path, shared_data, shared_models):
    """Coral's weights written in Google's Keras HDF5 layout (identity batch norms)
    and read back by the h5 reader give the network the TFLite interpreter runs."""
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("h5py")
    from segser.encoders.backbones.yamnet import read_keras_h5
    from tests.conftest import write_keras_yamnet_h5

    path = shared_models / "yamnet" / "yamnet_spectra_in.tflite"
    spec = read_tflite(path)
    names = ["layer1/conv"] + [f"layer{i}/{kind}" for i in range(2, 15) for kind in ("depthwise_conv", "pointwise_conv")]
    variables = {}
    for name, layer in zip(names, spec["layers"]):
        w = layer["weight"].numpy()  # torch [out, in/groups, kh, kw]
        if layer["groups"] > 1:
            variables[f"{name}/depthwise_kernel"] = w.transpose(2, 3, 0, 1).astype(np.float32)  # Keras [kh, kw, C, 1]
        else:
            variables[f"{name}/kernel"] = w.transpose(2, 3, 1, 0).astype(np.float32)  # Keras [kh, kw, in, out]
        c = w.shape[0]
        variables |= {f"{name}/bn/beta": layer["bias"].numpy(), f"{name}/bn/moving_mean": np.zeros(c, np.float32),
                      f"{name}/bn/moving_variance": np.full(c, 1 - 1e-4, np.float32)}
    variables |= {"dense/kernel": spec["fc"]["weight"].numpy().T, "dense/bias": spec["fc"]["bias"].numpy()}
    h5spec = read_keras_h5(write_keras_yamnet_h5(tmp_path / "yamnet.h5", variables))
    for a, b in zip(h5spec["layers"], spec["layers"]):
        assert (a["stride"], a["groups"]) == (b["stride"], b["groups"])
        torch.testing.assert_close(a["weight"].double(), b["weight"].double(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(a["bias"].double(), b["bias"].double(), atol=1e-6, rtol=1e-5)
    for layer in h5spec["layers"]:
        layer["max_value"] = 6.0  # the Coral conversion caps activations (ReLU6); the float release does not
    net = YAMNetNet(h5spec).eval()
    fe = VGGishLogMel(VGGishLogMelConfig(log_offset=0.001))
    x = load(shared_data / "emodb-originals" / "03a01Wa.wav")
    patch = fe.patches(x[None, :16000])[0]
    ref = tflite_embedding(path, patch).reshape(-1)
    with torch.no_grad():
        got = net(torch.from_numpy(patch[None]))[0].numpy().reshape(-1)
    assert float(got @ ref / np.linalg.norm(got) / np.linalg.norm(ref)) > 0.995
