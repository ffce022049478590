"""Every CPU path of the built-in default model, in one run on this machine:

* speed: the same hour of real speech predicted in a fresh process per path (wall time, peak RSS, model size;
  ``--repeats N``: N fresh processes per path, the median's figures),
  and the share of the fp32 GEMM ceiling measured in this run that each path reaches;
* less work: the default path again with the speech gate off (every window encoded), so the gain from not
  encoding what holds no speech is reported on its own;
* accuracy, judged by what users feel: UA and ECE per corpus against torch fp32, on the corpora the model was
  trained on (EmoDB, RAVDESS, nEMO: the same clips, so only the change means anything) and on the corpora it never
  heard (ASED, EMOVO, SAVEE, TESS); the bar: no corpus's UA more than 0.5 points below torch fp32's (the largest
  change either way is reported too) and ECE within 0.02;
* start-up: one 2 s clip from the command line, median wall of 5 fresh processes, default runtime.

Paths: torch fp32; torch bf16 (autocast, only on CPUs with bf16 instructions); onnxruntime fp32; onnxruntime int8
with dynamic quantisation of the weights (signed, per channel; QOperator) of every product with a weight matrix
("-linear": feed-forward and attention projections; the export's int8), of the feed-forward layers only ("-mlp")
and of every matrix product and convolution ("-all"); onnxruntime int8 static (QDQ,
activations calibrated on EmoDB/RAVDESS speech). Writes benchmarks/results/fastest_path.json.

    python benchmarks/fastest_path.py [--minutes 60] [--clips 1000]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.io.audio import load  # noqa: E402
from segser.settings import data_dir  # noqa: E402

SEEN = ("emodb", "ravdess", "nemo")
HELD_OUT = ("ased", "emovo", "savee", "tess")

CHILD = r"""
import json, sys, time
path, kind, export_dir, out, gate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
t0 = time.perf_counter()
from segser.model import load_model
if kind.startswith("torch"):
    model = load_model("default", runtime="torch")
else:
    from segser.model import EmotionModel
    from segser.runtime.onnx import load_exported
    model = EmotionModel(**load_exported(export_dir, "default", precision="int8" if "int8" in kind else "fp32"))
if kind == "torch-bf16":
    import torch
    enc = model.encoder.encode_windows
    def bf16(windows):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return enc(windows).astype("float32")
    model.encoder.encode_windows = bf16
load_s = time.perf_counter() - t0
if path.endswith(".csv"):
    import pandas as pd
    from segser.encoders.engine import embed_manifest
    from segser.training.evaluation import evaluate_logits, per_corpus
    manifest = pd.read_csv(path)
    emb = embed_manifest(manifest, model.encoder, model.segmentation, progress=False)
    _, preds = evaluate_logits(model.logits(emb.X), emb, manifest, model.classes, "mean_logits",
                               speech_gate=model.speech_gate)
    json.dump(per_corpus(preds, model.classes), open(out, "w"))
else:
    from segser.pipeline import Pipeline, PredictOptions
    t = time.perf_counter()
    r = Pipeline(model, PredictOptions(speech_gate=None if gate < 0 else gate)).run_file(path)
    wall = time.perf_counter() - t
    json.dump({"wall": wall, "load": load_s, "segments": len(r.segments), "label": r.decision.label,
               "no_speech": int((r.segments["label"] == "no speech").sum())}, open(out, "w"))
"""


def cpu_features() -> list[str]:
    """The instruction sets the paths can use on this CPU."""
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return sorted(set(flags) & {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                                "amx_bf16", "amx_int8"})


def bf16_supported() -> tuple[bool, str]:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return True, "CPU has avx512_bf16/amx_bf16"
    return False, "skipped: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16); autocast would emulate bf16 slowly"


def build_hour(minutes: float, path: Path) -> None:
    """Real speech as it comes: RAVDESS and EmoDB clips back to back, with the pauses they hold."""
    files = sorted((data_dir() / "ravdess").rglob("*.flac")) + sorted((data_dir() / "emodb").glob("*.flac"))
    need = int(minutes * 60 * 16000)
    with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC") as out:
        written, i = 0, 0
        while written < need:
            x = load(files[i % len(files)], sample_rate=16000)[: need - written]
            out.write(x)
            written += x.size
            i += 1


def clip_manifest(per_corpus: int, path: Path) -> dict:
    """Every corpus's clips with the model's labels, ``per_corpus`` of them (evenly spread; 0: all), as one CSV."""
    import pandas as pd

    from segser.model import load_model
    from segser.training import corpora, labels

    classes = load_model("default", runtime="onnx").classes
    parts = []
    for name in SEEN + HELD_OUT:
        df, _ = labels.apply(corpora.load(name, data_dir() / name), ",".join(classes))
        parts.append(df.iloc[:: max(1, len(df) // per_corpus)].head(per_corpus) if per_corpus else df)
    manifest = pd.concat(parts, ignore_index=True)
    manifest.to_csv(path, index=False)
    return manifest.groupby("corpus").size().to_dict()


def run(kind: str, target: str, export_dir: Path, tmp: Path, *, gate: float = -1) -> tuple[dict, float]:
    out = tmp / f"{kind}.json"
    rss = tmp / f"{kind}.rss"
    env = {**os.environ, "SEGSER_CACHE": str(tmp / "cache" / kind)}  # embeddings made by this path, in this run
    subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss), sys.executable, "-c", CHILD, target, kind,
                    str(export_dir), str(out), str(gate)], check=True, env=env)
    return json.loads(out.read_text()), float(rss.read_text().split()[-1]) / 1024


def gemm_ceiling() -> dict:
    """torch fp32 GEMM throughput on this machine now: square matrices and the encoder's own MLP shape."""
    import torch

    out = {}
    for label, (m, k, n) in {"2048^3": (2048, 2048, 2048), "4096^3": (4096, 4096, 4096),
                             "encoder 2000x384x1536": (2000, 384, 1536)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        reps = max(3, int(2e10 / (2 * m * k * n)))
        torch.mm(a, b)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b)
            best = min(best, (time.perf_counter() - t) / reps)
        out[label] = 2 * m * k * n / best / 1e9
    return out


def encoder_gflop_per_audio_second() -> float:
    """FLOPs of the default model's encoder on one window, counted by torch, per second of audio."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from segser.model import load_model

    enc = load_model("default", runtime="torch").encoder
    window = np.zeros((1, int(enc.window_seconds * 16000)), np.float32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        enc.encode_windows(window)
    return counter.get_total_flops() / 1e9 / enc.window_seconds


def start_up(clip: str, runs: int = 5) -> dict:
    """One short clip from the command line with the default runtime: wall of fresh processes."""
    segser = shutil.which("segser") or "segser"
    subprocess.run([segser, "predict", clip, "--quiet"], check=True, capture_output=True)  # the export exists after this
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([segser, "predict", clip, "--quiet"], check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
    return {"clip": Path(clip).name, "clip_seconds": round(sf.info(clip).duration, 3), "walls_s": walls,
            "median_s": statistics.median(walls)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--clips", type=int, default=1000, help="clips per corpus for the accuracy check (0: every clip)")
    ap.add_argument("--paths", nargs="+", help="only these paths (torch-fp32, the reference, is always run)")
    ap.add_argument("--name", help="results file suffix (fastest_path-NAME.json)")
    ap.add_argument("--repeats", type=int, default=1, help="fresh processes per path on the hour: wall = their median")
    args = ap.parse_args()
    from segser.io.files import file_digest
    from segser.model import load_model
    from segser.runtime.export import INT8_LAYERS, export, quantize, quantize_static
    from segser.runtime.onnx import DEFAULT_PRECISION, INT8_DEFAULT

    ceiling = gemm_ceiling()
    gflop_s = encoder_gflop_per_audio_second()
    ceiling_gflops = max(ceiling.values())
    print(f"fp32 GEMM ceiling now: {', '.join(f'{k} {v:.0f}' for k, v in ceiling.items())} GFLOP/s; "
          f"encoder {gflop_s:.2f} GFLOP per second of audio", flush=True)
    ok_bf16, bf16_note = bf16_supported()
    kinds = ["torch-fp32"] + (["torch-bf16"] if ok_bf16 else []) + ["onnx-fp32"] + [
        f"onnx-int8-dynamic-{layers}" for layers in INT8_LAYERS] + ["onnx-int8-static"]
    if args.paths:
        kinds = [k for k in kinds if k == "torch-fp32" or k in args.paths]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export(load_model("default", runtime="torch"), tmp / "export")
        static = tmp / "export-static"
        shutil.copytree(tmp / "export", static)
        quantize_static(static / "encoder.onnx", static / "encoder.int8.onnx", calibration_mels())
        exports = {"onnx-int8-static": static}
        for layers in sorted(set(INT8_LAYERS) - {INT8_DEFAULT}):  # the export's own int8 copy is INT8_DEFAULT's
            exports[f"onnx-int8-dynamic-{layers}"] = folder = tmp / f"export-{layers}"
            shutil.copytree(tmp / "export", folder)
            quantize(folder / "encoder.onnx", folder / "encoder.int8.onnx", layers=layers)
        for folder in exports.values():
            doc = json.loads((folder / "export.json").read_text())
            doc["sha256"]["encoder.int8.onnx"] = file_digest(folder / "encoder.int8.onnx")
            (folder / "export.json").write_text(json.dumps(doc))
        exports = {k: exports.get(k, tmp / "export") for k in kinds}
        sizes = {k: _torch_size() if k.startswith("torch") else
                 _mb(exports[k], ["encoder.int8.onnx" if "int8" in k else "encoder.onnx", "head.onnx"]) for k in kinds}
        hour = tmp / "speech.flac"
        build_hour(args.minutes, hour)
        counts = clip_manifest(args.clips, tmp / "clips.csv")
        rows, accuracy = {}, {}
        for kind in kinds:
            runs = [run(kind, str(hour), exports[kind], tmp) for _ in range(max(args.repeats, 1))]
            walls = [r[0]["wall"] for r in runs]
            speed, rss = runs[walls.index(statistics.median_high(walls))]
            accuracy[kind], _ = run(kind, str(tmp / "clips.csv"), exports[kind], tmp)
            gflops = gflop_s * args.minutes * 60 / speed["wall"]
            rows[kind] = {"wall_s": speed["wall"], "x_realtime": args.minutes * 60 / speed["wall"], "peak_rss_mb": rss,
                          "model_mb": sizes[kind], "load_s": speed["load"], "segments": speed["segments"],
                          "no_speech_segments": speed["no_speech"], "encoder_gflops": gflops,
                          "share_of_fp32_ceiling": gflops / ceiling_gflops, "walls_s": walls}
            print(f"{kind:<18} 1 h in {speed['wall']:6.1f} s ({rows[kind]['x_realtime']:5.0f}x), peak RSS {rss:5.0f} MB, "
                  f"model {sizes[kind]:5.1f} MB, {100 * rows[kind]['share_of_fp32_ceiling']:.0f}% of the fp32 ceiling",
                  flush=True)
        default_kind = {"int8": f"onnx-int8-dynamic-{INT8_DEFAULT}", "fp32": "onnx-fp32"}[DEFAULT_PRECISION]
        ungated = run(default_kind, str(hour), exports[default_kind], tmp, gate=0.0)[0] if default_kind in rows else None
    skip = None
    if ungated is not None:
        skip = {"path": default_kind, "wall_s_gate_off": ungated["wall"], "wall_s_gate_on": rows[default_kind]["wall_s"],
                "no_speech_segments": rows[default_kind]["no_speech_segments"], "segments": rows[default_kind]["segments"],
                "gain": ungated["wall"] / rows[default_kind]["wall_s"]}
        print(f"skipping non-speech: {skip['no_speech_segments']} of {skip['segments']} segments hold no speech; "
              f"{default_kind} {skip['wall_s_gate_off']:.1f} s with the gate off, {skip['wall_s_gate_on']:.1f} s on "
              f"({skip['gain']:.2f}x)")
    ref = accuracy["torch-fp32"]
    for kind, per in accuracy.items():
        change = {c: {"UA_points": 100 * (per[c]["UA"] - ref[c]["UA"]), "ECE": per[c]["ECE"] - ref[c]["ECE"]}
                  for c in per}
        worst_ua = max(abs(v["UA_points"]) for v in change.values())
        worst_loss = max(0.0, -min(v["UA_points"] for v in change.values()))
        worst_ece = max(abs(v["ECE"]) for v in change.values())
        # the bar is on what a user loses: no corpus's UA more than 0.5 points below fp32's (a gain is no harm)
        rows[kind].update({"per_corpus": per, "change_vs_torch_fp32": change, "worst_UA_change_points": worst_ua,
                           "worst_UA_loss_points": worst_loss, "worst_ECE_change": worst_ece,
                           "meets_accuracy_bar": worst_loss <= 0.5 and worst_ece <= 0.02})
        print(f"{kind:<18} worst UA loss {worst_loss:.2f} points (change {worst_ua:.2f}), worst ECE change {worst_ece:.3f} over "
              f"{len(per)} corpora: {'meets' if rows[kind]['meets_accuracy_bar'] else 'misses'} the bar")
    fastest = min((k for k in rows if rows[k]["meets_accuracy_bar"]), key=lambda k: rows[k]["wall_s"])
    print(f"fastest path that meets the accuracy bar: {fastest} "
          f"({rows['torch-fp32']['wall_s'] / rows[fastest]['wall_s']:.2f}x torch fp32)")
    clip = str(data_dir() / "emodb-originals" / "03a01Wa.wav")
    startup = start_up(clip)
    print(f"one {startup['clip_seconds']} s clip from the command line: median {startup['median_s']:.2f} s of 5 fresh "
          "processes")
    save("fastest_path" + (f"-{args.name}" if args.name else ""),
         {"minutes": args.minutes, "paths": rows, "fastest": fastest, "default": default_kind, "bf16": bf16_note,
          "clips_per_corpus": counts, "seen_corpora": list(SEEN), "held_out_corpora": list(HELD_OUT),
          "gemm_ceiling_gflops": ceiling, "encoder_gflop_per_audio_second": gflop_s,
          "skip_non_speech": skip, "start_up": startup, "cpu_features": cpu_features()},
         command=f"python benchmarks/fastest_path.py --minutes {args.minutes:g} --clips {args.clips}"
         + (f" --paths {' '.join(args.paths)}" if args.paths else "") + (f" --name {args.name}" if args.name else "")
         + (f" --repeats {args.repeats}" if args.repeats > 1 else ""))


def calibration_mels(n: int = 64) -> list:
    """Log-mel windows (5 s, as the default model encodes) of training speech (EmoDB and RAVDESS)."""
    from segser.encoders.features import WhisperLogMel

    fe = WhisperLogMel()
    files = sorted((data_dir() / "emodb").glob("*.flac"))[::9] + sorted((data_dir() / "ravdess").rglob("*.flac"))[::25]
    mels = []
    for f in files[:n]:
        x = load(f)
        w = np.zeros(80000, np.float32)
        w[: min(x.size, 80000)] = x[:80000]
        mels.append(fe(w[None]))
    return mels


def _torch_size() -> float:
    """The default model's torch weights: the Whisper tiny.en file (CTranslate2 float16) and the head."""
    from segser.model import BUILTIN_DIR
    from segser.weights import resolve

    return (resolve("whisper-tiny.en").stat().st_size + (BUILTIN_DIR / "default" / "model.pt").stat().st_size) / 1e6


def _mb(folder: Path, files) -> float:
    return sum((folder / f).stat().st_size for f in files) / 1e6


if __name__ == "__main__":
    main()
