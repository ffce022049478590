"""Every CPU path of the built-in default model on the same hour of real speech,
in one run: wall time, peak RSS and model size per path, each predicted in a
fresh process; and whether each reduced-precision path keeps the decisions
(agreement with torch fp32 on every EmoDB and RAVDESS clip, and UA on them).

Paths: torch fp32; torch bf16 (autocast, only on CPUs with bf16 instructions);
onnxruntime fp32; onnxruntime int8 with dynamic quantisation of the weights;
onnxruntime int8 static (QDQ, activations calibrated on EmoDB/RAVDESS speech).
Writes benchmarks/results/fastest_path.json.

    python benchmarks/fastest_path.py [--minutes 60] [--clips all]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.audio import load  # noqa: E402
from segser.settings import data_dir  # noqa: E402

CHILD = r"""
import json, sys, time
path, kind, export_dir, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t0 = time.perf_counter()
from segser.model import load_model
from segser.inference import predict_file, iter_results
if kind.startswith("torch"):
    model = load_model("default", runtime="torch")
else:
    from segser.model import EmotionModel
    from segser.onnx_model import load_exported
    import shutil
    model = EmotionModel(**load_exported(export_dir, "default", precision="int8" if "int8" in kind else "fp32"))
if kind == "torch-bf16":
    import torch
    enc = model.encoder.encode_windows
    def bf16(windows):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return enc(windows).astype("float32")
    model.encoder.encode_windows = bf16
load_s = time.perf_counter() - t0
if path.endswith(".txt"):
    files = open(path).read().split("\n")
    t = time.perf_counter()
    rows = [[r.file, r.decision.get("label")] + [r.decision.get("p_" + c) for c in model.classes]
            for r in iter_results(files, model)]
    json.dump({"rows": rows, "classes": model.classes, "wall": time.perf_counter() - t}, open(out, "w"))
else:
    t = time.perf_counter()
    r = predict_file(model, path)
    wall = time.perf_counter() - t
    json.dump({"wall": wall, "load": load_s, "segments": len(r.segments), "label": r.decision["label"]}, open(out, "w"))
"""


def bf16_supported() -> tuple[bool, str]:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return True, "CPU has avx512_bf16/amx_bf16"
    return False, "skipped: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16); autocast would emulate bf16 slowly"


def build_hour(minutes: float, path: Path) -> None:
    files = sorted((data_dir() / "ravdess").rglob("*.flac")) + sorted((data_dir() / "emodb").glob("*.flac"))
    need = int(minutes * 60 * 16000)
    with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC") as out:
        written, i = 0, 0
        while written < need:
            x = load(files[i % len(files)], sample_rate=16000)[: need - written]
            out.write(x)
            written += x.size
            i += 1


def run(kind: str, target: str, export_dir: Path, tmp: Path) -> tuple[dict, float]:
    out = tmp / f"{kind}.json"
    rss = tmp / f"{kind}.rss"
    subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss), sys.executable, "-c", CHILD, target, kind,
                    str(export_dir), str(out)], check=True)
    return json.loads(out.read_text()), float(rss.read_text().split()[-1]) / 1024


def calibration_mels(n: int = 64) -> list:
    """Log-mel windows (5 s, as the default model encodes) of training speech (EmoDB and RAVDESS)."""
    from segser.features import WhisperLogMel

    fe = WhisperLogMel()
    files = sorted((data_dir() / "emodb").glob("*.flac"))[::9] + sorted((data_dir() / "ravdess").rglob("*.flac"))[::25]
    mels = []
    for f in files[:n]:
        x = load(f)
        w = np.zeros(80000, np.float32)
        w[: min(x.size, 80000)] = x[:80000]
        mels.append(fe(w[None]))
    return mels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--clips", default="all", help="'all' EmoDB + RAVDESS clips for the agreement check, or a number")
    args = ap.parse_args()
    from segser.export import export, quantize_static
    from segser.model import load_model

    ok_bf16, bf16_note = bf16_supported()
    kinds = ["torch-fp32"] + (["torch-bf16"] if ok_bf16 else []) + ["onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export(load_model("default", runtime="torch"), tmp / "export")
        static = tmp / "export-static"
        shutil.copytree(tmp / "export", static)
        quantize_static(static / "encoder.onnx", static / "encoder.int8.onnx", calibration_mels())
        doc = json.loads((static / "export.json").read_text())
        from segser.fileio import file_digest

        doc["sha256"]["encoder.int8.onnx"] = file_digest(static / "encoder.int8.onnx")
        (static / "export.json").write_text(json.dumps(doc))
        exports = {"onnx-fp32": tmp / "export", "onnx-int8-dynamic": tmp / "export", "onnx-int8-static": static,
                   "torch-fp32": tmp / "export", "torch-bf16": tmp / "export"}
        sizes = {"torch-fp32": _torch_size(), "torch-bf16": _torch_size(),
                 "onnx-fp32": _mb(tmp / "export", ["encoder.onnx", "head.onnx"]),
                 "onnx-int8-dynamic": _mb(tmp / "export", ["encoder.int8.onnx", "head.onnx"]),
                 "onnx-int8-static": _mb(static, ["encoder.int8.onnx", "head.onnx"])}
        hour = tmp / "speech.flac"
        build_hour(args.minutes, hour)
        clips = sorted(str(p) for p in (data_dir() / "emodb").glob("*.flac")) + \
            sorted(str(p) for p in (data_dir() / "ravdess").rglob("*.flac"))
        if args.clips != "all":
            clips = clips[:: max(1, len(clips) // int(args.clips))]
        (tmp / "clips.txt").write_text("\n".join(clips))
        rows, decisions = {}, {}
        for kind in kinds:
            speed, rss = run(kind, str(hour), exports[kind], tmp)
            acc, _ = run(kind, str(tmp / "clips.txt"), exports[kind], tmp)
            decisions[kind] = acc
            rows[kind] = {"wall_s": speed["wall"], "x_realtime": args.minutes * 60 / speed["wall"], "peak_rss_mb": rss,
                          "model_mb": sizes[kind], "load_s": speed["load"], "segments": speed["segments"]}
            print(f"{kind:<18} 1 h in {speed['wall']:6.1f} s ({rows[kind]['x_realtime']:5.0f}x), peak RSS {rss:5.0f} MB, "
                  f"model {sizes[kind]:5.1f} MB", flush=True)
    ref = decisions["torch-fp32"]
    classes = ref["classes"]
    truth = [_true_label(r[0]) for r in ref["rows"]]
    for kind, d in decisions.items():
        labels = [r[1] for r in d["rows"]]
        agree = float(np.mean([a == b for a, b in zip(labels, [r[1] for r in ref["rows"]])]))
        rows[kind].update({"agreement_with_torch_fp32": agree, "UA": _ua(truth, labels, classes)})
        p_ref = np.array([r[2:] for r in ref["rows"]], float)
        p = np.array([r[2:] for r in d["rows"]], float)
        rows[kind]["max_abs_probability_difference"] = float(np.abs(p - p_ref).max())
        print(f"{kind:<18} decisions agree with torch fp32 on {100 * agree:.2f}% of {len(labels)} clips; UA {rows[kind]['UA']:.4f}")
    fp32_ua = rows["torch-fp32"]["UA"]
    for kind in rows:
        rows[kind]["UA_change_points"] = 100 * (rows[kind]["UA"] - fp32_ua)
        rows[kind]["keeps_decisions"] = rows[kind]["agreement_with_torch_fp32"] >= 0.99 and abs(rows[kind]["UA_change_points"]) <= 0.5
    fastest = min((k for k in rows if rows[k]["keeps_decisions"]), key=lambda k: rows[k]["wall_s"])
    print(f"fastest path that keeps the decisions: {fastest}")
    save("fastest_path", {"minutes": args.minutes, "paths": rows, "fastest": fastest, "bf16": bf16_note,
                          "clips_checked": len(ref["rows"])})


def _torch_size() -> float:
    """The default model's torch weights: the Whisper tiny.en file (CTranslate2 float16) and the head."""
    from segser.model import BUILTIN_DIR
    from segser.weights import resolve

    return (resolve("whisper-tiny.en").stat().st_size + (BUILTIN_DIR / "default" / "model.pt").stat().st_size) / 1e6


def _mb(folder: Path, files) -> float:
    return sum((folder / f).stat().st_size for f in files) / 1e6


def _true_label(path: str):
    from segser import corpora

    name = Path(path).stem
    if "ravdess" in path:
        return corpora.ravdess.EMOTIONS.get(name.split("-")[2])
    return corpora.emodb.EMOTIONS.get(name[5])


def _ua(truth, labels, classes) -> float:
    recalls = [np.mean([lab == c for t, lab in zip(truth, labels) if t == c]) for c in classes if c in truth]
    return float(np.mean(recalls))


if __name__ == "__main__":
    main()
