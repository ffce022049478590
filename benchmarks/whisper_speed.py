"""Whisper encoder extraction speed (seconds of audio per second) and peak
memory per model size and input window, on real 2 s EmoDB clips. Each
configuration runs in a fresh process (its peak RSS is its own) and is
repeated; the median and spread are reported. Writes
benchmarks/results/whisper_speed.json.

    python benchmarks/whisper_speed.py [--sizes tiny.en base] [--contexts 30 5 1] [--clips 40] [--repeat 3]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

CHILD = """
import json, resource, sys, time
from segser.io.audio import load
from segser.encoders.backbones import create
from segser.encoders.engine import embed_signal
from segser.segmentation.windows import Segmentation
from segser.settings import data_dir
size, context, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
clips = [load(f) for f in sorted((data_dir() / "emodb").glob("*.flac"))[:n]]
bb = create("whisper", size=size, layer="all", context=context)
embed_signal(clips[0], bb, Segmentation())  # warm-up
t = time.perf_counter()
for x in clips:
    embed_signal(x, bb, Segmentation())
wall = time.perf_counter() - t
audio = sum(x.size for x in clips) / 16000
print(json.dumps({"x_realtime": audio / wall, "ms_per_clip": 1000 * wall / len(clips),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--contexts", nargs="+", type=float, default=[30.0, 5.0, 1.0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for size in args.sizes:
        for ctx in args.contexts:
            runs = []
            for _ in range(args.repeat):
                out = subprocess.run([sys.executable, "-c", CHILD, size, str(ctx), str(args.clips)], capture_output=True, text=True)
                if out.returncode:
                    print(f"whisper-{size} context {ctx:g} s: failed: {out.stderr.strip().splitlines()[-1]}")
                    break
                runs.append(json.loads(out.stdout))
            if not runs:
                continue
            xrt = [r["x_realtime"] for r in runs]
            row = {"size": size, "context_s": ctx, "x_realtime": statistics.median(xrt),
                   "spread": (max(xrt) - min(xrt)) / statistics.median(xrt),
                   "ms_per_clip": statistics.median(r["ms_per_clip"] for r in runs),
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
            rows.append(row)
            print(f"whisper-{size} context {ctx:g} s: {row['x_realtime']:.1f}x real time ({row['ms_per_clip']:.0f} ms per "
                  f"2 s clip, spread {100 * row['spread']:.0f}%), peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    save("whisper_speed", {"clips": args.clips, "repeat": args.repeat, "rows": rows})


if __name__ == "__main__":
    main()
