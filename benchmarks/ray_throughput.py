"""Throughput of predicting a folder of real recordings, in one run: the
single-process `segser predict` path, and Ray with 1 and 2 workers on a local
instance (num_cpus=2), in seconds of audio per wall second. From the measured
per-worker rate, the sizing note: cores and hours for 10,000 hours of speech.
Writes benchmarks/results/ray_throughput.json.

    python benchmarks/ray_throughput.py [--files 300]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.settings import data_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--batch-files", type=int, default=16)
    args = ap.parse_args()
    import ray

    from segser.pipeline import Pipeline
    from segser.runtime.cluster import predict_to_parquet

    files = (sorted((data_dir() / "ravdess").rglob("*.flac")) + sorted((data_dir() / "emodb").glob("*.flac")))[:: 1]
    files = files[:: max(1, len(files) // args.files)][: args.files]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "inputs"
        folder.mkdir()
        for f in files:
            os.symlink(f, folder / f.name)
        pipeline = Pipeline("default")
        t = time.perf_counter()
        audio = sum(r.decision.duration for r in pipeline.run([folder]) if r.ok)
        single = time.perf_counter() - t
        rows = {"single_process": {"wall_s": single, "audio_s_per_s": audio / single, "workers": 1}}
        print(f"{len(files)} files, {audio / 60:.1f} min of audio; single process: {audio / single:.1f} s of audio per s")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            for workers in (1, 2):
                out = Path(tmp) / f"out{workers}"
                t = time.perf_counter()
                summary = predict_to_parquet([folder], out, workers=workers, batch_files=args.batch_files)
                wall = time.perf_counter() - t
                rows[f"ray_{workers}_workers"] = {"wall_s": wall, "audio_s_per_s": audio / wall, "workers": workers,
                                                  "inner_seconds": summary["seconds"]}
                print(f"Ray, {workers} worker(s): {audio / wall:.1f} s of audio per s ({wall:.0f} s with actor start-up)")
                shutil.rmtree(out)
        finally:
            ray.shutdown()
    per_core = rows["ray_2_workers"]["audio_s_per_s"] / 2
    hours = 10_000
    sizing = {"audio_hours": hours, "per_core_audio_s_per_s": per_core,
              "core_hours": hours * 3600 / per_core / 3600,
              "cores_for_one_day": hours * 3600 / per_core / 86400,
              "hours_on_512_cores": hours * 3600 / per_core / 512 / 3600}
    print(f"per core {per_core:.1f} s of audio per s: 10,000 h of speech = {sizing['core_hours']:.0f} core-hours; "
          f"{sizing['cores_for_one_day']:.0f} cores for a day, or {sizing['hours_on_512_cores']:.1f} h on 512 cores")
    save("ray_throughput", {"files": len(files), "audio_minutes": audio / 60, "paths": rows, "sizing": sizing})


if __name__ == "__main__":
    main()
