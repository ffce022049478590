"""VGGish: architecture of paper 001 Table 2, loaded from a checkpoint the test
writes in torchvggish's published state-dict format."""
import numpy as np
import pytest
import torch
from torch import nn

from segser.encoders.backbones import create
from segser.encoders.backbones.vggish import VGGishNet


class TorchVGGishLike(nn.Module):
    """Re-statement of torchvggish's VGG module (same key names and flatten order)."""

    def __init__(self):
        super().__init__()
        cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]
        layers, c = [], 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, 128), nn.ReLU(True))

    def forward(self, x):  # x: (batch, 1, 96, 64)
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2).contiguous()
        return self.embeddings(x.view(x.size(0), -1))


def test_parameter_count_and_shapes():
    net = VGGishNet()
    n = sum(p.numel() for p in net.parameters())
    assert 72.0e6 < n < 72.3e6
    assert net(torch.zeros(2, 96, 64)).shape == (2, 128)


def test_loader_reproduces_saved_model(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ref = TorchVGGishLike().eval()
    for m in ref.modules():  # make outputs non-trivial (ReLU would zero most with default init)
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, std=0.05)
            nn.init.uniform_(m.bias, 0.0, 0.05)
    path = tmp_path / "vggish-test.pth"
    torch.save(ref.state_dict(), path)
    monkeypatch.setenv("SEGSER_VGGISH_WEIGHTS", str(path))
    bb = create("vggish")
    x = torch.randn(3, 96, 64)
    ref = ref.to(memory_format=torch.channels_last)  # the backbone runs channels-last: the same kernels, so the same sums
    with torch.no_grad():
        expected = ref(x.unsqueeze(1))
        got = bb(x)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    emb = bb.embed(np.random.default_rng(0).standard_normal(40000).astype(np.float32) * 0.1,
                   [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)])
    assert emb.shape == (3, 128)


def test_pca_postprocessor(tmp_path, monkeypatch):
    torch.manual_seed(0)
    torch.save(TorchVGGishLike().state_dict(), tmp_path / "w.pth")
    eig = torch.linalg.qr(torch.randn(128, 128))[0]
    means = torch.randn(128, 1)
    torch.save({"pca_eigen_vectors": eig, "pca_means": means}, tmp_path / "pca.pth")
    monkeypatch.setenv("SEGSER_VGGISH_WEIGHTS", str(tmp_path / "w.pth"))
    bb = create("vggish", pca=True, pca_weights=str(tmp_path / "pca.pth"))
    x = torch.randn(2, 96, 64)
    with torch.no_grad():
        raw = bb.net(x)
        out = bb(x)
    expected = ((raw - means.T) @ eig.T).clamp(-2, 2)
    torch.testing.assert_close(out, expected)


def test_not_a_vggish_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    torch.save({"foo": torch.zeros(1)}, tmp_path / "bad.pth")
    monkeypatch.setenv("SEGSER_VGGISH_WEIGHTS", str(tmp_path / "bad.pth"))
    with pytest.raises(ValueError, match="not a torchvggish state dict"):
        create("vggish")
