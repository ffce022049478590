"""openSMILE eGeMAPSv02 functionals (88 per segment): the classical anchor baseline
(``pip install opensmile``, which ships its binary). Segments are not zero-padded:
functionals are computed over the real samples only (at least 0.1 s)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.encoders.backbones.base import Backbone


@dataclass(frozen=True)
class EGeMAPSConfig:
    pass


class EGeMAPS(Backbone):
    name = "egemaps"
    config_type = EGeMAPSConfig
    dim = 88
    zero_pad = False

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        try:
            import opensmile
        except ImportError as exc:
            raise ImportError("the egemaps backbone needs openSMILE: pip install opensmile") from exc
        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                     feature_level=opensmile.FeatureLevel.Functionals)
        self.version = opensmile.__version__

    def describe(self) -> dict:
        return {"backbone": self.name, "feature_set": "eGeMAPSv02", "level": "functionals", "opensmile": self.version}

    def embed_segments(self, segments):
        sr, out = self.sample_rate, []
        for piece in segments:
            if piece.size < sr // 10:
                piece = np.pad(piece, (0, sr // 10 - piece.size))
            out.append(self.smile.process_signal(piece, sr).to_numpy()[0])
        return np.nan_to_num(np.asarray(out, dtype=np.float32)).reshape(len(segments), self.dim)
