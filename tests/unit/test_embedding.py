"""The streaming engine: audio pushed in chunks of any size gives exactly the
segments and embeddings of the whole signal, with bounded memory."""
import subprocess
import sys

import numpy as np
import pytest

from segser.encoders.backbones import create
from segser.encoders.engine import Embedder, embed_signal
from segser.segmentation.config import Segmentation
from tests.conftest import tiny_whisper_checkpoint, tone


def signal(seconds=7.3):
    return np.concatenate([tone(220 + 40 * k, 0.5, seed=k) for k in range(int(seconds * 2))] +
                          [tone(300, seconds % 0.5, seed=99)])


def streamed(encoder, seg, x, chunk, *, skip_below=0.0, engine=None):
    e = engine or Embedder(encoder, seg.segmenter(), batch_windows=3, skip_below=skip_below, context=seg.context)
    rows = []
    for i in range(0, x.size, chunk):
        rows += e.push(x[i:i + chunk])
    return rows + e.finish()


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    ckpt = tiny_whisper_checkpoint(tmp_path_factory.mktemp("w") / "m.pt")
    return create("whisper", weights=ckpt, layer="all", context=2.0)


@pytest.mark.parametrize("seg", [Segmentation(1.0, 1.0), Segmentation(1.0, 0.5), Segmentation(2.5, 0.7),
                                 Segmentation(method="clip"), Segmentation(1.0, 1.0, context="trailing"),
                                 Segmentation(1.5, 0.7, context="trailing")])
@pytest.mark.parametrize("chunk", [1003, 160, 16000, 80001])
def test_window_encoder_streamed_equals_whole(whisper, seg, chunk):
    x = signal()
    X, spans, speech = embed_signal(x, whisper, seg)
    rows = streamed(whisper, seg, x, chunk)
    assert [(r.start, r.end) for r in rows] == [tuple(r) for r in spans.tolist()]
    np.testing.assert_allclose(np.stack([r.embedding for r in rows]), X, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal([r.speech for r in rows], speech)


@pytest.mark.parametrize("chunk", [1, 333, 16000])
def test_segment_encoder_streamed_equals_whole(chunk):
    bb = create("logmel")
    x = signal(4.2)
    seg = Segmentation(1.0, 0.5)
    X, spans, _ = embed_signal(x, bb, seg)
    rows = streamed(bb, seg, x, chunk)
    np.testing.assert_array_equal(np.stack([r.embedding for r in rows]), X)
    assert len(rows) == 8


def test_memory_stays_bounded_however_long_the_stream(whisper):
    e = Embedder(whisper, Segmentation(1.0, 0.5).segmenter())
    x = tone(300, 1.0)
    n = 0
    for _ in range(120):  # two minutes of audio in 1 s chunks
        n += len(e.push(x))
        assert e.audio.size <= whisper.window_seconds * 16000
        assert sum(f.shape[1] for _, f in e.frames) <= 2 * 100 + 50  # a window of frames plus one segment
    assert n >= 236


def test_results_come_as_soon_as_a_window_is_encoded(whisper):
    e = Embedder(whisper, Segmentation(1.0, 1.0).segmenter())
    assert e.push(tone(300, 1.99)) == []  # the 2 s window is not complete yet
    rows = e.push(tone(300, 0.01))
    assert [(r.start, r.end) for r in rows] == [(0.0, 1.0)]  # (1, 2) waits: a tail under 0.25 s would join it
    rows = e.push(tone(300, 0.25))
    assert [(r.start, r.end) for r in rows] == [(1.0, 2.0)]


@pytest.mark.parametrize("seg", [Segmentation(1.0, 1.0), Segmentation(1.5, 0.5)])
def test_what_holds_no_speech_is_not_encoded(whisper, shared_data, seg):
    """A real utterance, 10 s of silence, the utterance again: with the speech gate, segments without speech get
    zeros and the silent windows are never encoded; every other segment's embedding is what it was."""
    from segser.io.audio import load

    speech = load(shared_data / "emodb-originals" / "03a01Fa.wav")
    x = np.concatenate([speech, np.zeros(160_000, np.float32), speech])
    full = Embedder(whisper, seg.segmenter(), batch_windows=3)
    everything = streamed(whisper, seg, x, 16000, engine=full)
    gated = Embedder(whisper, seg.segmenter(), batch_windows=3, skip_below=0.2)
    skipped = streamed(whisper, seg, x, 3001, engine=gated)
    assert [(r.start, r.end, r.speech) for r in skipped] == [(r.start, r.end, r.speech) for r in everything]
    voiced = np.array([r.speech >= 0.2 for r in everything])
    assert 4 <= voiced.sum() <= 8 and (~voiced).sum() >= 8
    a, b = np.stack([r.embedding for r in everything]), np.stack([r.embedding for r in skipped])
    np.testing.assert_allclose(b[voiced], a[voiced], rtol=1e-5, atol=1e-6)
    assert not b[~voiced].any()
    assert full.encoded - gated.encoded >= 3  # of the seven 2 s windows, at least three silent ones skipped


def test_trailing_windows_give_a_result_as_soon_as_the_segment_is_there(whisper):
    """Each segment is encoded with the window that ends where it ends (here 2 s): no waiting for a tiled window."""
    e = Embedder(whisper, Segmentation(1.0, 1.0).segmenter(), context="trailing")
    assert e.push(tone(300, 1.2)) == []  # (0, 1) is held back until 0.25 s after it (the tail rule)
    assert [(r.start, r.end) for r in e.push(tone(300, 0.06))] == [(0.0, 1.0)]
    assert [(r.start, r.end) for r in e.push(tone(300, 1.0))] == [(1.0, 2.0)]
    assert e.encoded == 2


def test_a_trailing_window_is_the_segment_with_the_audio_before_it(whisper):
    """The embedding of (2, 3) is the pooled last second of the encoded window 1-3 s; of (0, 1), of 1 s of zeros then
    the first second."""
    x = signal(4.0)
    rows = {(r.start, r.end): r.embedding for r in streamed(whisper, Segmentation(1.0, 1.0, context="trailing"), x, 4000)}
    frames = whisper.encode_windows(x[16000:48000][None])[0]
    np.testing.assert_allclose(rows[(2.0, 3.0)], whisper.pool(frames[:, 50:]), rtol=1e-5, atol=1e-6)
    first = whisper.encode_windows(np.concatenate([np.zeros(16000, np.float32), x[:16000]])[None])[0]
    np.testing.assert_allclose(rows[(0.0, 1.0)], whisper.pool(first[:, 50:]), rtol=1e-5, atol=1e-6)


TRAINING_MODULES = ("segser.training.train", "segser.training.loop", "segser.training.finetune", "segser.training.evaluation",
                    "segser.training.config", "segser.training.protocols", "segser.heads.modules", "segser.training.benchmark",
                    "sklearn")


def test_inference_imports_no_training_code():
    code = ("import sys, segser.pipeline, segser.model, segser.encoders.engine, segser.serving.service;"
            f"bad = [m for m in {TRAINING_MODULES!r} if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_loading_a_torch_model_and_predicting_imports_no_training_code(tmp_path):
    """Not only at import time: a run directory loaded on the torch runtime and used to predict."""
    from tests.conftest import write

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"backbone": "logmel", "segmentation": {"length": 1.0, "hop": 1.0}, "speech_gate": 0}')
    code = ("import torch, sys; from segser.heads.modules import EmotionHead; from segser.training.loop import save_head;"
            f"h = EmotionHead(6144, 2, 'linear'); save_head(__import__('pathlib').Path({str(run / 'model.pt')!r}), h,"
            "classes=['a', 'b'], head_name='linear', head_options={}, in_dim=6144)")
    subprocess.run([sys.executable, "-c", code], check=True)
    wav = write(tmp_path / "x.wav", tone(300, 1.5))
    code = ("import sys; import segser;"
            f"r = segser.Pipeline({str(run)!r}, runtime='torch').classify_file({str(wav)!r});"
            f"assert r.ok and len(r.segments) == 2, r;"
            f"bad = [m for m in {TRAINING_MODULES[:-1]!r} if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "segser.heads.modules"  # the head's own module, and nothing of training


def test_no_import_cycles_between_modules():
    """The graph of imports inside segser, module-level and lazy ones in
    functions alike, has no cycle."""
    import ast
    from pathlib import Path

    import segser

    root = Path(segser.__file__).parent
    graph = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = ".".join(parts[:-1])
        deps = set()
        tree = ast.parse(path.read_text())
        for block in ast.walk(tree):  # imports for type annotations only never run
            if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING":
                block.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps |= {target} | {f"{target}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("segser"):
                deps.add(node.module)
        graph[name] = deps
    graph.pop("segser")  # the package root only re-exports the API lazily and holds __version__
    graph = {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for d in graph[node]:
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, d]))
            if d not in state:
                visit(d, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])
    assert len(graph) > 30
