import numpy as np
import pytest

from segser.encoders.features import VGGishLogMel, WhisperLogMel
from tests.conftest import tone


def reference_vggish_logmel(x, sr=16000):
    """Written from the paper/VGGish description, independently of segser."""
    win, hop, nfft = 400, 160, 512
    w = np.array([0.5 * (1 - np.cos(2 * np.pi * k / win)) for k in range(win)])  # eq. (1) of paper 001
    frames = [x[i:i + win] for i in range(0, len(x) - win + 1, hop)]
    mags = np.array([np.abs(np.fft.fft(f * w, nfft))[: nfft // 2 + 1] for f in frames])
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # HTK mel, log10 form
    freqs = np.arange(nfft // 2 + 1) * sr / nfft
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    weights = np.zeros((nfft // 2 + 1, 64))
    for b in range(64):
        lo, c, hi = edges[b], edges[b + 1], edges[b + 2]
        for k, f in enumerate(freqs):
            if k == 0:
                continue
            m = mel(f)
            if lo < m <= c:
                weights[k, b] = (m - lo) / (c - lo)
            elif c < m < hi:
                weights[k, b] = (hi - m) / (hi - c)
    return np.log(mags @ weights + 0.01)


def test_vggish_logmel_matches_independent_computation():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    ours = VGGishLogMel()(x)
    ref = reference_vggish_logmel(x.astype(np.float64))
    assert ours.shape == ref.shape == (98, 64)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_vggish_patch_shape_per_segment():
    segs = np.stack([tone(440, 1.0), tone(880, 1.0), tone(220, 0.5).tolist() + [0.0] * 8000])
    assert VGGishLogMel().patches(segs.astype(np.float32)).shape == (3, 96, 64)


@pytest.mark.parametrize("freq", [250.0, 1000.0, 3000.0, 6000.0])
def test_pure_tone_lands_in_its_mel_band(freq):
    fe = VGGishLogMel()
    logmel = fe(tone(freq, 1.0, amp=0.5))
    band = int(np.argmax(logmel.mean(axis=0)))
    # centre frequency of each band on the HTK scale
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)
    inv = lambda m: 700.0 * (np.exp(m / 1127.0) - 1)
    centers = inv(np.linspace(mel(125), mel(7500), 66)[1:-1])
    assert abs(band - int(np.argmin(np.abs(centers - freq)))) <= 1


def test_whisper_logmel_matches_librosa_reference():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    ours = WhisperLogMel()(x)
    stft = librosa.stft(x, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    power = np.abs(stft[:, :-1]) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ power
    ref = np.log10(np.maximum(mel, 1e-10))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    assert ours.shape == ref.shape == (80, 150)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mfcc40_matches_librosa_on_dc_free_frames():
    librosa = pytest.importorskip("librosa")
    from segser.encoders.features.mfcc import MFCC

    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    ours = MFCC()(x)
    frames = librosa.util.frame(x, frame_length=400, hop_length=160).T.astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)  # Kaldi's DC removal, done by hand here
    power = np.abs(np.fft.rfft(frames * np.hamming(400), 512)) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20, fmax=7600, htk=True, norm=None)
    ref = librosa.feature.mfcc(S=np.log(np.maximum(mel @ power.T, 1e-10)), n_mfcc=40, dct_type=2, norm="ortho").T
    assert ours.shape == ref.shape == (98, 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=2e-2)
