"""Speed of the VGGish frontend against librosa, and VGGish throughput against
this CPU's measured FLOP ceiling (issue 2). Prints figures; asserts nothing.

    python benchmarks/frontend_and_vggish.py
"""
import os
import platform
import time

import numpy as np
import torch

from segser.audio import load
from segser.backbones.vggish import VGGishNet
from segser.features import VGGishLogMel
from segser.settings import data_dir

VGGISH_GFLOP_PER_PATCH = 1.73  # multiply-adds x 2, paper/issue figure


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    files = sorted((data_dir() / "emodb").glob("*.flac"))[:150]
    x = np.concatenate([load(f, sample_rate=16000) for f in files])  # 300 s of real speech
    seconds = x.size / 16000
    fe = VGGishLogMel()
    t_ours = best_of(lambda: fe(x))
    import librosa

    t_lib = best_of(lambda: np.log(librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=512, win_length=400, hop_length=160, window="hann", center=False, power=1.0,
        n_mels=64, fmin=125, fmax=7500, htk=True, norm=None) + 0.01))
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(f"frontend on {seconds:.0f} s of EmoDB speech: segser {t_ours * 1000:.1f} ms ({seconds / t_ours:.0f}x real time), "
          f"librosa melspectrogram {t_lib * 1000:.1f} ms; ratio librosa/segser = {t_lib / t_ours:.2f}")

    # FLOP ceiling: best sustained float32 GEMM throughput of this CPU with torch's threads.
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = best_of(lambda: a @ b, repeat=10)
    ceiling = 2 * 2048 ** 3 / t / 1e9
    net = VGGishNet().eval()
    batch = torch.randn(64, 96, 64)
    with torch.no_grad():
        net(batch)
        t_v = best_of(lambda: net(batch), repeat=5)
    rate = 64 / t_v
    achieved = rate * VGGISH_GFLOP_PER_PATCH
    print(f"GEMM ceiling {ceiling:.1f} GFLOP/s; VGGish {rate:.1f} patches/s (batch 64) = {achieved:.1f} GFLOP/s "
          f"= {100 * achieved / ceiling:.0f}% of ceiling; {rate * 0.96:.0f}x real time")


if __name__ == "__main__":
    main()
