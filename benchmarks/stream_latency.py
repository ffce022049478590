"""Live streams over the WebSocket of a real `segser serve`: for real-time
streams of real speech, the delay from the end of a segment's audio to its
result arriving, and how many concurrent real-time streams this machine keeps
up with. Each client sends 16 kHz PCM in 20 ms frames at real-time pace.

Two delays are reported: after the segment's last sample (what a listener
feels), and after the last sample the model needs for that segment (with
tiled windows the encoder window ends later: a 5 s window makes a 1 s segment
wait for up to 4 s of audio; a trailing window ends with the segment), which
is the processing delay. With tiled windows every segment also waits 0.25 s
for the audio after it (the tail rule; trailing windows drop a short tail
instead, so nothing waits). Writes benchmarks/results/stream_latency[-NAME].json.

    python benchmarks/stream_latency.py [--seconds 40] [--streams 1 2 4 8 10 12 16] [--model default] [--name NAME]
"""
import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, save, wait_for_health  # noqa: E402

from segser.io.audio import load  # noqa: E402
from segser.segmentation.windows import MIN_TAIL  # noqa: E402
from segser.settings import data_dir  # noqa: E402

FRAME = 320  # 20 ms at 16 kHz


def speech(seconds: float, offset: int) -> np.ndarray:
    files = sorted((data_dir() / "emodb").glob("*.flac"))
    parts, n, i = [], 0, offset
    while n < seconds * 16000:
        x = load(files[i % len(files)])
        parts.append(x)
        n += x.size
        i += 1
    return (np.clip(np.concatenate(parts)[: int(seconds * 16000)], -1, 1 - 1 / 32768) * 32768).astype(np.int16)


async def client(port: int, pcm: np.ndarray, window: float | None, query: str = "", delay: float = 0.0) -> list[dict]:
    await asyncio.sleep(delay)
    out = []
    opened = time.perf_counter()
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream?rate=16000&format=s16le{query}", max_size=None) as ws:
        json.loads(await ws.recv())
        t0 = time.perf_counter()
        out.append({"ready_ms": 1000 * (t0 - opened)})

        async def receive():
            async for m in ws:
                msg = json.loads(m)
                if msg["type"] == "segment":
                    now = time.perf_counter() - t0
                    # the last sample the engine needs: tiled, the segment's window end and the 0.25 s after the
                    # segment that decide whether a short tail joins it; trailing, the segment's end (tails dropped)
                    if window:
                        needed = max(math.ceil(msg["end"] / window - 1e-9) * window, msg["end"] + MIN_TAIL)
                    else:
                        needed = msg["end"]
                    needed = min(len(pcm) / 16000, needed)
                    out.append({"end": msg["end"], "after_segment": now - msg["end"], "after_needed_audio": now - needed})
                elif msg["type"] == "decision":
                    return

        task = asyncio.create_task(receive())
        for i in range(0, len(pcm), FRAME):
            delay = t0 + i / 16000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(pcm[i:i + FRAME].tobytes())
        await ws.send(json.dumps({"type": "end"}))
        await task
    return out


async def round_(port, n, seconds, window, query="", stagger=False):
    """``n`` streams starting together (their segments end at the same moments: the worst case), or ``stagger``ed
    evenly over one second (independent users)."""
    return await asyncio.gather(*[client(port, speech(seconds, 37 * k), window, query, k / n if stagger else 0.0)
                                  for k in range(n)])


def percentile(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 10, 12, 16, 20])
    ap.add_argument("--model", default="default")
    ap.add_argument("--name", help="results file suffix (stream_latency-NAME.json)")
    ap.add_argument("--stagger", action="store_true", help="start the streams evenly over one second, not together")
    args = ap.parse_args()
    from segser.model import load_model

    model = load_model(args.model)
    window = None if model.segmentation.context == "trailing" else model.encoder.window_seconds
    port = free_port()
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile() as rss:
        server = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, sys.executable, "-m", "segser.cli",
                                   "serve", "--model", args.model, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_health(f"http://127.0.0.1:{port}")
            server_start_s = time.perf_counter() - started
            rows = []
            for n in args.streams:
                results = asyncio.run(round_(port, n, args.seconds, window, f"&model={args.model}", args.stagger))
                ready = [res[0]["ready_ms"] for res in results]
                results = [res[1:] for res in results]
                seg = [r["after_segment"] for res in results for r in res]
                need = [r["after_needed_audio"] for res in results for r in res]
                tail = [res[-1]["after_needed_audio"] for res in results if res]
                row = {"streams": n, "segments": len(seg), "p50_after_segment_ms": 1000 * percentile(seg, 50),
                       "p95_after_segment_ms": 1000 * percentile(seg, 95), "p50_processing_ms": 1000 * percentile(need, 50),
                       "p95_processing_ms": 1000 * percentile(need, 95), "max_processing_ms": 1000 * max(need),
                       "last_segment_processing_ms": 1000 * max(tail), "stream_ready_p50_ms": percentile(ready, 50)}
                row["keeps_up"] = row["p95_processing_ms"] < 1000 and row["last_segment_processing_ms"] < 2000
                rows.append(row)
                print(f"{n:3d} streams: after segment end p50 {row['p50_after_segment_ms']:6.0f} / p95 "
                      f"{row['p95_after_segment_ms']:6.0f} ms; processing p50 {row['p50_processing_ms']:5.0f} / p95 "
                      f"{row['p95_processing_ms']:5.0f} ms; {'keeps up' if row['keeps_up'] else 'FALLS BEHIND'}", flush=True)
                if not row["keeps_up"]:
                    break
        finally:
            subprocess.run(["pkill", "-TERM", "-P", str(server.pid)])
            server.wait()
        peak = float(Path(rss.name).read_text().split()[-1]) / 1024 if Path(rss.name).read_text().strip() else None
    sustained = max([r["streams"] for r in rows if r["keeps_up"]], default=0)
    context = model.segmentation.context
    print(f"real-time streams kept up with: {sustained}; model {args.model}, {context} {model.encoder.window_seconds} s "
          f"windows; server peak RSS {peak} MB")
    save("stream_latency" + (f"-{args.name}" if args.name else ""),
         {"model": args.model, "context": context, "window_seconds": model.encoder.window_seconds,
          "seconds_per_stream": args.seconds, "rounds": rows, "sustained_streams": sustained, "server_peak_rss_mb": peak,
          "server_start_s": server_start_s, "staggered": args.stagger},
         command=f"python benchmarks/stream_latency.py --model {args.model}" + (f" --name {args.name}" if args.name else "")
         + (" --stagger" if args.stagger else ""))


if __name__ == "__main__":
    main()
