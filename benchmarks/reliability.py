"""Replays the hostile and careless probes of the hardening issue against a real
`segser serve` (uvicorn, in its own process) and the command line, and prints
a pass/fail table with the server's peak RSS. Pass means: the expected status,
no HTTP 500, no traceback, no server path in an answer, every probe under 1 GB.

    python benchmarks/reliability.py
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, save, wait_for_health  # noqa: E402

from segser.adaptation.heads import ADAPTATION_HEADS_FILE, AdaptationHeads  # noqa: E402
from segser.model import resolve_model_dir  # noqa: E402
from segser.settings import data_dir  # noqa: E402

GOOD = data_dir() / "emodb-originals" / "03a01Wa.wav"
PATH_LEAK = re.compile(r"(/tmp/|/root/|/home/|/work/|segser-[a-z0-9_]{6,})")


def tone(seconds, amp=0.2, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def speech(seconds: float) -> np.ndarray:
    """A real EmoDB utterance repeated to ``seconds``."""
    x = load_pcm(GOOD)
    return np.tile(x, int(np.ceil(seconds * 16000 / x.size)))[: int(seconds * 16000)]


def audio_bytes(x, fmt="WAV", subtype=None, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def server_pid(time_pid: int) -> int:
    """The server's own process: the child of GNU time."""
    for _ in range(100):
        children = Path(f"/proc/{time_pid}/task/{time_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Table:
    def __init__(self):
        self.rows = []

    def add(self, probe, expected, got, ok, rss=None):
        self.rows.append({"probe": probe, "expected": expected, "got": got, "pass": bool(ok),
                          "peak_rss_mb": None if rss is None else round(rss)})
        print(f"{'PASS' if ok else 'FAIL'}  {probe:<58} expected {expected:<22} got {got}"
              + (f"  ({rss:.0f} MB)" if rss is not None else ""), flush=True)


# GET the URL every 50 ms until a line arrives on stdin; print each answer's milliseconds (30000: no answer)
HEALTH_POLLER = """
import sys, threading, time, httpx
url, stop, out = sys.argv[1], threading.Event(), []
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
while not stop.is_set():
    t0 = time.perf_counter()
    try:
        httpx.get(url, timeout=30)
        out.append(1000 * (time.perf_counter() - t0))
    except httpx.HTTPError:
        out.append(30000.0)
    time.sleep(0.05)
print(" ".join(f"{v:.1f}" for v in out))
"""


def service_probes(t: Table, base: str, port: int, pid: int):
    def post(name, data, query="", timeout=120):
        r = httpx.post(f"{base}/predict{query}", files={"file": (name, data)}, timeout=timeout)
        leak = bool(PATH_LEAK.search(r.text))
        return r.status_code, leak

    def check(probe, expect, name, data, query=""):
        status, leak = post(name, data, query)
        t.add(probe, f"HTTP {expect}", f"HTTP {status}{' + PATH LEAK' if leak else ''}",
              status == expect and not leak, peak_rss_mb(pid))

    wav = audio_bytes(tone(2.0))
    for q in ("?hop=0.000001", "?hop=1e-9", "?hop=nan", "?segment=nan", "?segment=0", "?segment=-1", "?hop=0", "?hop=inf"):
        check(f"POST /predict{q}", 422, "a.wav", wav, q)
    check("real EmoDB file", 200, "03a01Wa.wav", GOOD.read_bytes())
    check("float WAV with samples near 1e37", 400, "huge.wav", audio_bytes(tone(1.0) * 1e37, subtype="FLOAT"))
    check("float WAV at int16 scale (rescaled, with a note)", 200, "scaled.wav", audio_bytes(tone(1.0) * 32767, subtype="FLOAT"))
    check("188 KB FLAC holding 1 h of audio", 413, "hour.flac", audio_bytes(tone(3600.0, amp=0.01), fmt="FLAC"))
    for name in ("..", ".", "a/..", "x" * 300 + ".wav"):
        check(f"upload name {name[:20]!r}{'...' if len(name) > 20 else ''}", 400, name, b"not audio" * 20)

    # a 1000 MB body announced by Content-Length: refused before it is read
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 1048576000\r\n\r\n" + b"\0" * 65536)
        head = sock.recv(200).decode(errors="replace")
    t.add("1000 MB body (Content-Length)", "HTTP 413", head.split("\r\n")[0][9:], " 413 " in head, peak_rss_mb(pid))

    # the same without Content-Length (chunked): refused once the limit is passed
    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\r\n"
        for _ in range(1000):
            yield b"\0" * (1 << 20)

    t0 = time.perf_counter()
    try:
        r = httpx.post(f"{base}/predict", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"},
                       timeout=120)
        got = r.status_code
    except httpx.HTTPError as exc:  # the server may close while the client still sends
        got = type(exc).__name__
    answered = time.perf_counter() - t0
    # the service spools uploads in tempfile.TemporaryDirectory(prefix="segser-") directly under the temp dir
    tmp_big = sum(f.stat().st_size for d in Path(tempfile.gettempdir()).glob("segser-*") for f in d.rglob("*") if f.is_file())
    t.add("1000 MB chunked body", "HTTP 413", f"{got}, {tmp_big / 1e6:.0f} MB left in temp", got == 413 and tmp_big < 250e6,
          peak_rss_mb(pid))
    t.add("  ... answered before the body is read", "< 2 s", f"{answered:.1f} s", answered < 2.0, peak_rss_mb(pid))

    # /health and a short request while 8 long recordings are being predicted
    # real speech, not tones: what holds no speech is not encoded, so a tone of any length is done in a moment
    long = audio_bytes(speech(300.0), fmt="FLAC")
    done = []
    threads = [threading.Thread(target=lambda i=i: done.append(post(f"long{i}.flac", long, timeout=600))) for i in range(8)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    t0 = time.perf_counter()
    httpx.get(f"{base}/health", timeout=60)
    health_s = time.perf_counter() - t0
    t.add("GET /health during 8 long predictions", "< 1 s", f"{health_s * 1000:.0f} ms", health_s < 1.0, peak_rss_mb(pid))
    t0 = time.perf_counter()
    status, _ = post("short.wav", GOOD.read_bytes())
    short_s = time.perf_counter() - t0
    running = httpx.get(f"{base}/health").json()["predictions"]["running"]
    t.add("2 s request during 8 x 300 s requests", "200 before they end",
          f"{status} in {short_s:.1f} s, {running} long still running", status == 200 and running > 0, peak_rss_mb(pid))
    for th in threads:
        th.join()
    t.add("8 long requests", "8 x HTTP 200", f"{sum(s == 200 for s, _ in done)} x 200", all(s == 200 for s, _ in done),
          peak_rss_mb(pid))

    # a client that disconnects: its work stops
    before = httpx.get(f"{base}/health").json()["predictions"]["cancelled"]
    body = audio_bytes(speech(600.0), fmt="FLAC")
    payload = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gone.flac\"\r\n\r\n" + body +
               b"\r\n--b--\r\n")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    time.sleep(1.5)
    sock.close()
    cancelled = before
    for _ in range(100):
        cancelled = httpx.get(f"{base}/health").json()["predictions"]["cancelled"]
        if cancelled > before:
            break
        time.sleep(0.2)
    t.add("client disconnects mid-prediction", "work cancelled", f"cancelled {cancelled - before}", cancelled == before + 1,
          peak_rss_mb(pid))

    for q in ("?speech_gate=nan", "?speech_gate=2", "?adapt=bogus", "?min_score=5", "?vad=maybe", "?rule=vote"):
        check(f"POST /predict{q}", 422, "a.wav", wav, q)
    rng = np.random.default_rng(0)
    r = httpx.post(f"{base}/predict", files={"file": ("noise.wav", audio_bytes(rng.uniform(-1, 1, 16000 * 5).astype(np.float32)))},
                   timeout=120)
    labels = {s["label"] for s in r.json().get("segments", [])} if r.status_code == 200 else {"HTTP " + str(r.status_code)}
    t.add("full-scale random noise gets no emotion", "all 'no speech'", ", ".join(sorted(labels)),
          r.status_code == 200 and labels == {"no speech"} and r.json()["decision"]["label"] == "no speech", peak_rss_mb(pid))

    # 48 concurrent 2-minute uploads: memory stays under 1 GB and /health answers at once throughout. /health is
    # timed from a process of its own: a poller thread here would wait for this process's 48 sending threads too
    two_min = audio_bytes(speech(120.0), fmt="FLAC")
    results = []
    poller = subprocess.Popen([sys.executable, "-c", HEALTH_POLLER, f"{base}/health"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    uploads = [threading.Thread(target=lambda i=i: results.append(post(f"m{i}.flac", two_min, timeout=900)[0]))
               for i in range(48)]
    for th in uploads:
        th.start()
    for th in uploads:
        th.join()
    health_ms = [float(v) for v in poller.communicate("stop\n", timeout=120)[0].split()]
    p99 = float(np.percentile(health_ms, 99)) if health_ms else float("nan")
    t.add("48 concurrent 2-minute uploads", "48 x HTTP 200", f"{sum(r == 200 for r in results)} x 200",
          all(r == 200 for r in results) and len(results) == 48, peak_rss_mb(pid))
    t.add("GET /health p99 during 48 uploads", "< 200 ms", f"{p99:.0f} ms over {len(health_ms)} polls", p99 < 200,
          peak_rss_mb(pid))

    for path in ("/health", "/models"):
        text = httpx.get(f"{base}{path}").text
        t.add(f"GET {path} names no server path", "no path", "path!" if PATH_LEAK.search(text) else "none",
              not PATH_LEAK.search(text), peak_rss_mb(pid))


def websocket_probes(t: Table, port: int, pid: int):
    """Odd frames, bad parameters, 30 concurrent streams, disconnects, a fast 10 minute stream."""
    import asyncio

    import websockets

    x = (load_pcm(GOOD) * 32767).astype("<i2")

    async def session(query="", frames=(), end=True, wait=True, ping_interval=20):
        out = []
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
        except websockets.ConnectionClosed:
            pass
        return out

    def last(messages):
        return messages[-1] if messages else {}

    for q in ("&rate=nan", "&rate=0", "&channels=1000", "&format=mp3", "&hop=0", "&speech_gate=nan", "&min_score=9",
              "&model=nope"):
        m = asyncio.run(session(q))
        t.add(f"WebSocket ?{q[1:]}", "error message", last(m).get("type", "nothing"), last(m).get("type") == "error"
              and not PATH_LEAK.search(json.dumps(m)), peak_rss_mb(pid))
    m = asyncio.run(session(frames=[x.tobytes()[:1001]]))
    t.add("WebSocket frame of an odd byte count", "error message", last(m).get("type", "nothing"), last(m).get("type") == "error",
          peak_rss_mb(pid))
    m = asyncio.run(session(frames=[b"", "hello", json.dumps({"type": "dance"})]))
    t.add("WebSocket empty frame, text, unknown message", "error message", last(m).get("type", "nothing"),
          last(m).get("type") == "error", peak_rss_mb(pid))

    async def many(n):
        return await asyncio.gather(*[session(frames=[x.tobytes()[i:i + 3200] for i in range(0, x.nbytes, 3200)])
                                      for _ in range(n)])

    results = asyncio.run(many(30))
    ok = sum(last(m).get("type") == "decision" for m in results)
    t.add("30 concurrent WebSocket streams", "30 decisions", f"{ok} decisions", ok == 30, peak_rss_mb(pid))
    # live streams share the encoder (SharedWindows): one stream's bad frame fails that stream only
    broken = [x.tobytes()[:3200], x.tobytes()[:1001]]

    async def in_step():
        good = [session(frames=[x.tobytes()[i:i + 3200] for i in range(0, x.nbytes, 3200)]) for _ in range(7)]
        return await asyncio.gather(session(frames=broken), *good)

    results = asyncio.run(in_step())
    ok = sum(last(m).get("type") == "decision" for m in results[1:])
    t.add("8 streams in step sharing the encoder, one sends a broken frame", "7 decisions, 1 error",
          f"{ok} decisions, {last(results[0]).get('type')}", ok == 7 and last(results[0]).get("type") == "error",
          peak_rss_mb(pid))
    # trailing windows hold nothing back: a tail shorter than 0.25 s is dropped, never a segment of its own
    tail = np.tile(x, 2)[: int(3.1 * 16000)]
    m = asyncio.run(session(frames=[tail[i:i + 3200].tobytes() for i in range(0, len(tail), 3200)]))
    spans = [(s["start"], s["end"]) for s in m if s.get("type") == "segment"]
    t.add("stream of 3.1 s (live-4class): the 0.1 s tail", "no segment for it",
          f"segments {spans}", last(m).get("type") == "decision" and spans and max(e for _, e in spans) <= 3.0
          and all(e - s >= 0.25 for s, e in spans), peak_rss_mb(pid))
    before = httpx.get(f"http://127.0.0.1:{port}/health").json()["streams"]
    asyncio.run(session(frames=[x.tobytes()], end=False, wait=False))
    time.sleep(1.0)
    after = httpx.get(f"http://127.0.0.1:{port}/health").json()["streams"]
    t.add("WebSocket client disconnects mid-stream", "stream freed", f"open {after['open']}",
          after["open"] == 0 and after["disconnected"] > before["disconnected"], peak_rss_mb(pid))
    # live adaptation: a clear refusal where it cannot apply; silence, noise and 4 ms never get an emotion
    m = asyncio.run(session("&adapt=collection"))
    t.add("WebSocket ?adapt=collection (a stream is one voice)", "error message", last(m).get("type", "nothing"),
          last(m).get("type") == "error" and "one voice" in last(m).get("detail", ""), peak_rss_mb(pid))
    for probe, pcm in (("10 s of digital silence", np.zeros(160_000, "<i2")),
                       ("60 s of real noise (noise/test)", (real_noise(60.0) * 32767).astype("<i2")),
                       ("4 ms of speech", x[:64])):
        m = asyncio.run(session("&adapt=speaker", frames=[pcm[i:i + 3200].tobytes() for i in range(0, len(pcm), 3200)]))
        emotional = [s for s in m if s.get("type") == "segment" and s.get("label") not in ("no speech", "uncertain")]
        t.add(f"WebSocket adapt=speaker, {probe}", "no emotion, not adapted",
              f"{len(emotional)} emotional segments, {last(m).get('adaptation', {}).get('mode')}",
              last(m).get("type") == "decision" and not emotional and last(m).get("adaptation", {}).get("mode") == "none",
              peak_rss_mb(pid))
    voice = np.tile(x, 20)
    m = asyncio.run(session("&adapt=speaker", frames=[voice[i:i + 3200].tobytes() for i in range(0, len(voice), 3200)]))
    heard = [s.get("adapted_on_s") for s in m if s.get("type") == "segment"]
    t.add("WebSocket adapt=speaker, 40 s of one angry voice", "every segment says adapted_on_s",
          f"{sum(h is not None for h in heard)}/{len(heard)}, {last(m).get('adaptation', {}).get('mode')}",
          len(heard) > 30 and all(h is not None for h in heard) and last(m).get("type") == "decision", peak_rss_mb(pid))
    labels = [s.get("label") for s in m if s.get("type") == "segment" and s.get("label") != "no speech"]
    t.add("  ... one mood, not flattened", ">= 0.8 of segments angry, as unadapted",
          f"{np.mean([v == 'angry' for v in labels]):.2f} angry" if labels else "no segments",
          bool(labels) and np.mean([v == "angry" for v in labels]) >= 0.8, peak_rss_mb(pid))
    ten = np.tile(x, int(np.ceil(600 * 16000 / len(x))))[: 600 * 16000]
    t0 = time.perf_counter()
    # faster than real time, the server falls behind and stops reading (and answering pings) until it catches up:
    # this client, like any tool that sends recordings, waits instead of timing out the keep-alive
    m = asyncio.run(session(frames=[ten[i:i + 16000].tobytes() for i in range(0, len(ten), 16000)], ping_interval=None))
    t.add("a 10 minute stream sent as fast as possible", "a decision", f"{last(m).get('type')} in "
          f"{time.perf_counter() - t0:.0f} s", last(m).get("type") == "decision", peak_rss_mb(pid))


def nonspeech_noise() -> np.ndarray:
    """8 s each of eight real noises without voices (the noise bank's test split: rain, wind, train, tap,
    helicopter, waves, street, chainsaw), 46 s at 16 kHz."""
    from segser.io.audio import load

    root = data_dir() / "noise" / "test"
    cats = ("nature_rain", "nature_wind", "transport_train", "indoor_running_tap", "esc10_helicopter", "nature_waves",
            "street_city", "esc10_chainsaw")
    return np.concatenate([np.clip(load(sorted((root / c).glob("*.*"))[0]), -1, 1)[:16000 * 8] for c in cats]).astype(np.float32)


def real_noise(seconds: float) -> np.ndarray:
    """Real recorded noise (the shared noise bank's test split) at 16 kHz, looped to ``seconds``."""
    from segser.io.audio import load

    files = sorted((data_dir() / "noise" / "test").rglob("*.*"))
    parts, n = [], 0
    for f in files:
        if f.suffix.lower() not in (".wav", ".flac", ".ogg"):
            continue
        y = np.clip(load(f), -1, 1)
        parts.append(y)
        n += y.size
        if n >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)]


def load_pcm(path):
    from segser.io.audio import load

    return load(path)


def measured(args, rss_file):
    """``args`` run under GNU time, which writes the program's own peak RSS (kB) to ``rss_file``."""
    return ["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss_file), *args]


def read_rss(rss_file) -> float:
    return float(Path(rss_file).read_text().split()[-1]) / 1024


def cli(*args, cwd=None):
    """Run the CLI; its completed process and its own peak RSS (MB)."""
    with tempfile.NamedTemporaryFile() as rss:
        p = subprocess.run(measured([sys.executable, "-m", "segser.cli", *args], rss.name), capture_output=True, text=True,
                           timeout=600, cwd=cwd)
        return p, read_rss(rss.name)


def cli_probes(t: Table, tmp: Path):
    def check(probe, args, code, needle="", cwd=None):
        p, rss = cli(*args, cwd=cwd)
        usage = p.stderr.startswith("usage:")  # argparse's usage message, then one error line
        one_line = p.returncode != 2 or usage or len(p.stderr.strip().splitlines()) == 1
        ok = p.returncode == code and "Traceback" not in p.stderr and one_line and needle in p.stderr + p.stdout
        t.add(probe, f"exit {code}", f"exit {p.returncode}{' + TRACEBACK' if 'Traceback' in p.stderr else ''}", ok, rss)
        return p

    good = str(GOOD)
    for opt in (["--segment", "nan"], ["--hop", "nan"], ["--segment", "0"], ["--segment", "-1"], ["--hop", "0"],
                ["--hop", "inf"], ["--hop", "0.000001"]):
        check(f"predict {' '.join(opt)}", ["predict", good, *opt], 2)
    csv = tmp / "toy.csv"
    rows = ["path,label,speaker"]
    for k in range(8):
        sf.write(str(tmp / f"c{k}.wav"), tone(1.0) * (0.5 + 0.05 * k), 16000)
        rows.append(f"c{k}.wav,{'angry' if k % 2 else 'sad'},s{k % 4}")
    csv.write_text("\n".join(rows) + "\n")
    check("train --segment nan", ["train", "--csv", str(csv), "--segment", "nan", "--out", str(tmp / "r0")], 2)
    check("train --backbone nosuch", ["train", "--csv", str(csv), "--backbone", "nosuch", "--out", str(tmp / "r0")], 2)
    check("train --protocol unknown (before any embedding)", ["train", "--csv", str(csv), "--protocol", "lsoo",
                                                               "--out", str(tmp / "r0")], 2)
    check("train a run", ["train", "--csv", str(csv), "--backbone", "logmel", "--epochs", "3", "--protocol", "kfold:2",
                          "--speech-gate", "0", "--out", str(tmp / "run"), "--quiet"], 0)
    # what makes --adapt auto safe on a trained model: fitted beside it where the folds allow, said where they do not
    try:
        fitted = json.loads((tmp / "run" / "metrics.json").read_text())["adaptation"]
        reason = fitted["mood_check"].get("reason", "")
        heads = (tmp / "run" / ADAPTATION_HEADS_FILE).exists()
    except (OSError, ValueError, KeyError):
        reason, heads = "", False
    t.add("  ... 8 clips: no mood check, and the run says why; adaptation heads written", "reason said, heads",
          f"{reason[:40] or 'NO REASON'}, heads {'written' if heads else 'MISSING'}",
          "fewer than" in reason and heads and not (tmp / "run" / "mood.npz").exists())
    check("train --no-mood-check --no-adaptation-heads", ["train", "--csv", str(csv), "--backbone", "logmel", "--epochs", "3",
                                                          "--protocol", "kfold:2", "--speech-gate", "0", "--no-mood-check",
                                                          "--no-adaptation-heads", "--out", str(tmp / "bare"), "--quiet"], 0)
    t.add("  ... neither companion written", "no mood.npz, no adaptation_heads.npz",
          ", ".join(f.name for f in (tmp / "bare").glob("*.npz")) or "none",
          not list((tmp / "bare").glob("*.npz")))
    check("train on tones with the speech gate", ["train", "--csv", str(csv), "--backbone", "logmel", "--epochs", "3",
                                                  "--protocol", "kfold:2", "--out", str(tmp / "r9"), "--quiet"], 2,
          "no training segment has speech")
    before = sorted((p.name, p.stat().st_size) for p in (tmp / "run").iterdir())
    check("train --out EXISTING_RUN", ["train", "--csv", str(csv), "--out", str(tmp / "run")], 2, "already exists")
    check("train --overwrite that fails", ["train", "--csv", str(csv), "--labels", "angry", "--out", str(tmp / "run"),
                                           "--overwrite"], 2)
    after = sorted((p.name, p.stat().st_size) for p in (tmp / "run").iterdir())
    t.add("existing run untouched by refused and failed runs", "same files", "same" if before == after else "CHANGED",
          before == after)
    one = tmp / "one.csv"
    one.write_text("path,label,speaker\nc0.wav,sad,s0\nc2.wav,sad,s1\n")
    check("train on one class", ["train", "--csv", str(one), "--out", str(tmp / "r1")], 2, "at least two")
    missing = tmp / "missing.csv"
    missing.write_text(csv.read_text() + "gone.wav,sad,s0\n")
    check("train with a CSV row whose file is missing", ["train", "--csv", str(missing), "--out", str(tmp / "r2")], 2,
          "gone.wav")
    (tmp / "bad.json").write_text("{oops")
    check("train --config not-JSON", ["train", "--config", str(tmp / "bad.json"), "--out", str(tmp / "r3")], 2)
    (tmp / "bad.wav").write_text("not audio")
    p = check("predict good.wav bad.wav --out x.csv", ["predict", good, str(tmp / "bad.wav"), "--out", str(tmp / "x.csv"),
                                                       "--quiet"], 1)
    table = (tmp / "x.csv").read_text() if (tmp / "x.csv").exists() else ""
    t.add("  ... the CSV records the failed file", "error row", "present" if "bad.wav" in table else "absent",
          "bad.wav" in table and "not audio" in table)
    check("predict --out in an unwritable place", ["predict", good, "--out", "/proc/x.json"], 2, "cannot write")
    check("predict --plot in an unwritable place", ["predict", good, "--plot", "/proc/x.png"], 2, "cannot write")
    os.mkfifo(tmp / "fifo.wav")
    check("predict a FIFO", ["predict", str(tmp / "fifo.wav")], 1, "not a regular file")
    os.symlink(tmp / "loop.wav", tmp / "loop.wav")
    check("predict a symlink loop", ["predict", str(tmp / "loop.wav")], 1, "symbolic link loop")
    p = check("predict the same file twice", ["predict", good, good, "--json", "--quiet"], 0)
    n = len(json.loads(p.stdout)["files"]) if p.returncode == 0 else -1
    t.add("  ... one entry", "1 file", f"{n} files", n == 1)
    check("serve --port 99999", ["serve", "--port", "99999"], 2, "port must be")
    for opt, needle in ((["--speech-gate", "nan"], "speech_gate"), (["--speech-gate", "2"], "speech_gate"),
                        (["--speakers", "auto", "--num-speakers", "0"], "num-speakers"),
                        (["--speakers", "auto", "--num-speakers", "100000"], "num-speakers"),
                        (["--speakers", "auto", "--max-speakers", "-3"], "max-speakers"),
                        (["--num-speakers", "2"], "--speakers auto"), (["--speakers", "nobody"], "speakers"),
                        (["--adapt", "none", "--speakers", "all"], "--adapt none")):
        check(f"predict {' '.join(opt)}", ["predict", good, *opt], 2, needle)
    check("predict --out x.rttm without speakers", ["predict", good, "--out", str(tmp / "x.rttm")], 2, "--speakers auto")
    silent = tmp / "quiet.wav"
    sf.write(str(silent), (1e-4 * np.random.default_rng(1).standard_normal(16000 * 4)).astype(np.float32), 16000)
    check("predict --speakers auto on near-silence", ["predict", str(silent), "--speakers", "auto"], 1, "no speech")
    hours = tmp / "three-hours.flac"  # a small file whose header says 3 h: refused before it is held for turns
    with sf.SoundFile(str(hours), "w", 16000, 1, format="FLAC") as f:
        for _ in range(3 * 60):
            f.write(np.full(16000 * 60, 1e-3, np.float32))
    check("predict --speakers auto on a 3 h recording", ["predict", str(hours), "--speakers", "auto"], 1, "limit")
    # the speaker pass reads the file block by block: a bad sample late in a long recording is named with its time
    talk = np.concatenate([sf.read(good, dtype="float32")[0]] * 30)
    talk[16000 * 50] = np.nan
    sf.write(str(tmp / "late-nan.wav"), talk, 16000, subtype="FLOAT")
    check("predict --speakers auto, NaN at 50 s", ["predict", str(tmp / "late-nan.wav"), "--speakers", "auto"], 1, "NaN")
    # a voice-encoder checkpoint is loaded as weights only: one whose pickle would run code is refused
    import pickle

    marker = tmp / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp / "evil.pt").write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({})
                                  + pickle.dumps(Evil()))
    os.environ["SEGSER_RESEMBLYZER"] = str(tmp / "evil.pt")
    try:
        check("predict --speakers auto, a voice encoder checkpoint that runs code", ["predict", good, "--speakers", "auto"],
              2, "not a Resemblyzer voice encoder checkpoint")
    finally:
        del os.environ["SEGSER_RESEMBLYZER"]
    t.add("  ... and its code did not run", "no file", "FILE WRITTEN" if marker.exists() else "no file", not marker.exists())
    # the default int8 encoder runs one window at a time: a file's answer does not depend on the rest of the batch
    alone = check("predict good.wav alone (int8 default)", ["predict", good, "--adapt", "none", "--json", "--quiet"], 0)
    mixed = check("predict good.wav among 8 others", ["predict", *[str(tmp / f"c{k}.wav") for k in range(4)], good,
                                                      *[str(tmp / f"c{k}.wav") for k in range(4, 8)], "--adapt", "none",
                                                      "--json", "--quiet"], 0)
    try:
        a = json.loads(alone.stdout)["files"][0]["segments"]
        b = [f for f in json.loads(mixed.stdout)["files"] if f["file"].endswith(Path(good).name)][0]["segments"]
        same = a == b
    except (ValueError, KeyError, IndexError):
        same = False
    t.add("  ... the same segments either way", "identical", "identical" if same else "DIFFERENT", same)
    # the mood check (speakers.MoodCheck): a damaged file is a clear error; one voice in one mood is not flattened
    broken = tmp / "broken-model"
    shutil.copytree(resolve_model_dir("default-4class")[0], broken)
    (broken / "mood.npz").write_bytes(b"\x00" * 64)
    check("predict with a model whose mood.npz is damaged", ["predict", good, "--model", str(broken)], 2, "mood.npz unreadable")
    # the adaptation heads (speakers.AdaptationHeads): damaged, from another model, or with NaN weights: refused
    shutil.rmtree(broken)
    shutil.copytree(resolve_model_dir("default-4class")[0], broken)
    (broken / ADAPTATION_HEADS_FILE).write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    check("predict with a model whose adaptation_heads.npz is damaged", ["predict", good, "--model", str(broken)], 2,
          "adaptation_heads.npz unreadable")
    layer = (np.zeros(384), np.ones(384), np.zeros((8, 384)), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
    AdaptationHeads({"speaker": layer, "collection": layer}).save(broken / ADAPTATION_HEADS_FILE)
    check("predict with adaptation heads of another model (384-d input)", ["predict", good, "--model", str(broken)], 2,
          "belongs to another model")
    nan = (np.zeros(384), np.ones(384), np.full((8, 384), np.nan), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
    AdaptationHeads({"speaker": nan, "collection": layer}).save(broken / ADAPTATION_HEADS_FILE)
    check("predict with adaptation heads holding NaN weights", ["predict", good, "--model", str(broken)], 2,
          "no valid speaker head")
    angry = [str(f) for f in sorted((data_dir() / "savee").glob("DC_a[0-9]*.ogg"))]

    def one_voice_in_one_mood(model, shown):
        """One speaker's angry clips as one voice (auto): the unadapted answers, the mood check's verdict said."""
        p = check(f"predict one speaker's angry clips, --speakers all (one voice, one mood), {shown}",
                  ["predict", *angry, "--model", model, "--speakers", "all", "--json", "--quiet"], 0)
        q = check("  ... and each alone, --adapt none", ["predict", *angry, "--model", model, "--adapt", "none",
                                                        "--json", "--quiet"], 0)
        try:
            files, plain = json.loads(p.stdout)["files"], json.loads(q.stdout)["files"]
            same = [f["decision"]["label"] for f in files] == [f["decision"]["label"] for f in plain]
            said = files[0]["adaptation"].get("one_mood_probability")
        except (ValueError, KeyError, IndexError):
            same, said = False, None
        t.add("  ... not flattened: the unadapted answers, the mood check reported", "same labels, p(one mood) said",
              f"{'same' if same else 'DIFFERENT'}, p {said}", same and said is not None)
        return q
    q = one_voice_in_one_mood("default-4class", "default-4class")
    p = check("predict the same angry clips as a folder, no speakers (auto: one collection)",
              ["predict", *angry, "--model", "default-4class", "--json", "--quiet"], 0)
    try:
        files, plain = json.loads(p.stdout)["files"], json.loads(q.stdout)["files"]
        same = [f["decision"]["label"] for f in files] == [f["decision"]["label"] for f in plain]
        said = {(f["adaptation"]["group"], f["adaptation"]["mode"]) for f in files}
    except (ValueError, KeyError, IndexError):
        same, said = False, None
    t.add("  ... a folder in one mood is not flattened by its own statistics", "same labels, the collection not used",
          f"{'same' if same else 'DIFFERENT'}, {said}", same and said == {("the collection", "none")})
    # speakers given, each in one mood, on a model with a mood check: the share's and the mood check's weights
    # averaged; no worse than not adapting, and a silent recording in the table fails alone
    pick = {"DC": ("a", "angry"), "JE": ("h", "happy"), "JK": ("n", "neutral"), "KL": ("sa", "sad")}
    moods = [(str(f), sp, label) for sp, (code, label) in pick.items()
             for f in sorted((data_dir() / "savee").glob(f"{sp}_{code}[0-9]*.ogg"))[:10]]
    silent = tmp / "silent-speaker.wav"
    sf.write(str(silent), np.zeros(16000 * 20, np.float32), 16000)
    table = tmp / "moods.csv"
    table.write_text("file,speaker\n" + "".join(f"{f},{sp}\n" for f, sp, _ in moods) + f"{silent},DC\n")

    def ua_of(proc):
        try:
            got = {f["file"]: f["decision"]["label"] for f in json.loads(proc.stdout)["files"]}
            hits = {lab: np.mean([got.get(f) == lab for f, _, lab_ in moods if lab_ == lab]) for _, lab in pick.values()}
            return float(np.mean(list(hits.values()))), json.loads(proc.stdout)["files"]
        except (ValueError, KeyError):
            return -1.0, []
    p = check("predict four one-mood SAVEE speakers and a silent recording, --speakers TABLE (auto)",
              ["predict", *[f for f, _, _ in moods], str(silent), "--model", "default-4class", "--speakers", str(table),
               "--json", "--quiet"], 1, "silence")
    q = check("  ... the same clips, --adapt none", ["predict", *[f for f, _, _ in moods], "--model", "default-4class",
                                                     "--adapt", "none", "--json", "--quiet"], 0)
    (ua_auto, files), (ua_none, _) = ua_of(p), ua_of(q)
    said = all("one_mood_probability" in f.get("adaptation", {}) for f in files if f["file"] != str(silent))
    t.add("  ... not flattened: UA within a point of unadapted, the mood check reported, the silent file alone fails",
          f"UA >= {ua_none - 0.01:.2f}, p said, 40 answers", f"UA {ua_auto:.2f}, p {'said' if said else 'MISSING'}, "
          f"{sum(f['file'] != str(silent) for f in files)} answers",
          ua_auto >= ua_none - 0.01 and said and sum(f["file"] != str(silent) for f in files) == len(moods))
    # a model trained here gets its own mood check (from its folds) and adaptation heads: one voice in one mood
    # keeps the unadapted answers
    recipe = tmp / "emodb-4class.json"
    recipe.write_text(json.dumps({
        "corpora": [{"name": "emodb", "root": str(data_dir() / "emodb")}], "labels": "4class", "backbone": "whisper",
        "backbone_options": {"size": "tiny.en", "layer": "all", "context": 5}, "head_options": {"hidden": 200},
        "weight_decay": 1e-4, "class_weights": True, "corpus_balance": True, "calibrate": True,
        "protocol": "speaker-kfold:5", "seed": 0}))
    trained = tmp / "emodb-run"
    check("train a 4-class run on EmoDB (whisper tiny.en): its mood check from its folds",
          ["train", "--config", str(recipe), "--out", str(trained), "--quiet"], 0, "mood check on")
    one_voice_in_one_mood(str(trained), "a run trained here")
    # one recording alone on a model with a mood check goes through adaptation (auto): still no emotion where no speech
    quiet, tiny, noisy = tmp / "zeros.wav", tmp / "tiny.wav", tmp / "nonspeech.wav"
    sf.write(str(quiet), np.zeros(16000 * 20, np.float32), 16000)
    sf.write(str(tiny), tone(0.004), 16000)
    sf.write(str(noisy), nonspeech_noise(), 16000)
    # default: six classes, its own mood check and adaptation heads; the run: both fitted by segser train
    for shown, name in (("default-4class", "default-4class"), ("default", "default"), ("RUN", str(trained))):
        check(f"predict --model {shown} (auto: the mood check) on 20 s of digital silence",
              ["predict", str(quiet), "--model", name], 1, "silence")
        check(f"predict --model {shown} (auto: the mood check) on 4 ms", ["predict", str(tiny), "--model", name],
              1, "too short")
        p = check(f"predict --model {shown} (auto: the mood check) on 46 s of real non-speech noise",
                  ["predict", str(noisy), "--model", name, "--json", "--quiet"], 0)
        try:
            f = json.loads(p.stdout)["files"][0]
            emotional = [x for x in f["segments"] if x["label"] not in ("no speech", "uncertain")]
            label = f["decision"]["label"]
        except (ValueError, KeyError, IndexError):
            emotional, label = ["unreadable output"], None
        t.add("  ... no emotion", "no emotional segment, decision no speech", f"{len(emotional)} emotional, {label}",
              not emotional and label == "no speech")
    # the built-in default (six classes) on a folder in one mood: its mood check keeps the unadapted answers
    p = check("predict one speaker's angry clips as a folder, --model default (auto: its mood check)",
              ["predict", *angry, "--model", "default", "--json", "--quiet"], 0)
    q = check("  ... and each alone, --adapt none", ["predict", *angry, "--model", "default", "--adapt", "none",
                                                    "--json", "--quiet"], 0)
    try:
        files, plain = json.loads(p.stdout)["files"], json.loads(q.stdout)["files"]
        same = [f["decision"]["label"] for f in files] == [f["decision"]["label"] for f in plain]
        said = {(f["adaptation"]["group"], f["adaptation"]["mode"]) for f in files}
        p_one = min(f["adaptation"].get("one_mood_probability", -1) for f in files)
    except (ValueError, KeyError, IndexError):
        same, said, p_one = False, None, -1
    t.add("  ... not flattened: the unadapted answers, the mood check said", "same labels, the collection not used",
          f"{'same' if same else 'DIFFERENT'}, {said}, p(one mood) >= {p_one:.2f}",
          same and said == {("the collection", "none")} and p_one >= 0.4)
    blip = tmp / "blip.wav"
    sf.write(str(blip), tone(0.004), 16000)
    check("predict a 4 ms recording", ["predict", str(blip)], 1, "too short")
    p = check("predict full-scale noise", ["predict", str(tmp / "noise.wav") if (tmp / "noise.wav").exists() else
                                           _noise(tmp), "--json", "--quiet"], 0)
    labels = {s["label"] for f in json.loads(p.stdout or '{"files": []}')["files"] for s in f["segments"]}
    t.add("  ... every segment 'no speech'", "no speech", ", ".join(sorted(labels)) or "none", labels == {"no speech"})
    # speaker tables: a file twice, with the same speaker or another
    for rows, needle in (("file,speaker\nc0.wav,x\nc0.wav,x\n", "listed twice"), ("file,speaker\nc0.wav,x\nc0.wav,y\n", "listed twice")):
        (tmp / "spk.csv").write_text(rows)
        check(f"speaker table {rows.splitlines()[1:]!r}", ["predict", str(tmp / "c0.wav"), "--speakers", str(tmp / "spk.csv")],
              2, needle)
    # --overwrite replaces only segser's own folders
    folder = tmp / "takes"
    folder.mkdir()
    for i in range(3):
        sf.write(str(folder / f"take{i}.flac"), tone(1.0), 16000)
    before = sorted(f.name for f in folder.iterdir())
    check("export --overwrite into a folder of recordings", ["export", str(tmp / "run"), "--out", str(folder), "--overwrite",
                                                              "--no-int8"], 2, "not a segser export")
    check("train --overwrite into a folder of recordings", ["train", "--csv", str(csv), "--speech-gate", "0", "--out",
                                                             str(folder), "--overwrite", "--quiet"], 2, "not a segser run")
    t.add("  ... the recordings are untouched", "same files", "same" if sorted(f.name for f in folder.iterdir()) == before
          else "CHANGED", sorted(f.name for f in folder.iterdir()) == before)
    # a tampered export
    check("export a run", ["export", str(tmp / "run"), "--out", str(tmp / "exp"), "--no-int8"], 0)
    with open(tmp / "exp" / "head.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    check("predict with a tampered export", ["predict", good, "--model", str(tmp / "exp")], 2, "altered")
    # listen --stdin: odd trailing bytes, bad options
    pcm = (tone(2.0) * 32767).astype("<i2").tobytes()
    for name, data, args, code in (("listen --stdin, whole samples", pcm, [], 0),
                                   ("listen --stdin, a stray byte at the end", pcm + b"\x01", [], 2),
                                   ("listen --stdin --rate nan", pcm, ["--rate", "nan"], 2),
                                   ("listen --stdin --adapt speaker", pcm, ["--adapt", "speaker"], 0),
                                   ("listen --stdin --adapt collection", pcm, ["--adapt", "collection"], 2),
                                   ("listen --stdin --channels 0", pcm, ["--channels", "0"], 2)):
        with tempfile.NamedTemporaryFile() as rss:
            q = subprocess.run(measured([sys.executable, "-m", "segser.cli", "listen", "--stdin", "--model", str(tmp / "run"),
                                         *args], rss.name), input=data, capture_output=True, timeout=600)
            err = q.stderr.decode(errors="replace")
            t.add(name, f"exit {code}", f"exit {q.returncode}{' + TRACEBACK' if 'Traceback' in err else ''}",
                  q.returncode == code and "Traceback" not in err, read_rss(rss.name))


def _noise(tmp: Path) -> str:
    sf.write(str(tmp / "noise.wav"), np.random.default_rng(2).uniform(-1, 1, 16000 * 5).astype(np.float32), 16000)
    return str(tmp / "noise.wav")


def ray_probes(t: Table, tmp: Path):
    """A resumed run accounts for an earlier failure; a local Ray that segser starts leaves no process behind."""
    folder = tmp / "ray-in"
    folder.mkdir()
    sf.write(str(folder / "good.wav"), load_pcm(GOOD), 16000)
    (folder / "bad.wav").write_text("not audio")
    out = tmp / "ray-out"
    args = ["predict", str(folder), "--ray", "--workers", "1", "--out", str(out)]
    p, rss = cli(*args)
    t.add("predict --ray, a bad file among good ones", "exit 1", f"exit {p.returncode}", p.returncode == 1, rss)
    p, rss = cli(*args)
    t.add("  ... rerun: the folder still holds the failure", "exit 1, 1 failed", f"exit {p.returncode}: "
          + (p.stderr.strip().splitlines() or [""])[-1][-80:], p.returncode == 1 and "1 failed of the 2" in p.stderr, rss)
    time.sleep(2)
    left = [q for q in Path("/proc").glob("[0-9]*/cmdline") if b"ray::" in _read(q) or b"raylet" in _read(q)]
    t.add("  ... no Ray process left after the command", "none", f"{len(left)} left", not left)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def main():
    t = Table()
    port = free_port()
    rss_file = Path(tempfile.mkstemp(prefix="segser-serve-rss-")[1])
    server = subprocess.Popen(measured([sys.executable, "-m", "segser.cli", "serve", "--port", str(port)], rss_file),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base)
        service_probes(t, base, port, server_pid(server.pid))
        websocket_probes(t, port, server_pid(server.pid))
    finally:
        os.kill(server_pid(server.pid), 15)
        _, err = server.communicate(timeout=60)
        server_peak = read_rss(rss_file)
        rss_file.unlink()
    t.add("server log has no traceback", "none", "traceback!" if "Traceback" in err else "none", "Traceback" not in err,
          server_peak)
    with tempfile.TemporaryDirectory() as tmp:
        cli_probes(t, Path(tmp))
        ray_probes(t, Path(tmp))
    worst = max([r["peak_rss_mb"] or 0 for r in t.rows] + [server_peak])
    passed = sum(r["pass"] for r in t.rows)
    print(f"\n{passed}/{len(t.rows)} probes pass; server peak RSS {server_peak:.0f} MB; largest probe {worst:.0f} MB")
    save("reliability", {"probes": t.rows, "passed": passed, "total": len(t.rows), "server_peak_rss_mb": round(server_peak),
                         "max_rss_mb": round(worst)})
    return 0 if passed == len(t.rows) and worst < 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
