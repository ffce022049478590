"""Google's published float YAMNet (Keras HDF5) read from files the tests write in its layout."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segser.encoders.backbones import create
from segser.encoders.backbones.yamnet import YAMNetNet, _same_pad, read_keras_h5
from tests.conftest import tone, write_keras_yamnet_h5, yamnet_keras_variables

h5py = pytest.importorskip("h5py")


def test_batch_norm_folding_and_layouts_match_keras_semantics(tmp_path):
    v = yamnet_keras_variables()
    spec = read_keras_h5(write_keras_yamnet_h5(tmp_path / "yamnet.h5", v))
    assert len(spec["layers"]) == 27 and [layer["stride"] for layer in spec["layers"]][:5] == [2, 1, 1, 2, 1]
    x = torch.randn(2, 32, 48, 32)
    # layer 2's depthwise conv: Keras kernel [kh, kw, C, 1], BN(center, no scale, eps 1e-4), ReLU
    k = torch.from_numpy(v["layer2/depthwise_conv/depthwise_kernel"])
    ref = F.conv2d(_same_pad(x, 3, 1), k.permute(2, 3, 0, 1), groups=32)
    ref = F.batch_norm(ref, torch.from_numpy(v["layer2/depthwise_conv/bn/moving_mean"]),
                       torch.from_numpy(v["layer2/depthwise_conv/bn/moving_variance"]),
                       bias=torch.from_numpy(v["layer2/depthwise_conv/bn/beta"]), eps=1e-4)
    layer = spec["layers"][1]
    got = F.conv2d(_same_pad(x, 3, 1), layer["weight"], layer["bias"], groups=layer["groups"])
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    # a pointwise conv is a matrix product over channels with the [1, 1, in, out] kernel
    k = v["layer2/pointwise_conv/kernel"][0, 0]
    pw = spec["layers"][2]
    ref = np.einsum("bchw,co->bohw", x.numpy(), k)
    m, var, beta = (v[f"layer2/pointwise_conv/bn/{n}"] for n in ("moving_mean", "moving_variance", "beta"))
    ref = (ref - m[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-4) + beta[None, :, None, None]
    np.testing.assert_allclose(F.conv2d(x, pw["weight"], pw["bias"]).numpy(), ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(spec["fc"]["weight"], torch.from_numpy(v["dense/kernel"].T))


def test_float_release_loads_through_the_resolver_and_embeds(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSER_YAMNET_H5", str(write_keras_yamnet_h5(tmp_path / "yamnet.h5", yamnet_keras_variables())))
    bb = create("yamnet", release="google-h5")
    assert bb.describe()["release"] == "google-h5"
    emb = bb.embed(tone(440, 2.0), [(0.0, 1.0), (1.0, 2.0)])
    assert emb.shape == (2, 1024) and np.isfinite(emb).all() and emb.std() > 0
    with pytest.raises(ValueError, match="int8"):
        YAMNetNet(read_keras_h5(tmp_path / "yamnet.h5"), emulate_int8=True)


def test_wrong_files_are_clear_errors(tmp_path):
    v = yamnet_keras_variables()
    del v["layer7/pointwise_conv/kernel"]
    with pytest.raises(ValueError, match="no layer7/pointwise_conv/kernel"):
        read_keras_h5(write_keras_yamnet_h5(tmp_path / "partial.h5", v))
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5: not an HDF5 file"):
        read_keras_h5(tmp_path / "text.h5")
    with pytest.raises(ValueError, match="yamnet release must be one of coral-int8, google-h5"):
        create("yamnet", release="tfhub")
