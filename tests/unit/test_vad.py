"""Silero VAD in numpy (batched front end, stepped LSTM) against the model file run by onnxruntime."""
import numpy as np
import pytest

from segser.errors import ModelError
from segser.io.audio import load
from segser.segmentation.vad import VAD_CONTEXT, VAD_WINDOW, SileroVAD, silero_weights
from segser.weights import resolve


def onnx_probabilities(x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(resolve("silero-vad")), providers=["CPUExecutionProvider"])
    state, context, out = np.zeros((2, 1, 128), np.float32), np.zeros(VAD_CONTEXT, np.float32), []
    for i in range(x.size // VAD_WINDOW):
        w = x[i * VAD_WINDOW:(i + 1) * VAD_WINDOW]
        p, state = session.run(None, {"input": np.concatenate([context, w])[None], "state": state,
                                      "sr": np.array(16000, np.int64)})
        context = w[-VAD_CONTEXT:]
        out.append(p[0, 0])
    return np.array(out)


def test_numpy_vad_equals_the_onnx_model_on_a_real_conversation(shared_data):
    x = load(shared_data / "conversation" / "sample.wav")[: 16000 * 12]
    reference = onnx_probabilities(x)
    vad, got, rng, i = SileroVAD(), [], np.random.default_rng(0), 0
    while i < reference.size:  # pushed in uneven whole-window chunks, as a stream would
        k = int(rng.integers(1, 60))
        got.append(vad.probabilities(x[i * VAD_WINDOW:(i + k) * VAD_WINDOW]))
        i += k
    got = np.concatenate(got)
    assert got.shape == reference.shape
    np.testing.assert_allclose(got, reference, atol=2e-5)
    assert ((got >= 0.5) == (reference >= 0.5)).all()
    assert 0.3 < (got >= 0.5).mean() < 0.95  # the recording has both speech and pauses


def test_the_fft_front_end_equals_the_models_own_basis(shared_data):
    x = load(shared_data / "conversation" / "sample.wav")[: 16000 * 6]
    fast, basis = SileroVAD(), SileroVAD()
    assert fast.window is not None  # the shipped model's basis is a Hann-windowed DFT
    basis.window = None  # what a model with another basis runs: its matrix product
    np.testing.assert_allclose(fast.probabilities(x), basis.probabilities(x), atol=1e-5)


def test_a_file_that_is_not_silero_is_a_clear_error(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match="other.onnx: not a Silero VAD"):
        silero_weights(str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match="missing.onnx: no Silero VAD model there"):
        silero_weights(str(tmp_path / "missing.onnx"))
