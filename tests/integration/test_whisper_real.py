"""Our PyTorch Whisper encoder equals CTranslate2's own Whisper.encode on real speech."""
import numpy as np
import pytest
import torch

from segser.encoders.backbones.whisper import load_encoder
from segser.encoders.features import WhisperLogMel
from segser.io.audio import load
from segser.weights import resolve

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["03a01Wa.wav", "03a02Ta.wav"])
def test_encoder_matches_ctranslate2(shared_data, name):
    ct2 = pytest.importorskip("ctranslate2")
    path = resolve("whisper-tiny.en", download=False)
    x = load(shared_data / "emodb-originals" / name)
    pad = np.zeros(480000, np.float32)
    pad[: x.size] = x
    mel = WhisperLogMel()(pad)[None]
    with torch.no_grad():
        ours = load_encoder(path)(torch.from_numpy(mel))[-1][0].numpy()
    model = ct2.models.Whisper(str(path.parent), device="cpu", compute_type="float32")
    ref = np.array(model.encode(ct2.StorageView.from_array(mel), to_cpu=True))[0]
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert ours.shape == ref.shape == (1500, 384)
    assert cos.min() >= 0.999
