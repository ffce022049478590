import numpy as np
import pytest
import soundfile as sf

from segser.audio import AudioError, blocks, load
from tests.conftest import tone, write


@pytest.mark.parametrize("kind,problem", [
    ("missing", "does not exist"),
    ("empty", "empty file"),
    ("text", "not audio"),
    ("zero_frames", "no audio samples"),
    ("nan", "NaN"),
    ("silence", "silence"),
    ("directory", "directory"),
    ("low_rate", "below"),
    ("too_short", "too short (50 ms"),
])
def test_bad_files_name_file_and_problem(tmp_path, kind, problem):
    p = tmp_path / f"bad_{kind}.wav"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not a wave file at all\n" * 10)
    elif kind == "zero_frames":
        sf.write(str(p), np.zeros(0, np.float32), 16000)
    elif kind == "nan":
        x = tone(440, 0.5)
        x[100] = np.nan
        sf.write(str(p), x, 16000, subtype="FLOAT")
    elif kind == "silence":
        sf.write(str(p), np.zeros(16000, np.float32), 16000)
    elif kind == "directory":
        p.mkdir()
    elif kind == "low_rate":
        sf.write(str(p), tone(100, 0.5, sr=4000), 4000)
    elif kind == "too_short":
        sf.write(str(p), tone(100, 0.05), 16000)
    for read in (load, lambda f: list(blocks(f, sample_rate=16000, block_seconds=30.0))):
        with pytest.raises(AudioError) as err:
            read(p)
        assert str(p) in str(err.value)
        assert problem.lower() in str(err.value).lower()


def test_multichannel_mixed_to_mono_and_resampled(tmp_path):
    x = tone(440, 1.0, sr=48000)
    stereo = np.stack([x, x, x, x, x, x], axis=1)
    p = write(tmp_path / "six.flac", stereo, sr=48000)
    y = load(p, sample_rate=16000)
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(y.size - 16000) <= 1
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / y.size - 440) < 2


def test_blocks_cover_file_with_overlap(tmp_path):
    x = tone(300, 10.0)
    p = write(tmp_path / "long.wav", x)
    got = list(blocks(p, sample_rate=16000, block_seconds=3.0, overlap_seconds=1.0))
    starts = [s for s, _ in got]
    assert starts == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert all(b.size <= 48000 for _, b in got)
    np.testing.assert_allclose(got[1][1][:100], x[32000:32100], atol=1e-4)
