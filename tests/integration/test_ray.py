"""segser on a local Ray instance (ray.init(num_cpus=2)): the same rows and
probabilities as single-process predict; resume after an interrupted run; a
killed worker; a bad file in the batch; the cluster launcher config."""
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from segser import predict  # noqa: E402
from segser.pipeline import PredictOptions  # noqa: E402
from segser.runtime.cluster import predict_to_parquet, read_results  # noqa: E402

NO_ADAPT = PredictOptions(adapt="none")  # each file on its own, as the single-process reference

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(shared_data, tmp_path_factory):
    """Real recordings (EmoDB originals and RAVDESS) as links, plus one bad file."""
    d = tmp_path_factory.mktemp("inputs")
    files = sorted((shared_data / "emodb-originals").glob("*.wav")) + sorted((shared_data / "ravdess" / "Actor_03").glob("*.flac"))[:9]
    for f in files:
        os.symlink(f, d / f.name)
    (d / "broken.wav").write_text("this is not audio")
    return d


@pytest.fixture(scope="module")
def reference(folder):
    """Single-process results computed as each Ray worker computes: one thread for
    onnxruntime and for numpy's BLAS (Ray sets OMP_NUM_THREADS=1), since sums
    are bit-identical only for the same thread count."""
    from threadpoolctl import threadpool_limits

    from segser.model import load_model

    before = os.environ.get("SEGSER_THREADS")
    os.environ["SEGSER_THREADS"] = "1"
    try:
        with threadpool_limits(1):
            timeline, decisions, errors = predict([folder], load_model("default"), adapt="none")
    finally:
        os.environ.pop("SEGSER_THREADS") if before is None else os.environ.__setitem__("SEGSER_THREADS", before)
    return timeline.reset_index().sort_values(["file", "start"], ignore_index=True), decisions, errors


def worker_pids(title: str) -> list[int]:
    """PIDs of Ray worker processes whose title contains ``title`` (Ray sets the process title)."""
    pids = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if title in p.read_bytes().decode(errors="replace"):
                pids.append(int(p.parent.name))
        except OSError:
            continue
    return pids


def tagged_pids(entry: str) -> list[int]:
    """PIDs of processes whose environment holds ``entry`` (children inherit it)."""
    pids = []
    for p in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() in p.read_bytes().split(b"\0"):
                pids.append(int(p.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def check_exact(out, reference):
    timeline, decisions, errors = reference
    tables = read_results(out)
    segs = tables["segments"]
    assert list(segs["file"]) == list(timeline["file"]) and list(segs["start"]) == list(timeline["start"])
    cols = [c for c in timeline.columns if c.startswith("p_")]
    np.testing.assert_array_equal(segs[cols].to_numpy(), timeline[cols].to_numpy())  # exactly the same probabilities
    assert list(tables["decisions"]["file"]) == sorted(decisions.index)
    assert tables["decisions"]["file"].is_unique and len(segs.drop_duplicates(["file", "start"])) == len(segs)
    assert list(tables["errors"]["file"]) == list(errors) and "not audio" in tables["errors"]["error"].iloc[0]


def test_ray_equals_single_process_and_reports_the_bad_file(local_ray, folder, reference, tmp_path):
    summary = predict_to_parquet([folder], tmp_path / "out", workers=2, batch_files=3, options=NO_ADAPT)
    assert summary["files"] == 17 and summary["processed"] == 17 and summary["errors"] == 1
    check_exact(tmp_path / "out", reference)
    again = predict_to_parquet([folder], tmp_path / "out", workers=2, batch_files=3, options=NO_ADAPT)
    assert again["skipped_done"] == 17 and again["processed"] == 0  # nothing redone, nothing duplicated


def test_a_killed_worker_is_retried_and_each_segment_written_once(local_ray, folder, reference, tmp_path):
    out = tmp_path / "out"
    done = {}
    job = threading.Thread(target=lambda: done.update(predict_to_parquet([folder], out, workers=2, batch_files=1,
                                                                           options=NO_ADAPT)))
    job.start()
    killed = None
    for _ in range(6000):
        busy = worker_pids("MapBatches(Predictor)).submit")
        if busy and len(list((out / "decisions").glob("*.parquet"))) >= 2:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)  # a worker dies mid-file
            break
        time.sleep(0.05)
    job.join(timeout=900)
    assert killed is not None and done["processed"] == 17
    check_exact(out, reference)


def test_an_interrupted_run_resumes_without_losing_or_duplicating(folder, reference, tmp_path):
    """The first driver is killed mid-run; the Ray processes it started may live on
    and finish a batch while the rerun works (they can no longer write: the rerun owns
    the folder). They are killed at the end, found by a tag in their environment."""
    out = tmp_path / "out"
    tag = f"segser-test-{os.getpid()}-{time.time_ns()}"
    code = (f"from segser.runtime.cluster import predict_to_parquet; from segser.pipeline import PredictOptions; "
            f"predict_to_parquet([{str(folder)!r}], {str(out)!r}, workers=1, batch_files=1, "
            "options=PredictOptions(adapt='none'))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "SEGSER_TEST_TAG": tag})
    try:
        for _ in range(1800):
            if len(list((out / "decisions").glob("*.parquet"))) >= 3:
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = len(list((out / "decisions").glob("*.parquet")))
        assert 3 <= partial < 17
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            summary = predict_to_parquet([folder], out, workers=2, batch_files=2, options=NO_ADAPT)
        finally:
            if started_here:
                ray.shutdown()
    finally:
        proc.kill()
        for pid in tagged_pids(f"SEGSER_TEST_TAG={tag}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert summary["skipped_done"] >= partial - 1 and summary["skipped_done"] + summary["processed"] == 17
    check_exact(out, reference)


def test_workers_of_a_superseded_run_write_nothing(folder, tmp_path):
    """A worker left over from a killed driver finishes its file after a rerun has
    claimed the folder: its batch is dropped, so the rerun's results hold each file once."""
    from segser.errors import ConfigError
    from segser.runtime.cluster import Predictor, claim

    out = tmp_path / "out"
    first, _ = claim(out)
    leftover = Predictor("default", str(out), first, {"adapt": "none"}, "auto", 1, None, None)
    wav = str(sorted(folder.glob("*.wav"))[0])
    second, done = claim(out)
    assert second != first and not done
    row = leftover({"part": ["a"], "files": [[wav]]})
    assert row["superseded"].tolist() == [True] and row["files"].tolist() == [0]
    assert not list(out.glob("*/*.parquet"))
    current = Predictor("default", str(out), second, {"adapt": "none"}, "auto", 1, None, None)
    row = current({"part": ["a"], "files": [[wav]]})
    assert row["superseded"].tolist() == [False] and row["files"].tolist() == [1]
    assert read_results(out)["decisions"]["file"].tolist() == [wav]
    _, done = claim(out)
    assert done == {wav}
    (out / ".owner").unlink()  # the claim removed under a running worker: it writes nothing rather than failing
    assert current({"part": ["b"], "files": [[wav]]})["superseded"].tolist() == [True]
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        claim(tmp_path / "a-file")


def test_ray_transcribes_per_file_as_a_single_process_does(local_ray, shared_data, tmp_path):
    from segser.pipeline import Pipeline
    from segser.words.transcribe import WordOptions

    clip = shared_data / "tess" / "OAF_back_angry.ogg"
    words = WordOptions(language="en")
    predict_to_parquet([clip], tmp_path / "out", workers=1, options=NO_ADAPT, words=words)
    segs = read_results(tmp_path / "out")["segments"]
    alone = Pipeline("default", NO_ADAPT, transcribe=words).classify_file(clip)
    assert "back" in " ".join(segs["text"].fillna("")).lower()
    assert list(segs["text"].fillna("")) == list(alone.segments["text"].fillna(""))


def test_cluster_launcher_config_is_valid():
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy" / "ray-cluster.yaml").read_text())
    validate_config(prepare_config(config))  # what `ray up` checks before launching anything
    assert config["available_node_types"]["cpu_worker"]["max_workers"] == config["max_workers"]


def test_train_ray_fills_the_same_embedding_cache(local_ray, toy_corpus):
    """Embeddings computed by Ray workers land under the keys a local run reads:
    afterwards a local embedding pass finds every clip in the cache."""
    from segser.encoders.backbones import create
    from segser.segmentation.config import Segmentation
    from segser.settings import cache_dir
    from segser.training import corpora
    from segser.training.data import cache_key, embed_manifest
    from segser.training.ray_embed import embed_on_cluster

    manifest = corpora.load("csv", toy_corpus)
    summary = embed_on_cluster(manifest, "logmel", {}, Segmentation(hop=0.5), workers=2, clips_per_task=8)
    assert summary["clips"] == 48 and summary["errors"] == 0
    bb = create("logmel")
    folder = cache_dir() / "embeddings" / f"logmel-{cache_key(bb, Segmentation(hop=0.5))}" / "clean"
    assert len(list(folder.glob("*.npz"))) == 48
    bb.embed_segments = lambda segments: (_ for _ in ()).throw(AssertionError("recomputed"))
    emb = embed_manifest(manifest, bb, Segmentation(hop=0.5), progress=False)
    assert len(emb.X) == 96 and not emb.errors
