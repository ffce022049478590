"""The pipeline on a Ray cluster (Ray Data): collections too big for one machine.

* :func:`predict_to_parquet` - the inputs become a Ray Dataset of file batches;
  actors that load the model once stream each file in blocks (the same code as
  ``segser predict``) and write each batch as Parquet partitions, atomically:
  ``segments/`` (one row per segment), ``decisions/`` (one per file) and
  ``errors/`` (files that could not be used). A rerun skips every file that
  already has a decision or an error, so an interrupted job loses nothing and
  duplicates nothing; a worker that dies is restarted by Ray and its batch
  rewritten whole. Each run takes ownership of the folder (``.owner``, under a
  file lock): workers left over from a killed or superseded run may finish
  computing but can no longer write there.
* :func:`embed_on_cluster` - fills the embedding cache (the same keys and
  files as a local run) from cluster workers; ``segser train --ray`` then trains
  as usual. On a multi-node cluster ``SEGSER_CACHE`` must be shared storage.
* :func:`embeddings_to_parquet` - segment embeddings of corpora as Parquet,
  for users who train elsewhere (``segser embed``).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from segser.adaptation.policy import plan_for
from segser.diarization.turns import TurnOptions
from segser.errors import AudioError, ConfigError
from segser.options import as_dict
from segser.pipeline import Pipeline, PredictOptions, expand_inputs
from segser.results.rows import results_frame
from segser.results.types import FileResult
from segser.words.transcribe import WordOptions

TABLES = ("segments", "decisions", "errors")
BATCH_FILES = 16


@contextmanager
def cluster(address: str | None = None, *, num_cpus: int | None = None):
    """Ray connected to the cluster at ``address``, or a local instance started for this call and shut
    down with it (its workers included), so nothing of it outlives the command."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'segser[ray]'") from None
    ours = not ray.is_initialized()
    if ours:
        kwargs = {"address": address} if address else {"num_cpus": num_cpus}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        if ours:
            ray.shutdown()


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file whole or not at all (temporary sibling, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def _locked(out: Path, *, exclusive: bool):
    """The result folder's lock: a run takes it exclusively to claim the folder,
    a worker shared while it checks its claim and writes a batch."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def claim(out: Path) -> tuple[str, set[str]]:
    """Make a new run the owner of ``out``; (its run id, the files already done).
    From here on, workers of an earlier run (killed driver, orphaned actors) write nothing,
    so no file finished by them after this moment can appear twice."""
    run = uuid.uuid4().hex
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out.name}: exists and is not a folder; --out names the folder of the Parquet dataset")
    if out.is_dir() and any(out.iterdir()) and not (out / ".owner").exists():
        raise ConfigError(f"{out.name}: a folder that holds something other than segser's Parquet results; "
                          "--ray --out needs an empty or new folder, or one an earlier run wrote")
    with _locked(out, exclusive=True):
        _write_text(out / ".owner", run)
        return run, done_files(out)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def done_files(out: Path) -> set[str]:
    """Files of complete batches (a batch is complete once its decisions partition
    exists): skipped on a rerun. Partitions of an interrupted batch are removed, so
    the batch's files are redone once and never appear twice."""
    complete = {p.name for p in (out / "decisions").glob("*.parquet")}
    for table in ("segments", "errors"):
        for part in (out / table).glob("*.parquet"):
            if part.name not in complete:
                part.unlink()
    done: set[str] = set()
    for table in ("decisions", "errors"):
        for part in sorted((out / table).glob("*.parquet")):
            done |= set(pd.read_parquet(part, columns=["file"])["file"])
    return done


class Predictor:
    """A Ray actor: the pipeline (its model loaded once); each batch of files -> its three Parquet partitions."""

    def __init__(self, model_ref, out: str, run: str, options: dict, runtime: str, threads: int, speakers: str | None,
                 turns: dict | None, words: dict | None = None):
        set_threads(threads)
        self.pipeline = Pipeline(model_ref, PredictOptions(**options), speakers=speakers,
                                 turns=TurnOptions(**turns) if turns is not None else None,
                                 transcribe=WordOptions(**words) if words is not None else False, runtime=runtime)
        self.out, self.run = Path(out), run

    def __call__(self, batch: dict) -> dict:
        rows = {"part": [], "files": [], "segments": [], "errors": [], "seconds": [], "audio_seconds": [],
                "superseded": []}
        for part, files in zip(batch["part"], batch["files"]):
            t0 = time.time()
            results = []
            for f in files:
                try:
                    results.append(self.pipeline.run_file(f))
                except AudioError as exc:
                    results.append(FileResult(f, error=str(exc)))
            timeline, decisions, errors = results_frame(results, self.pipeline.classes)
            tables = {"segments": timeline.reset_index(), "decisions": decisions.reset_index(),
                      "errors": pd.DataFrame([{"file": f, "error": e} for f, e in errors.items()], columns=["file", "error"])}
            with _locked(self.out, exclusive=False):
                try:
                    kept = (self.out / ".owner").read_text() == self.run
                except OSError:  # the claim is gone (the folder was removed or replaced): not ours to write
                    kept = False
                if kept:  # decisions last: a file counts as done once its decision is written
                    for table in ("segments", "errors", "decisions"):
                        write_parquet(tables[table], self.out / table / f"part-{part}.parquet")
            rows["part"].append(part)
            rows["superseded"].append(not kept)
            rows["files"].append(len(files) * kept)
            rows["segments"].append(len(tables["segments"]) * kept)
            rows["errors"].append(len(errors) * kept)
            rows["seconds"].append(time.time() - t0)
            rows["audio_seconds"].append(float(tables["decisions"]["duration"].sum()) * kept if len(decisions) else 0.0)
        return {k: np.asarray(v) for k, v in rows.items()}


def batches(files: list[str], size: int = BATCH_FILES) -> list[tuple[str, list[str]]]:
    """(partition name, files): the name is a digest of the batch's files, so a rerun's new batches never
    overwrite an earlier run's partitions."""
    out = []
    for i in range(0, len(files), size):
        chunk = files[i:i + size]
        out.append((hashlib.sha1("\n".join(chunk).encode("utf-8", "surrogateescape")).hexdigest()[:16], chunk))
    return out


def predict_to_parquet(inputs, out, *, model=None, address: str | None = None, workers: int | None = None,
                       batch_files: int = BATCH_FILES, runtime: str = "auto", threads: int = 1, speakers=None,
                       options=None, turn_options=None, words: WordOptions | None = None) -> dict:
    """Predict every input file on Ray into the Parquet dataset ``out``; a summary. Workers run
    :meth:`Pipeline.run_file` on one recording at a time, so adaptation is per recording (``speakers``: None,
    ``file`` or ``auto``); groups of recordings need all of them in one process."""
    options = options or PredictOptions()
    probe = Pipeline(model, options, speakers=speakers, turns=turn_options, transcribe=words or False,
                     runtime=runtime)  # checks the options now
    plan_for(probe.model, options.adapt, inputs=1, speakers=speakers, alone=True)
    out = Path(out)
    files, missing = expand_inputs(inputs)
    run, done = claim(out)
    todo = [f for f in files if f not in done]
    if missing:  # inputs that yield no file at all (an empty folder) go to the errors table at once
        name = f"part-inputs-{hashlib.sha1(str(sorted(missing)).encode()).hexdigest()[:12]}.parquet"
        write_parquet(pd.DataFrame([{"file": k, "error": v} for k, v in missing.items()]), out / "errors" / name)
        write_parquet(pd.DataFrame(columns=["file"]), out / "decisions" / name)
    summary = {"files": len(files), "skipped_done": len(files) - len(todo), "processed": 0, "segments": 0, "errors": 0,
               "superseded_batches": 0, "seconds": 0.0}
    if todo:
        with cluster(address, num_cpus=workers) as ray:
            n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            items = [{"part": p, "files": fs} for p, fs in batches(todo, batch_files)]
            t0 = time.time()
            ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                Predictor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(n, len(items))),
                fn_constructor_args=(model, str(out), run, as_dict(options), runtime, threads, speakers,
                                     as_dict(probe.turns) if probe.turns is not None else None,
                                     as_dict(words) if words is not None else None),
                num_cpus=1)  # Ray Data restarts an actor pool's dead actors and retries their batch
            for row in ds.iter_rows():
                summary["processed"] += int(row["files"])
                summary["segments"] += int(row["segments"])
                summary["errors"] += int(row["errors"])
                summary["superseded_batches"] += int(row["superseded"])
            summary["seconds"] = round(time.time() - t0, 2)
    summary.update(folder_account(out, files, missing))
    return summary


def folder_account(out: Path, files: list[str], missing: dict) -> dict:
    """What the whole output folder holds for these inputs, this run's and earlier runs' work alike:
    files with a decision, and files (or inputs) with an error (``failures``: each with its message)."""
    wanted = set(files) | set(missing)
    found, failures = {}, {}
    for table in ("decisions", "errors"):
        parts = [pd.read_parquet(p) for p in sorted((out / table).glob("*.parquet"))]
        rows = pd.concat(parts) if parts else pd.DataFrame(columns=["file", "error"])
        found[table] = set(rows["file"]) & wanted
        if table == "errors":
            failures = {f: e for f, e in zip(rows["file"], rows["error"]) if f in wanted}
    return {"done_in_folder": len(found["decisions"]), "failed_in_folder": len(found["errors"]),
            "missing_in_folder": len(wanted - found["decisions"] - found["errors"]), "failures": failures}


def read_results(out) -> dict[str, pd.DataFrame]:
    """The three tables of a Parquet result folder, sorted by file (and start)."""
    out = Path(out)
    tables = {}
    for table in TABLES:
        parts = [pd.read_parquet(p) for p in sorted((out / table).glob("*.parquet"))]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["file"])
        numeric = [c for c in df.columns if c.startswith("p_") or c in ("start", "end", "score", "speech", "duration")]
        df[numeric] = df[numeric].astype(float)  # a partition with no rows has untyped columns
        tables[table] = df.sort_values(["file", "start"] if table == "segments" else ["file"], ignore_index=True)
    return tables


def set_threads(threads: int) -> None:
    """One worker per CPU: each computes with ``threads`` threads (onnxruntime reads SEGSER_THREADS)."""
    os.environ["SEGSER_THREADS"] = str(threads)
    if "torch" in __import__("sys").modules or __import__("importlib").util.find_spec("torch"):
        import torch

        torch.set_num_threads(threads)
