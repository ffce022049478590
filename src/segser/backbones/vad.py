"""Silero VAD (MIT; its weights ship inside the ``silero-vad`` PyPI package and
are found through the resolver like every other pretrained file)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..weights import resolve


@lru_cache(maxsize=1)
def _model():
    model = torch.jit.load(str(resolve("silero-vad")), map_location="cpu")
    return model.eval()


def silero_speech_regions(x: np.ndarray, *, sample_rate: int = 16000, min_speech: float = 0.25,
                          min_silence: float = 0.2, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech regions (start, end) in seconds."""
    from silero_vad import get_speech_timestamps

    if sample_rate != 16000:
        raise ValueError("Silero VAD is used at 16 kHz here; resample first")
    model = _model()
    model.reset_states()
    ts = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), model, threshold=threshold,
                               sampling_rate=sample_rate, min_speech_duration_ms=int(min_speech * 1000),
                               min_silence_duration_ms=int(min_silence * 1000))
    return [(t["start"] / sample_rate, t["end"] / sample_rate) for t in ts]
