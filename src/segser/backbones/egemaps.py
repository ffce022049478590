"""openSMILE eGeMAPSv02 functionals (88 per span): the classical anchor baseline
(``pip install opensmile``, which ships its binary). Spans are not zero-padded:
functionals are computed over the real samples only."""
from __future__ import annotations

import numpy as np

from .base import Backbone


class EGeMAPS(Backbone):
    name = "egemaps"
    dim = 88
    layers = ("functionals",)

    def __init__(self):
        super().__init__()
        try:
            import opensmile
        except ImportError as exc:
            raise ImportError("the egemaps backbone needs openSMILE: pip install opensmile") from exc
        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                     feature_level=opensmile.FeatureLevel.Functionals)

    def describe(self) -> dict:
        return {"backbone": self.name, "feature_set": "eGeMAPSv02", "level": "functionals"}

    def embed(self, x, spans):
        sr = self.sample_rate
        out = []
        for s, e in spans:
            piece = x[int(round(s * sr)): min(int(round(e * sr)), x.size)]
            if piece.size < sr // 10:
                piece = np.pad(piece, (0, sr // 10 - piece.size))
            out.append(self.smile.process_signal(piece, sr).to_numpy()[0])
        return np.nan_to_num(np.asarray(out, dtype=np.float32))
