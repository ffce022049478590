"""A corpus's segment embeddings (:class:`Embeddings`) through one loop with one cache, keyed by (audio
content, backbone description with weight digests, segmentation, noise condition), and real-noise mix-up of
every clip by one seeding rule (:class:`NoiseMix`, paper 002)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segser.encoders.engine import embed_signal
from segser.errors import AudioError
from segser.io.audio import load
from segser.io.files import atomic_path, file_digest
from segser.io.progress import progress_bar
from segser.options import as_dict
from segser.segmentation.config import Segmentation
from segser.settings import cache_dir

ENGINE_VERSION = 3  # part of the cache key: bump when cutting or pooling changes (3: tail rule, speech share)



@dataclass
class Embeddings:
    """Segment embeddings of a manifest: row i of ``X`` belongs to clip ``clip[i]``
    (an index into the manifest), spans ``start[i]``..``end[i]`` seconds and is
    ``speech[i]`` speech (the share Silero VAD calls speech)."""

    X: np.ndarray
    clip: np.ndarray
    start: np.ndarray
    end: np.ndarray
    speech: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    def rows(self, mask: np.ndarray) -> "Embeddings":
        return Embeddings(self.X[mask], self.clip[mask], self.start[mask], self.end[mask], self.speech[mask])

    def select(self, clips: np.ndarray) -> "Embeddings":
        return self.rows(np.isin(self.clip, clips))

    def voiced(self, gate: float) -> "Embeddings":
        """Only the segments with at least ``gate`` speech (what the timeline lets vote)."""
        return self.rows(self.speech >= gate)

    def with_features(self, X: np.ndarray) -> "Embeddings":
        return Embeddings(X, self.clip, self.start, self.end, self.speech, self.errors)

    @classmethod
    def concat(cls, parts: list["Embeddings"]) -> "Embeddings":
        """The segments of ``parts`` one after another (clip indices kept as they are)."""
        return cls(*(np.concatenate([getattr(e, k) for e in parts]) for k in ("X", "clip", "start", "end", "speech")))



@dataclass(frozen=True)
class NoiseMix:
    """Real-noise mix-up of every clip (paper 002) by one seeding rule, so train and
    evaluate build the same noisy test set: the generator is seeded by (seed, the
    clip's audio digest, the condition), the condition being a training copy
    number or ``1000 + 10 x SNR`` for a test set."""

    bank: object  # augment.NoiseBank
    snrs: tuple[float, ...]
    seed: int
    condition: int
    tag: str  # cache folder name: says which bank, SNRs, seed and condition

    def __call__(self, x: np.ndarray, digest: str) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(digest[:12], 16), self.condition])
        snr = float(rng.choice(self.snrs)) if len(self.snrs) > 1 else float(self.snrs[0])
        return self.bank.mix(x, snr, rng)

    @classmethod
    def training_copy(cls, bank, snrs, *, seed: int, copy: int) -> "NoiseMix":
        snrs = tuple(float(s) for s in snrs)
        return cls(bank, snrs, seed, copy, f"train-noise-{bank.id}-{'_'.join(map(str, snrs))}-s{seed}-c{copy}")

    @classmethod
    def test_set(cls, bank, snr: float, *, seed: int) -> "NoiseMix":
        snr = float(snr)
        return cls(bank, (snr,), seed, 1000 + int(round(snr * 10)), f"test-noise-{bank.id}-{snr:g}-s{seed}")



def cache_key(encoder, segmentation: Segmentation) -> str:
    seg = as_dict(segmentation)
    if seg["context"] == "tiled":
        del seg["context"]  # the key of every cache made before trailing windows existed
    else:
        seg["tail"] = "dropped"  # trailing windows: a short tail is dropped, not merged (no segment held back)
    desc = {"engine": ENGINE_VERSION, **encoder.describe(), "segmentation": seg}
    return hashlib.sha1(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]



def clips(paths, *, errors: dict, progress: bool = False, desc: str = "clips"):
    """``(index, path, sha1 of the file)`` for every readable path; the rest go to ``errors``."""

    for i, path in enumerate(progress_bar(list(paths), desc=desc, enabled=progress, leave=False)):
        try:
            yield i, path, file_digest(path, "sha1")
        except OSError as exc:
            errors[i] = f"{path}: unreadable ({exc.strerror})"



def clip_signal(path, digest: str, *, sample_rate: int, noise: NoiseMix | None = None) -> np.ndarray:
    x = load(path, sample_rate=sample_rate)
    return noise(x, digest) if noise is not None else x



def embed_manifest(df: pd.DataFrame, encoder, segmentation: Segmentation, *, noise: NoiseMix | None = None,
                   use_cache: bool = True, progress: bool = True) -> Embeddings:
    """Embeddings of every clip in ``df`` (clean, or mixed with ``noise``);
    unreadable clips are reported in ``errors`` and left out, never abort the run."""
    root = cache_dir() / "embeddings" / f"{encoder.name}-{cache_key(encoder, segmentation)}" / (noise.tag if noise else "clean")
    X, clip, start, end, speech, errors = [], [], [], [], [], {}
    for i, path, digest in clips(df["path"], errors=errors, progress=progress, desc=f"embed {encoder.name}"):
        cached = root / f"{digest}.npz" if use_cache else None
        if cached is not None and cached.exists():
            with np.load(cached) as z:
                emb, spans, share = z["X"], z["spans"], z["speech"]
        else:
            try:
                emb, spans, share = embed_signal(clip_signal(path, digest, sample_rate=encoder.sample_rate, noise=noise),
                                                 encoder, segmentation, name=path)
            except AudioError as exc:
                errors[i] = str(exc)
                continue
            if cached is not None:
                save_npz_atomic(cached, X=emb, spans=spans, speech=share)
        X.append(emb)
        clip.append(np.full(len(emb), i))
        start.append(spans[:, 0])
        end.append(spans[:, 1])
        speech.append(share)
    if not X:
        raise AudioError(df["path"].iloc[0] if len(df) else "<empty manifest>", "no clip could be embedded: "
                         + "; ".join(list(errors.values())[:3]))
    return Embeddings(np.concatenate(X), np.concatenate(clip), np.concatenate(start), np.concatenate(end),
                      np.concatenate(speech), errors)



def save_npz_atomic(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)

