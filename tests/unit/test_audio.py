import os

import numpy as np
import pytest
import soundfile as sf

from segser.errors import AudioError
from segser.io.audio import FileStream, Resampler, load, resample
from tests.conftest import tone, write


def stream_all(path, **kw):
    return np.concatenate(list(FileStream(str(path), 16000, **kw)))


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
    ("huge_floats", "out of range"),
    ("fifo", "not a regular file"),
    ("symlink_loop", "symbolic link loop"),
    ("broken_link", "broken symbolic link"),
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
    elif kind == "huge_floats":
        sf.write(str(p), tone(100, 0.5) * 1e37, 16000, subtype="FLOAT")
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "symlink_loop":
        os.symlink(p, p)
    elif kind == "broken_link":
        os.symlink(tmp_path / "nowhere.wav", p)
    for read in (load, stream_all):
        with pytest.raises(AudioError) as err:
            read(p)
        assert str(p) in str(err.value)
        assert problem.lower() in str(err.value).lower()


def test_int16_scale_floats_are_rescaled_with_a_note(tmp_path):
    x = tone(300, 1.0)
    p = write(tmp_path / "int16scale.wav", x * 32767, subtype="FLOAT")
    np.testing.assert_allclose(load(p), x * 32767 / 32768, atol=1e-6)
    stream = FileStream(str(p), 16000)
    np.testing.assert_allclose(np.concatenate(list(stream)), x * 32767 / 32768, atol=1e-6)
    assert "16-bit integer scale" in "; ".join(stream.notes)


def test_a_non_utf8_file_name_is_read_and_printable(tmp_path):
    p = tmp_path / os.fsdecode(b"caf\xe9.wav")  # Latin-1 byte: not UTF-8
    with open(p, "wb") as f:
        sf.write(f, tone(300, 0.5), 16000, format="WAV")
    assert load(p).size == 8000
    with pytest.raises(AudioError) as err:
        load(tmp_path / os.fsdecode(b"gon\xe9.wav"))
    str(err.value).encode("utf-8")  # printable: the undecodable byte became an escape
    assert "\\xe9" in str(err.value)


def test_multichannel_mixed_to_mono_and_resampled(tmp_path):
    x = tone(440, 1.0, sr=48000)
    p = write(tmp_path / "six.flac", np.stack([x] * 6, axis=1), sr=48000)
    y = load(p, sample_rate=16000)
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(y.size - 16000) <= 1
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / y.size - 440) < 2
    stream = FileStream(str(p), 16000)
    assert "6 channels mixed to mono" in stream.notes


@pytest.mark.parametrize("block_seconds", [0.013, 0.5, 3.0, 30.0])
def test_streamed_blocks_equal_the_whole_file_exactly(tmp_path, block_seconds):
    x = tone(300, 7.3, sr=22050)
    p = write(tmp_path / "long.flac", x, sr=22050)
    np.testing.assert_array_equal(stream_all(p, block_seconds=block_seconds), load(p))


def test_streaming_resampler_is_chunk_invariant():
    x = tone(200, 2.0, sr=44100)
    whole = resample(x, 44100, 16000)
    r = Resampler(44100, 16000)
    sizes = [1, 999, 17, 44100, 7]
    parts, i = [], 0
    for n in sizes:
        parts.append(r(x[i:i + n]))
        i += n
    parts.append(r(x[i:], last=True))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_max_seconds_is_checked_from_the_header(tmp_path):
    from segser.errors import LimitExceeded

    p = write(tmp_path / "long.wav", tone(300, 5.0))
    with pytest.raises(LimitExceeded, match="limit of 2 s"):
        FileStream(str(p), 16000, max_seconds=2)
