"""Embedding cache: segment embeddings keyed by (audio content, backbone config,
segmentation), so training a head never recomputes a frozen backbone."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .fileio import atomic_path, file_digest
from .audio import AudioError, load
from .segments import Segmentation, spans_for
from .settings import cache_dir


@dataclass
class Embeddings:
    """Segment embeddings of a manifest: row i of ``X`` belongs to clip ``clip[i]``
    (an index into the manifest) and spans ``start[i]``..``end[i]`` seconds."""

    X: np.ndarray
    clip: np.ndarray
    start: np.ndarray
    end: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    def select(self, clips: np.ndarray) -> "Embeddings":
        mask = np.isin(self.clip, clips)
        return Embeddings(self.X[mask], self.clip[mask], self.start[mask], self.end[mask])


def config_key(backbone, segmentation: Segmentation) -> str:
    desc = {**backbone.describe(), "segmentation": dataclasses.asdict(segmentation)}
    return hashlib.sha1(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_npz_atomic(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def embed_signal(x: np.ndarray, backbone, segmentation: Segmentation, *, name="<signal>"):
    """(segment embeddings, spans) of a mono signal at the backbone's rate."""
    spans = spans_for(x, sample_rate=backbone.sample_rate, segmentation=segmentation)
    if not spans:
        raise AudioError(name, "no speech found by the voice activity detector")
    return backbone.embed(x, spans).astype(np.float32), spans


def embed_manifest(df: pd.DataFrame, backbone, segmentation: Segmentation, *, use_cache: bool = True,
                   progress: bool = True, transform=None, tag: str = "") -> Embeddings:
    """Embeddings of every clip in ``df``; unreadable clips are reported in
    ``errors`` and left out, never abort the run.

    ``transform(x, digest)`` alters each loaded signal first (noise mix-up);
    ``tag`` must then describe it, as it is part of the cache key.
    """
    key = config_key(backbone, segmentation)
    root = cache_dir() / "embeddings" / f"{backbone.name}-{key}" / (tag or "clean")
    X, clip, start, end, errors = [], [], [], [], {}
    for i, path in enumerate(tqdm(df["path"], desc=f"embed {backbone.name}", disable=not progress, leave=False)):
        try:
            digest = file_digest(path, "sha1")
        except OSError as exc:
            errors[i] = f"{path}: unreadable ({exc.strerror})"
            continue
        cached = root / f"{digest}.npz" if use_cache else None
        if cached is not None and cached.exists():
            with np.load(cached) as z:
                emb, spans = z["X"], z["spans"]
        else:
            try:
                x = load(path, sample_rate=backbone.sample_rate)
                if transform is not None:
                    x = transform(x, digest)
                emb, spans = embed_signal(x, backbone, segmentation, name=path)
            except AudioError as exc:
                errors[i] = str(exc)
                continue
            spans = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
            if cached is not None:
                save_npz_atomic(cached, X=emb, spans=spans)
        X.append(emb)
        clip.append(np.full(len(emb), i))
        start.append(spans[:, 0])
        end.append(spans[:, 1])
    if not X:
        raise AudioError(df["path"].iloc[0] if len(df) else "<empty manifest>", "no clip could be embedded: "
                         + "; ".join(list(errors.values())[:3]))
    return Embeddings(np.concatenate(X), np.concatenate(clip), np.concatenate(start), np.concatenate(end), errors)
