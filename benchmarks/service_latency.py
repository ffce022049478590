"""Latency of the HTTP service (real uvicorn server, real EmoDB recordings).

    python benchmarks/service_latency.py [N_FILES] [--model default] [--runtimes auto torch onnx]

For each runtime, starts `segser serve --runtime R` on a free port, posts N
files one after another, prints per-request latency (p50/p95/max), audio
seconds per wall second and the server's peak RSS; writes
benchmarks/results/service_latency.json (the first runtime's figures at the
top level, every runtime's under "runtimes").
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, save, wait_for_health  # noqa: E402

from segser.settings import data_dir  # noqa: E402


def measure(files, model: str, runtime: str) -> dict:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "segser.cli", "serve", "--model", model, "--port", str(port),
                               "--runtime", runtime], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        startup = wait_for_health(url)
        lat, audio = [], 0.0
        for f in files:
            t = time.perf_counter()
            r = httpx.post(url + "/predict", files={"file": (f.name, f.read_bytes())}, timeout=300)
            lat.append(time.perf_counter() - t)
            r.raise_for_status()
            audio += r.json()["decision"]["duration"]
        peak_kb = next(int(line.split()[1]) for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM"))  # the server's peak resident set (Linux)
    finally:
        server.terminate()
        server.wait()
    lat_ms = sorted(1000 * x for x in lat)
    figures = {"model": model, "runtime": runtime, "files": len(files), "audio_s": audio, "startup_s": startup,
               "p50_ms": lat_ms[len(lat_ms) // 2], "p95_ms": lat_ms[int(0.95 * (len(lat_ms) - 1))], "max_ms": lat_ms[-1],
               "audio_s_per_s": audio / sum(lat), "server_peak_rss_mb": peak_kb / 1024}
    print(f"model {model}, runtime {runtime}: {len(files)} EmoDB files, {audio:.1f} s of audio; start-up {startup:.1f} s; "
          f"p50 {figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, max {figures['max_ms']:.0f} ms; "
          f"{figures['audio_s_per_s']:.1f} s of audio per wall second; server peak RSS {figures['server_peak_rss_mb']:.0f} MB")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=40)
    ap.add_argument("--model", default="default")
    ap.add_argument("--runtimes", nargs="+", default=["auto", "torch", "onnx"], choices=["auto", "torch", "onnx"])
    args = ap.parse_args()
    files = sorted((data_dir() / "emodb").glob("*.flac"))[: args.n]
    if not files:
        raise SystemExit(f"no EmoDB recordings under {data_dir() / 'emodb'}")
    runs = {rt: measure(files, args.model, rt) for rt in args.runtimes}
    save("service_latency", {**runs[args.runtimes[0]], "runtimes": runs})


if __name__ == "__main__":
    main()
