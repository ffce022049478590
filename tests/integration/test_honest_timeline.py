"""The timeline never gives a confident emotion to silence, noise or a few milliseconds of audio
(issue 21): real recordings from ../shared through the built-in models and the command line."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from segser import predict
from segser.io.audio import find_audio, load
from segser.results.timeline import NO_SPEECH
from segser.segmentation.windows import MIN_TAIL

pytestmark = pytest.mark.integration


def test_the_silent_opening_of_a_real_conversation_reads_no_speech(shared_data):
    timeline, decisions, errors = predict([shared_data / "conversation" / "sample.wav"], "default", adapt="none")
    assert not errors
    first = timeline[timeline.index.get_level_values("end") <= 6.0]
    assert len(first) == 6 and set(first["label"]) == {NO_SPEECH} and first["score"].isna().all()
    later = timeline[timeline.index.get_level_values("start") >= 7.0]
    assert (later["label"] != NO_SPEECH).mean() > 0.8  # the turns that follow are speech
    assert decisions.iloc[0]["n_speech"] < decisions.iloc[0]["n_segments"]


def test_real_noise_and_full_scale_random_noise_get_no_emotion(shared_data, tmp_path):
    noises = find_audio(shared_data / "noise" / "test")[::10]
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "white.wav", rng.uniform(-1, 1, 16000 * 5).astype(np.float32), 16000)
    timeline, decisions, errors = predict([*noises, tmp_path / "white.wav"], "default-4class", adapt="none")
    assert not errors
    spoken = timeline[timeline["label"] != NO_SPEECH]
    assert len(spoken) <= 0.05 * len(timeline)  # Silero VAD hears speech in almost none of the noise
    assert (decisions["label"] == NO_SPEECH).mean() >= 0.9
    assert decisions.loc[str(tmp_path / "white.wav"), "label"] == NO_SPEECH


def test_no_segment_holds_less_real_audio_than_the_tail_minimum(shared_data, tmp_path):
    x = load(shared_data / "emodb-originals" / "03a01Wa.wav")
    x = np.concatenate([x, x[: int(16000 * 3.004) - len(x)]])  # 3.004 s: a 4 ms tail after three whole windows
    sf.write(tmp_path / "tail.wav", x, 16000)
    timeline, decisions, _ = predict([tmp_path / "tail.wav"], "default", adapt="none")
    spans = list(zip(timeline.index.get_level_values("start"), timeline.index.get_level_values("end")))
    assert spans[-1] == (2.0, 3.004) and len(spans) == 3  # the 4 ms joined the segment before it
    assert all(e - s >= MIN_TAIL for s, e in spans)


def test_a_few_milliseconds_are_refused_with_a_clear_message(tmp_path):
    sf.write(tmp_path / "blip.wav", (0.3 * np.sin(np.arange(64) / 3)).astype(np.float32), 16000)
    out = subprocess.run([sys.executable, "-m", "segser.cli", "predict", str(tmp_path / "blip.wav")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "blip.wav: too short (4 ms" in out.stderr and "Traceback" not in out.stderr


def test_progress_goes_nowhere_when_stderr_is_a_file(shared_data, tmp_path):
    with open(tmp_path / "err.txt", "w") as err:
        out = subprocess.run([sys.executable, "-m", "segser.cli", "predict", str(shared_data / "emodb-originals")],
                             stdout=subprocess.DEVNULL, stderr=err, timeout=600)
    assert out.returncode == 0
    assert "\r" not in (tmp_path / "err.txt").read_text()
