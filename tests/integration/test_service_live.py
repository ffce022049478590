"""The service on a real uvicorn server: a client that disconnects stops its
work; /health and short requests are not held up by long recordings."""
import io
import socket
import threading
import time
import uuid

import pytest
import soundfile as sf

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from segser.serving.service import create_app  # noqa: E402
from tests.conftest import serve_in_thread, tone  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    for port in serve_in_thread(create_app(["default"], max_audio_s=1200)):
        yield f"http://127.0.0.1:{port}", port


def flac(seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(180, seconds, amp=0.2), 16000, format="FLAC")
    return buf.getvalue()


def health(base):
    return httpx.get(f"{base}/health", timeout=30).json()["predictions"]


def wait_for(condition, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_client_that_disconnects_stops_its_work(server):
    base, port = server
    before = health(base)
    body = flac(600.0)
    boundary = uuid.uuid4().hex
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"long.flac\"\r\n"
               f"Content-Type: audio/flac\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                 f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    assert wait_for(lambda: health(base)["running"] == 1)
    sock.close()
    assert wait_for(lambda: health(base)["cancelled"] == before["cancelled"] + 1)
    after = health(base)
    assert after["running"] == 0 and after["done"] == before["done"]


def test_health_and_a_short_request_are_not_held_up_by_long_recordings(server, shared_data):
    base, _ = server
    finished = []

    def post(name, data):
        r = httpx.post(f"{base}/predict", files={"file": (name, data)}, timeout=300)
        finished.append((name, r.status_code))

    longs = [threading.Thread(target=post, args=(f"long{i}.flac", flac(300.0))) for i in range(3)]
    for t in longs:
        t.start()
    assert wait_for(lambda: health(base)["running"] >= 3)
    post("short.wav", (shared_data / "emodb-originals" / "03a01Wa.wav").read_bytes())
    assert finished[0] == ("short.wav", 200)  # answered while the long recordings were still running
    for t in longs:
        t.join()
    assert sorted(finished) == sorted([("short.wav", 200)] + [(f"long{i}.flac", 200) for i in range(3)])
