"""The /stream WebSocket on a real uvicorn server: a real recording's timeline
equals predict's; 8 concurrent streams; a client that disconnects frees its
stream; malformed frames get an error message and a clean close."""
import asyncio
import json
import time

import numpy as np
import pytest
import soundfile as sf

uvicorn = pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")
httpx = pytest.importorskip("httpx")

from segser import predict  # noqa: E402
from segser.serving.service import create_app  # noqa: E402
from tests.conftest import serve_in_thread  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    yield from serve_in_thread(create_app(["default"]))


def pcm(path, fmt="s16le"):
    x, sr = sf.read(str(path), dtype="int16" if fmt == "s16le" else "float32")
    return x.tobytes(), sr


async def run_stream(port, data: bytes, rate: int, *, fmt="s16le", chunk=3200, query=""):
    messages = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream?rate={rate}&format={fmt}{query}") as ws:
        messages.append(json.loads(await ws.recv()))
        try:
            for i in range(0, len(data), chunk):
                await ws.send(data[i:i + chunk])
            await ws.send(json.dumps({"type": "end"}))
        except websockets.ConnectionClosed:
            pass
        try:
            async for m in ws:
                messages.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass
    return messages


def health(port):
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).json()


def test_stream_of_a_real_recording_equals_predict(server, shared_data):
    path = shared_data / "emodb-originals" / "03a02Ta.wav"
    data, sr = pcm(path)
    messages = asyncio.run(run_stream(server, data, sr, chunk=1233))  # an odd byte count is not whole 16-bit samples
    assert messages[-1]["type"] == "error" and "not whole s16le samples" in messages[-1]["detail"]
    messages = asyncio.run(run_stream(server, data, sr, chunk=3200))
    assert messages[0]["type"] == "ready" and messages[-1]["type"] == "decision"
    segments = [m for m in messages if m["type"] == "segment"]
    timeline, decisions, _ = predict([path], "default", adapt="none")
    assert [(m["start"], m["end"], m["label"]) for m in segments] == [(s, e, lab) for (_, s, e), lab in
                                                                      zip(timeline.index, timeline["label"])]
    assert messages[-1]["label"] == decisions.iloc[0]["label"] == "sad"


def test_eight_concurrent_streams(server, shared_data):
    files = sorted((shared_data / "emodb-originals").glob("*.wav"))[:4] * 2

    async def all_streams():
        return await asyncio.gather(*[run_stream(server, *pcm(f, "f32le"), fmt="f32le", chunk=6400) for f in files])

    results = asyncio.run(all_streams())
    for f, messages in zip(files, results):
        _, decisions, _ = predict([f], "default", adapt="none")
        assert messages[-1]["type"] == "decision" and messages[-1]["label"] == decisions.iloc[0]["label"]
    assert health(server)["streams"]["open"] == 0


def test_a_client_that_disconnects_frees_its_stream(server, shared_data):
    before = health(server)["streams"]

    async def go():
        data, sr = pcm(shared_data / "emodb-originals" / "03a01Wa.wav")
        ws = await websockets.connect(f"ws://127.0.0.1:{server}/stream?rate={sr}")
        await ws.recv()
        await ws.send(data[:16000])
        await asyncio.sleep(0.3)
        assert health(server)["streams"]["open"] == 1
        ws.transport.abort()  # vanish without a close handshake

    asyncio.run(go())
    for _ in range(100):
        after = health(server)["streams"]
        if after["open"] == 0:
            break
        time.sleep(0.1)
    assert after["open"] == 0 and after["disconnected"] == before["disconnected"] + 1


@pytest.mark.parametrize("query,frames,needle", [
    ("", [b"\x00\x01\x02"], "not whole s16le samples"),
    ("&format=f32le", [np.full(400, np.nan, np.float32).tobytes()], "NaN"),
    ("&format=f32le", [np.full(400, 1e30, np.float32).tobytes()], "out of range"),
    ("", ["not json"], "must be JSON"),
    ("", [json.dumps({"type": "pause"})], "unknown message"),
    ("&format=mp3", [], "format must be"),
    ("&rate=0", [], "sample rate"),
    ("&hop=nan", [], "segment hop"),
    ("&model=nope", [], "not served here"),
    ("&adapt=bogus", [], "adapt must be one of"),
])
def test_malformed_input_gets_an_error_and_a_clean_close(server, query, frames, needle):
    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{server}/stream?rate=16000{query}") as ws:
            first = json.loads(await ws.recv())
            if first["type"] == "ready":
                for f in frames:
                    await ws.send(f)
                first = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return first, closed.value.rcvd.code, closed.value.rcvd.reason

    message, code, reason = asyncio.run(go())
    assert message["type"] == "error" and needle in message["detail"] and code in (1007, 1008)
    assert reason and needle in reason  # the close frame says why too (clients that read only the close)
    assert health(server)["status"] == "ok"  # the server is fine


def test_streams_share_the_encoder_and_each_gets_its_own_windows(shared_data):
    """SharedWindows encodes the windows that concurrent streams ask for in one call: each caller gets exactly its
    own frames back (as from the encoder alone), and a bad call fails for its callers without stopping the rest."""
    from concurrent.futures import ThreadPoolExecutor

    from segser.io.audio import load
    from segser.model import load_model
    from segser.serving.service import SharedWindows

    encoder = load_model("live-4class").encoder
    x = np.concatenate([load(f) for f in sorted((shared_data / "emodb").glob("*.flac"))[:20]])
    win = int(encoder.window_seconds * encoder.sample_rate)
    windows = [x[i * win:(i + 1) * win][None] for i in range(x.size // win)]
    assert len(windows) >= 5
    alone = [encoder.encode_windows(w) for w in windows]
    shared = SharedWindows(encoder, max_windows=8)
    with ThreadPoolExecutor(len(windows)) as pool:
        together = list(pool.map(shared.encode_windows, windows))
    for a, b in zip(alone, together):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError):  # the encoder's own error, raised in the caller's thread
        shared.encode_windows(np.zeros((1, 3, 3, 3), np.float32))
    assert np.allclose(shared.encode_windows(windows[0]), alone[0], atol=1e-4)
