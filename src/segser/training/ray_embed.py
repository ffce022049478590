"""Embeddings on a Ray cluster: :func:`embed_on_cluster` fills the embedding cache (the same keys and files as a
local run) from cluster workers, so ``segser train --ray`` then trains as usual (on a multi-node cluster
``SEGSER_CACHE`` must be shared storage); :func:`embeddings_to_parquet` writes segment embeddings of corpora as
Parquet for users who train elsewhere (``segser embed``)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from segser.encoders.backbones import create
from segser.io.files import write_json
from segser.options import as_dict
from segser.runtime.cluster import cluster, set_threads, write_parquet
from segser.segmentation.config import Segmentation
from segser.settings import cache_dir
from segser.training.data import embed_manifest


class CacheFiller:
    """A Ray actor: one backbone; each batch of clips -> their embeddings in the shared cache."""

    def __init__(self, backbone: str, options: dict, segmentation: dict, noise, threads: int, cache: str):
        set_threads(threads)
        os.environ["SEGSER_CACHE"] = cache
        self.backbone = create(backbone, **options)
        self.segmentation = Segmentation(**segmentation)
        self.noise = noise

    def __call__(self, batch: dict) -> dict:
        df = pd.DataFrame({"path": list(batch["path"])})
        try:
            emb = embed_manifest(df, self.backbone, self.segmentation, noise=self.noise, progress=False)
            n, errors = len(emb.X), len(emb.errors)
        except Exception:
            n, errors = 0, len(df)
        return {"segments": np.array([n]), "errors": np.array([errors])}


def embed_on_cluster(manifest: pd.DataFrame, backbone: str, options: dict, segmentation, *, noise=None,
                     address: str | None = None, workers: int | None = None, clips_per_task: int = 32,
                     threads: int = 1, cache: str | os.PathLike | None = None) -> dict:
    """Fill the embedding cache for every clip of ``manifest`` from Ray workers.
    ``cache``: the folder they write to, by default this process's cache
    (``SEGSER_CACHE``); on a multi-node cluster it must be storage every node
    and this machine share, or the local run recomputes what it misses."""
    paths = [str(p) for p in manifest["path"]]
    t0 = time.time()
    with cluster(address, num_cpus=workers) as ray:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=max(1, len(paths) // clips_per_task))
        rows = ds.map_batches(CacheFiller, batch_size=clips_per_task, compute=ray.data.ActorPoolStrategy(size=n),
                              fn_constructor_args=(backbone, options, as_dict(segmentation), noise, threads,
                                                   str(Path(cache or cache_dir()).resolve())), num_cpus=1).take_all()
    return {"clips": len(paths), "segments": int(sum(r["segments"] for r in rows)),
            "errors": int(sum(r["errors"] for r in rows)), "seconds": round(time.time() - t0, 2)}


def embeddings_to_parquet(manifest: pd.DataFrame, emb, out, *, classes=None, describe: dict | None = None) -> Path:
    """One row per segment: corpus, path, speaker, label, start, end and the embedding (a list of float32)."""
    out = Path(out)
    m = manifest.reset_index(drop=True)
    table = pd.DataFrame({"corpus": m["corpus"].to_numpy()[emb.clip], "path": m["path"].to_numpy()[emb.clip],
                          "speaker": m["speaker"].to_numpy()[emb.clip], "label": m["label"].to_numpy()[emb.clip],
                          "start": emb.start, "end": emb.end, "embedding": list(emb.X.astype(np.float32))})
    for corpus, g in table.groupby("corpus", sort=False):
        write_parquet(g.reset_index(drop=True), out / f"corpus={corpus}" / "part-0.parquet")
    if describe is not None:
        write_json(out / "embeddings.json", {"backbone": describe, "dim": int(emb.X.shape[1]), "classes": classes,
                                              "rows": int(len(table)), "unreadable": {str(m.loc[i, "path"]): e for i, e in
                                                                                       emb.errors.items()}})
    return out
