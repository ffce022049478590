import numpy as np
import pytest

from segser.training.augment import NoiseBank, active_noise, active_power, mix_at_snr
from tests.conftest import tone, write


@pytest.mark.parametrize("snr", [-5.0, 0.0, 15.0, 20.0, 40.0])
def test_mixture_has_the_requested_snr(snr):
    rng = np.random.default_rng(0)
    speech = np.concatenate([np.zeros(8000), tone(220, 1.0), np.zeros(8000)]).astype(np.float32)  # pauses
    noise = rng.standard_normal(speech.size).astype(np.float32)
    y = mix_at_snr(speech, noise, snr, normalise=False)
    added = y - speech
    measured = 10 * np.log10(active_power(speech) / np.mean(added ** 2))
    assert abs(measured - snr) < 0.1
    # speech power over active speech only: the pauses do not dilute it
    assert active_power(speech) == pytest.approx(np.mean(speech[8000:24000] ** 2), rel=0.02)


def test_infinity_norm_normalisation():
    rng = np.random.default_rng(1)
    y = mix_at_snr(tone(300, 1.0), rng.standard_normal(16000).astype(np.float32), 10.0)
    assert np.max(np.abs(y)) == pytest.approx(1.0)


def test_silent_stretches_of_noise_are_never_used(tmp_path):
    rng = np.random.default_rng(2)
    event = np.zeros(48000, np.float32)
    event[20000:24000] = rng.standard_normal(4000) * 0.3  # a short event in zero padding
    write(tmp_path / "train" / "dog" / "bark.wav", event)
    assert active_noise(event).size == 4000
    bank = NoiseBank.from_dir(tmp_path, split="train")
    for seed in range(5):
        chunk, _ = bank.excerpt(16000, np.random.default_rng(seed))
        frames = chunk[: 16000 // 400 * 400].reshape(-1, 400)
        assert (np.mean(frames ** 2, axis=1) > 1e-4).all()


def test_same_seed_same_mixture_and_split_isolation(tmp_path):
    write(tmp_path / "train" / "a" / "n1.wav", tone(1000, 2.0, seed=1))
    write(tmp_path / "test" / "a" / "n2.wav", tone(3000, 2.0, seed=2))
    speech = tone(200, 1.0)
    train, test = NoiseBank.from_dir(tmp_path, split="train"), NoiseBank.from_dir(tmp_path, split="test")
    assert all("train" in str(f) for f in train.files) and all("test" in str(f) for f in test.files)
    a = train.mix(speech, 10, np.random.default_rng(7))
    b = train.mix(speech, 10, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
