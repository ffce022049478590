"""Hostile and careless live streams against a real ``segser serve``: bad parameters and frames get an error message
and a close frame that says why, many streams at once all finish, a broken stream fails alone, silence, noise and
4 ms never get an emotion, and a fast ten-minute stream still ends with a decision."""
import asyncio
import json

import httpx
import numpy as np
import pytest

from segser.io.audio import load
from tests.reliability.conftest import GOOD, MAX_RSS_MB, PATH_LEAK, real_noise

pytestmark = pytest.mark.reliability
websockets = pytest.importorskip("websockets")
PCM = (load(GOOD) * 32767).astype("<i2")


@pytest.fixture(autouse=True)
def _bounded(server, record_property):
    yield
    peak = server.peak_rss_mb()
    record_property("peak_rss_mb", round(peak))
    assert peak < MAX_RSS_MB


def frames(x: np.ndarray, size: int = 1600) -> list[bytes]:
    return [x[i:i + size].tobytes() for i in range(0, len(x), size)]


async def session(port, query="", frames=(), end=True, wait=True, ping_interval=20):
    """The messages of one stream, and the close frame's code and reason."""
    out, close = [], (None, "")
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/stream?rate=16000{query}", max_size=None,
                                      ping_interval=ping_interval) as ws:
            out.append(json.loads(await ws.recv()))
            for f in frames:
                await ws.send(f)
            if end:
                await ws.send(json.dumps({"type": "end"}))
            if wait:
                async for m in ws:
                    out.append(json.loads(m))
            close = (ws.close_code, ws.close_reason)
    except websockets.ConnectionClosed as exc:
        close = (exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "")
    return out, close


def run(port, *args, **kwargs):
    return asyncio.run(session(port, *args, **kwargs))


@pytest.mark.parametrize("query", ["&rate=nan", "&rate=0", "&channels=1000", "&format=mp3", "&hop=0", "&speech_gate=nan",
                                   "&min_score=9", "&model=nope", "&adapt=bogus", "&adapt=collection"])
def test_bad_parameters_get_an_error_and_a_close_that_says_why(server, query):
    messages, (code, reason) = run(server.port, query)
    assert messages[-1]["type"] == "error" and not PATH_LEAK.search(json.dumps(messages))
    assert code == 1008 and reason and reason in messages[-1]["detail"]


@pytest.mark.parametrize("probe,sent", [("a frame of an odd byte count", [PCM.tobytes()[:1001]]),
                                        ("an empty frame, text, an unknown message", [b"", "hello", json.dumps({"type": "dance"})])])
def test_malformed_frames_get_an_error(server, probe, sent):
    messages, (code, reason) = run(server.port, frames=sent)
    assert messages[-1]["type"] == "error" and code in (1007, 1008) and reason


def test_thirty_concurrent_streams_all_finish(server):
    async def many():
        return await asyncio.gather(*[session(server.port, frames=frames(PCM, 1600)) for _ in range(30)])

    assert all(m[-1]["type"] == "decision" for m, _ in asyncio.run(many()))


def test_streams_in_step_sharing_the_encoder_fail_alone(server):
    async def in_step():
        good = [session(server.port, frames=frames(PCM, 1600)) for _ in range(7)]
        return await asyncio.gather(session(server.port, frames=[PCM.tobytes()[:3200], PCM.tobytes()[:1001]]), *good)

    results = asyncio.run(in_step())
    assert results[0][0][-1]["type"] == "error" and all(m[-1]["type"] == "decision" for m, _ in results[1:])


def test_a_tail_shorter_than_a_quarter_second_is_no_segment(server):
    tail = np.tile(PCM, 2)[: int(3.1 * 16000)]
    messages, _ = run(server.port, frames=frames(tail, 1600))
    spans = [(s["start"], s["end"]) for s in messages if s.get("type") == "segment"]
    assert messages[-1]["type"] == "decision" and spans and max(e for _, e in spans) <= 3.0
    assert all(e - s >= 0.25 for s, e in spans)


def test_a_client_that_disconnects_frees_its_stream(server):
    import time

    before = httpx.get(f"{server.base}/health").json()["streams"]
    run(server.port, frames=[PCM.tobytes()], end=False, wait=False)
    time.sleep(1.0)
    after = httpx.get(f"{server.base}/health").json()["streams"]
    assert after["open"] == 0 and after["disconnected"] > before["disconnected"]


@pytest.mark.parametrize("probe,pcm", [("10 s of digital silence", np.zeros(160_000, "<i2")),
                                       ("60 s of real noise", (real_noise(60.0) * 32767).astype("<i2")),
                                       ("4 ms of speech", PCM[:64])])
def test_silence_noise_and_4_ms_get_no_emotion_and_no_adaptation(server, probe, pcm):
    messages, _ = run(server.port, "&adapt=speaker", frames=frames(pcm, 3200))
    emotional = [s for s in messages if s.get("type") == "segment" and s["label"] not in ("no speech", "uncertain")]
    assert messages[-1]["type"] == "decision" and not emotional
    assert messages[-1]["adaptation"]["mode"] == "none" and messages[-1]["label"] in ("no speech", None)


def test_one_voice_in_one_mood_is_adapted_without_being_flattened(server):
    voice = np.tile(PCM, 20)
    messages, _ = run(server.port, "&adapt=speaker", frames=frames(voice, 3200))
    segments = [s for s in messages if s.get("type") == "segment"]
    assert len(segments) > 30 and all("adapted_on_s" in s for s in segments) and messages[-1]["type"] == "decision"
    labels = [s["label"] for s in segments if s["label"] != "no speech"]
    assert np.mean([v == "angry" for v in labels]) >= 0.8


def test_a_ten_minute_stream_sent_as_fast_as_possible_ends_with_a_decision(server):
    ten = np.tile(PCM, int(np.ceil(600 * 16000 / len(PCM))))[: 600 * 16000]
    # faster than real time the server falls behind and stops reading (and answering pings) until it catches up:
    # this client, like any tool that sends recordings, waits instead of timing out the keep-alive
    messages, _ = run(server.port, frames=frames(ten, 16000), ping_interval=None)
    assert messages[-1]["type"] == "decision"
