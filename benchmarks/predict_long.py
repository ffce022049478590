"""`segser predict` on long real-speech recordings with the default model:
wall time and peak memory (issue 4: 1 h in < 60 s, peak RSS < 1.5 GB).

Builds the test recordings by concatenating real EmoDB/RAVDESS speech from
../shared/data (written to a temporary folder, never to the repo), then runs
each prediction in a fresh process so peak RSS is that run's own.

    python benchmarks/predict_long.py [minutes ...]    (default: 6 60)
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from segser.audio import load
from segser.settings import data_dir

CHILD = """
import resource, sys, time
t = time.perf_counter()
from segser.inference import load_model, predict
model = load_model()
t_load = time.perf_counter() - t
t = time.perf_counter()
timeline, decisions, errors = predict([sys.argv[1]], model)
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{wall:.2f} {t_load:.2f} {rss:.0f} {len(timeline)} {decisions.iloc[0]['label']}")
"""


def build(minutes: float, path: Path) -> None:
    files = sorted((data_dir() / "ravdess").rglob("*.flac")) + sorted((data_dir() / "emodb").glob("*.flac"))
    need = int(minutes * 60 * 16000)
    with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC") as out:
        written, i = 0, 0
        while written < need:
            x = load(files[i % len(files)], sample_rate=16000)[: need - written]
            out.write(x)
            written += x.size
            i += 1


def main():
    minutes = [float(m) for m in sys.argv[1:]] or [6.0, 60.0]
    print(f"machine: {os.cpu_count()} cores; model: built-in default (Whisper tiny.en, 1 s segments)")
    with tempfile.TemporaryDirectory() as tmp:
        for m in minutes:
            path = Path(tmp) / f"speech_{m:g}min.flac"
            build(m, path)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            wall, t_load, rss, n, label = out.stdout.split()
            print(f"{m:g} min of real speech: predict {float(wall):.1f} s wall ({m * 60 / float(wall):.0f}x real time), "
                  f"model load {float(t_load):.1f} s, peak RSS {float(rss):.0f} MB, {n} segments, clip decision {label}")


if __name__ == "__main__":
    main()
