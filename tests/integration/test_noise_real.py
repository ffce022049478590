import numpy as np
import pytest

from segser.io.audio import load
from segser.training.augment import NoiseBank, active_power, mix_at_snr

pytestmark = pytest.mark.integration


def test_real_noise_splits_are_disjoint_and_mix_is_exact(shared_data):
    train = NoiseBank.from_dir(shared_data / "noise", split="train")
    test = NoiseBank.from_dir(shared_data / "noise", split="test")
    assert len(train.files) == 332 and len(test.files) == 94
    assert not set(train.files) & set(test.files)
    assert all("/train/" in str(f) for f in train.files) and all("/test/" in str(f) for f in test.files)
    speech = load(shared_data / "emodb-originals" / "03a01Wa.wav")
    rng = np.random.default_rng(0)
    for snr in (15.0, 20.0, 40.0):
        noise, path = test.excerpt(speech.size, rng)
        assert "/test/" in path
        y = mix_at_snr(speech, noise, snr, normalise=False)
        measured = 10 * np.log10(active_power(speech) / np.mean((y - speech) ** 2))
        assert abs(measured - snr) < 0.1


def test_zero_padded_event_noise_never_yields_silence(shared_data):
    events = [f for f in NoiseBank.from_dir(shared_data / "noise", split="train").files if "sneeze" in str(f) or "dog" in str(f)]
    assert events
    bank = NoiseBank(events)
    for seed in range(10):
        chunk, _ = bank.excerpt(16000, np.random.default_rng(seed))
        frames = chunk.reshape(-1, 400)
        assert (np.mean(frames ** 2, axis=1) > 1e-8).all()
