"""What every benchmark script shares: the machine it ran on, repeated timing
with median and spread, a warning when the machine was busy, and one result
file per script under ``benchmarks/results/`` (JSON: the figures, the
command, the date, CPU, cores, library versions, load average at start).

The README's figures are rendered from these files (``python benchmarks/render.py``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LOAD_AT_START = os.getloadavg()


def _cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over a short sample (/proc/stat): unlike the load
    average, it does not still count a benchmark that has just finished."""
    def snap():
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except OSError:
        return None
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


CPU_BUSY_AT_START = _cpu_busy()


def cores() -> int:
    return machine()["cores"]


def machine() -> dict:
    from segser.training.benchmark import machine as _machine

    m = _machine()
    m.pop("date")
    m["load_average_at_start"] = [round(v, 2) for v in LOAD_AT_START]
    m["cpu_busy_at_start"] = None if CPU_BUSY_AT_START is None else round(CPU_BUSY_AT_START, 3)
    m.pop("load_average")
    return m


def busy() -> str | None:
    """A warning when other work kept more than a quarter of the CPUs busy in the second before the benchmark
    (the load average is recorded too, but it still counts a benchmark that has just finished)."""
    if CPU_BUSY_AT_START is not None:
        if CPU_BUSY_AT_START > 0.25:
            return f"machine busy at start ({100 * CPU_BUSY_AT_START:.0f} % of {cores()} cores in use): speed figures may be low"
        return None
    load = LOAD_AT_START[0]
    if load > 0.25 * cores():
        return f"machine busy at start (load average {load:.2f} on {cores()} cores): speed figures may be low"
    return None


def timed(fn, *, repeat: int = 5, warmup: int = 1) -> dict:
    """Wall seconds of ``fn()`` over ``repeat`` runs: median, min, max and relative spread."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    med = statistics.median(runs)
    return {"median": med, "min": min(runs), "max": max(runs), "spread": (max(runs) - min(runs)) / med if med else 0.0,
            "runs": runs}


def fresh_predict(path, *extra) -> tuple[dict, dict]:
    """``segser predict PATH EXTRA`` in a fresh process: its wall time and peak RSS, and the first file of its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        rss, out = Path(tmp) / "rss", Path(tmp) / "r.json"
        t = time.time()
        subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss), sys.executable, "-m", "segser.cli", "predict",
                        str(path), "--quiet", "--out", str(out), *extra], check=True, capture_output=True)
        figures = {"wall_s": round(time.time() - t, 1), "peak_rss_mb": round(float(rss.read_text().split()[-1]) / 1024)}
        return figures, json.loads(out.read_text())["files"][0]


def save(name: str, figures: dict, *, command: str | None = None, notes: str = "") -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically and say where."""
    from segser.io.files import write_json

    warning = busy()
    doc = {"name": name, "command": command or "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
           "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "busy_warning": warning, "notes": notes, "figures": figures}
    path = RESULTS / f"{name}.json"
    write_json(path, doc)
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"results written to {path.relative_to(RESULTS.parent.parent)}", file=sys.stderr)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(base: str, seconds: float = 120.0) -> float:
    """Poll ``base``/health until the server answers; the seconds it took (SystemExit if it never does)."""
    import httpx

    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            httpx.get(f"{base}/health", timeout=1).raise_for_status()
            return time.time() - t0
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {base} did not start within {seconds:g} s")


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())
