"""What one request, one stream or one run may take, and what it says when it is refused: the service admits a
bounded number of uploads (then 503 with Retry-After), ``listen`` on empty input fails, a TextGrid of a failed
input is not written, a Ray run names its failed files, and voices are counted the same however long the
recording."""
import subprocess
import sys
import threading

import httpx
import numpy as np
import pytest
import soundfile as sf

from segser.cli import main
from segser.diarization.turns import find_turns
from segser.io.audio import load
from tests.conftest import serve_in_thread

pytestmark = pytest.mark.integration


def test_the_service_admits_a_bounded_number_of_uploads(shared_data, tmp_path):
    from segser.serving.service import create_app

    x = load(shared_data / "conversation" / "sample.wav")
    sf.write(tmp_path / "long.wav", np.tile(x, 8), 16000)  # 4 minutes: in work for a few seconds
    body = (tmp_path / "long.wav").read_bytes()
    port_gen = serve_in_thread(create_app(["default"], max_active=1, max_waiting=1, max_audio_s=600))
    port = next(port_gen)
    try:
        answers = []

        def post():
            r = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("long.wav", body)}, timeout=300)
            answers.append((r.status_code, r.headers.get("retry-after"), r.json()))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        codes = sorted(a[0] for a in answers)
        assert codes.count(200) >= 2 and codes.count(503) >= 1, codes  # one in work, one waiting, the rest refused
        busy = next(a for a in answers if a[0] == 503)
        assert busy[1] == "10" and "busy" in busy[2]["detail"]
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["predictions"]["refused_busy"] >= 1 and health["predictions"]["running"] == 0
    finally:
        next(port_gen, None)


def test_listen_on_empty_input_fails_with_a_message():
    out = subprocess.run([sys.executable, "-m", "segser.cli", "listen", "--stdin"], input=b"", capture_output=True)
    assert out.returncode == 1 and b"no segment" in out.stderr


def test_a_textgrid_of_a_failed_input_is_not_written_and_the_failure_is_said_once(tmp_path, capsys):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert main(["predict", str(tmp_path / "empty.wav"), "--out", str(tmp_path / "r.TextGrid")]) == 1
    err = capsys.readouterr().err
    assert err.count("empty.wav: empty file") == 1 and "r.TextGrid not written" in err
    assert not (tmp_path / "r.TextGrid").exists()


def test_a_ray_run_names_its_failed_files_on_the_console(shared_data, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.wav").write_bytes(b"RIFF not audio at all")
    good = shared_data / "emodb-originals" / "03a01Wa.wav"
    (tmp_path / "in" / "good.wav").write_bytes(good.read_bytes())
    out = subprocess.run([sys.executable, "-m", "segser.cli", "predict", str(tmp_path / "in"), "--ray", "--workers", "1",
                          "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    assert "bad.wav: unreadable or not audio" in out.stderr and "1 failed" in out.stderr
    assert "site-packages" not in out.stderr and "Warning" not in out.stderr, out.stderr[-2000:]


def test_the_same_two_voices_repeated_stay_two_voices(shared_data, tmp_path):
    x = load(shared_data / "conversation" / "sample.wav")
    assert len(find_turns(x).speakers) == 2
    assert len(find_turns(np.tile(x, 20)).speakers) == 2  # 10 minutes of the same call
