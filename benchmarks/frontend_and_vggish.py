"""The VGGish log-mel frontend against librosa on the same real speech, and the
VGGish network's throughput against this CPU's float32 GEMM ceiling measured in
the same run, for each of the usual levers (memory format, TorchScript freezing
with oneDNN fusion, batch size, threads; convolutions run on oneDNN throughout). Writes benchmarks/results/frontend_vggish.json.

    python benchmarks/frontend_and_vggish.py [--repeat 7]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, timed  # noqa: E402

from segser.encoders.backbones.vggish import VGGishNet  # noqa: E402
from segser.encoders.features import VGGishLogMel  # noqa: E402
from segser.io.audio import load  # noqa: E402
from segser.settings import data_dir  # noqa: E402


def vggish_gflop_per_patch() -> float:
    """Multiply-adds x 2 of one 96x64 patch, counted from the layer shapes."""
    flops, h, w, c = 0, 96, 64, 1
    for block in ([64], [128], [256, 256], [512, 512]):
        for out in block:
            flops += 2 * h * w * out * c * 9
            c = out
        h, w = h // 2, w // 2
    for fin, fout in ((512 * 6 * 4, 4096), (4096, 4096), (4096, 128)):
        flops += 2 * fin * fout
    return flops / 1e9


def gemm_ceiling(repeat: int) -> dict:
    """Best sustained float32 GEMM rate with torch's threads (the CPU's practical ceiling)."""
    best = {}
    for n in (1024, 2048, 3072):
        a, b = torch.randn(n, n), torch.randn(n, n)
        t = timed(lambda: a @ b, repeat=repeat)
        best[n] = 2 * n ** 3 / t["min"] / 1e9
    return {"gflops": max(best.values()), "by_size": best}


def variants(net: VGGishNet):
    """(name, callable on a batch of patches) for each lever."""
    plain = net.eval()
    yield "NCHW fp32 (eager)", lambda x: plain(x)
    cl = VGGishNet().eval()
    cl.load_state_dict(plain.state_dict())
    cl = cl.to(memory_format=torch.channels_last)
    yield "channels-last (eager)", lambda x: cl(x)
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(plain, torch.zeros(8, 96, 64)))
        frozen_cl = torch.jit.freeze(torch.jit.trace(cl, torch.zeros(8, 96, 64)))
    yield "TorchScript traced + frozen (oneDNN fusion)", lambda x: frozen(x)
    yield "channels-last, traced + frozen", lambda x: frozen_cl(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    torch.manual_seed(0)
    files = sorted((data_dir() / "emodb").glob("*.flac"))[:150]
    x = np.concatenate([load(f, sample_rate=16000) for f in files])  # 300 s of real speech
    seconds = x.size / 16000
    fe = VGGishLogMel()
    ours = timed(lambda: fe(x), repeat=args.repeat)
    import librosa

    theirs = timed(lambda: np.log(librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=512, win_length=400, hop_length=160, window="hann", center=False, power=1.0,
        n_mels=64, fmin=125, fmax=7500, htk=True, norm=None) + 0.01), repeat=args.repeat)
    frontend = {"audio_seconds": round(seconds, 1), "segser_ms": ours["median"] * 1000, "librosa_ms": theirs["median"] * 1000,
                "segser_spread": ours["spread"], "librosa_spread": theirs["spread"],
                "ratio_librosa_over_segser": theirs["median"] / ours["median"],
                "segser_x_realtime": seconds / ours["median"]}
    print(f"frontend on {seconds:.0f} s of EmoDB speech: segser {frontend['segser_ms']:.1f} ms, librosa "
          f"{frontend['librosa_ms']:.1f} ms (median of {args.repeat}); librosa/segser = "
          f"{frontend['ratio_librosa_over_segser']:.2f}")

    gflop = vggish_gflop_per_patch()
    threads_default = torch.get_num_threads()
    results, ceilings = [], {}
    for threads in sorted({1, threads_default}):
        torch.set_num_threads(threads)
        ceilings[threads] = gemm_ceiling(args.repeat)
        net = VGGishNet()
        for name, fn in variants(net):
            for batch in (16, 64, 256):
                patches = torch.randn(batch, 96, 64)
                with torch.no_grad():
                    t = timed(lambda: fn(patches), repeat=args.repeat, warmup=2)
                rate = batch / t["median"]
                row = {"variant": name, "threads": threads, "batch": batch, "patches_per_s": rate,
                       "gflops": rate * gflop, "spread": t["spread"],
                       "percent_of_ceiling": 100 * rate * gflop / ceilings[threads]["gflops"]}
                results.append(row)
                print(f"threads {threads} batch {batch:3d} {name:<44} {rate:7.1f} patches/s = {row['gflops']:6.1f} GFLOP/s "
                      f"= {row['percent_of_ceiling']:4.0f}% of the {ceilings[threads]['gflops']:.0f} GFLOP/s ceiling")
    torch.set_num_threads(threads_default)
    best = max((r for r in results if r["threads"] == threads_default), key=lambda r: r["percent_of_ceiling"])
    print(f"best with {threads_default} threads: {best['variant']}, batch {best['batch']}: "
          f"{best['percent_of_ceiling']:.0f}% of the ceiling")
    save("frontend_vggish", {"frontend": frontend, "vggish_gflop_per_patch": gflop,
                             "gemm_ceiling": {str(k): v for k, v in ceilings.items()}, "vggish": results, "best": best})


if __name__ == "__main__":
    main()
