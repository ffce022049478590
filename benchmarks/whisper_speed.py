"""Whisper encoder extraction speed (seconds of audio per second) and peak
memory per model size and input window, on real 2 s EmoDB clips (issue 8).
Each configuration runs in a fresh process so its peak RSS is its own.

    python benchmarks/whisper_speed.py [--sizes tiny.en base] [--contexts 30 10 2.4] [--clips 40]
"""
import argparse
import subprocess
import sys

CHILD = """
import resource, sys, time
import numpy as np
from segser.audio import load
from segser.backbones import create
from segser.settings import data_dir
size, context, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
files = sorted((data_dir() / "emodb").glob("*.flac"))[:n]
clips = [load(f) for f in files]
bb = create("whisper", size=size, layer="all", context=context)
bb.embed(clips[0], [(0.0, 1.0)])  # warm-up
t = time.perf_counter()
for x in clips:
    bb.embed(x, [(0.0, 1.0), (1.0, 2.0)])
wall = time.perf_counter() - t
audio = sum(x.size for x in clips) / 16000
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{audio / wall:.1f} {wall / len(clips) * 1000:.0f} {rss:.0f}")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--contexts", nargs="+", type=float, default=[30.0, 10.0, 2.4])
    ap.add_argument("--clips", type=int, default=40)
    args = ap.parse_args()
    print(f"{args.clips} EmoDB clips of 2 s, all layers tapped, 2 CPU threads")
    for size in args.sizes:
        for ctx in args.contexts:
            out = subprocess.run([sys.executable, "-c", CHILD, size, str(ctx), str(args.clips)], capture_output=True,
                                 text=True)
            if out.returncode:
                print(f"whisper-{size} context {ctx:g} s: failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            xrt, ms, rss = out.stdout.split()
            print(f"whisper-{size} context {ctx:g} s: {float(xrt):.1f}x real time ({ms} ms per 2 s clip), peak RSS {rss} MB")


if __name__ == "__main__":
    main()
