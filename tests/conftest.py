import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segser.settings import data_dir, models_dir


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not found at {path} (set SEGSER_SHARED to the folder holding data/ and models/)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg + " - required in CI")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(data_dir(), "shared real recordings")


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return _need(models_dir(), "shared pretrained models")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSER_CACHE", str(tmp_path / "segser-cache"))
    monkeypatch.setenv("SEGSER_OFFLINE", "1")


def tone(freq: float, seconds: float, sr: int = 16000, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write(path: Path, x: np.ndarray, sr: int = 16000, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, **kw)
    return path


@pytest.fixture
def toy_corpus(tmp_path):
    """Two 'emotions' that differ in pitch, 4 speakers, 1.5 s clips."""
    rows = ["path,label,speaker"]
    for s in range(4):
        for k in range(6):
            for label, f0 in (("angry", 300.0), ("sad", 1200.0)):
                p = write(tmp_path / "wav" / f"s{s}_{label}_{k}.wav", tone(f0 + 20 * k + 7 * s, 1.5, seed=s * 100 + k))
                rows.append(f"{p.relative_to(tmp_path)},{label},spk{s}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "data.csv"


def write_keras_yamnet_h5(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """Write ``{"layer1/conv/kernel": array, ...}`` the way Keras ``save_weights``
    lays out an HDF5 file: one group per layer (names with '/' nest), a
    ``weight_names`` attribute per layer ("<layer>/<var>:0"), ``layer_names`` at the root."""
    import h5py

    by_layer: dict[str, list[str]] = {}
    for full in variables:
        layer, var = full.rsplit("/", 1)
        by_layer.setdefault(layer, []).append(var)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in by_layer]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.3.0"
        for layer, names in sorted(by_layer.items()):
            g = f.create_group(layer)
            g.attrs["weight_names"] = [f"{layer}/{v}:0".encode() for v in names]
            for v in names:
                g.create_dataset(f"{layer}/{v}:0", data=variables[f"{layer}/{v}"])
    return path


def yamnet_keras_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """Random float YAMNet weights with the published layer names and shapes."""
    rng = np.random.default_rng(seed)
    filters = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    out = {}

    def bn(name, c):
        out[f"{name}/bn/beta"] = rng.normal(0, 0.1, c).astype(np.float32)
        out[f"{name}/bn/moving_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
        out[f"{name}/bn/moving_variance"] = rng.uniform(0.5, 2.0, c).astype(np.float32)

    out["layer1/conv/kernel"] = rng.normal(0, 0.3, (3, 3, 1, 32)).astype(np.float32)
    bn("layer1/conv", 32)
    for i in range(2, 15):
        cin, cout = filters[i - 2], filters[i - 1]
        out[f"layer{i}/depthwise_conv/depthwise_kernel"] = rng.normal(0, 0.3, (3, 3, cin, 1)).astype(np.float32)
        bn(f"layer{i}/depthwise_conv", cin)
        out[f"layer{i}/pointwise_conv/kernel"] = rng.normal(0, 1 / np.sqrt(cin), (1, 1, cin, cout)).astype(np.float32)
        bn(f"layer{i}/pointwise_conv", cout)
    out["dense/kernel"] = rng.normal(0, 0.03, (1024, 521)).astype(np.float32)
    out["dense/bias"] = np.zeros(521, np.float32)
    return out


WHISPER_DIMS = dict(n_mels=80, n_ctx=1500, n_state=16, n_head=2, n_layer=2)


def random_openai_state(seed=0):
    """A tiny random Whisper (2 layers of width 16) in openai-whisper's key layout."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    d, L, m = WHISPER_DIMS["n_state"], WHISPER_DIMS["n_layer"], WHISPER_DIMS["n_mels"]
    st = {"encoder.conv1.weight": r(d, m, 3), "encoder.conv1.bias": r(d), "encoder.conv2.weight": r(d, d, 3),
          "encoder.conv2.bias": r(d), "encoder.positional_embedding": r(WHISPER_DIMS["n_ctx"], d),
          "encoder.ln_post.weight": 1 + r(d), "encoder.ln_post.bias": r(d)}
    for i in range(L):
        p = f"encoder.blocks.{i}."
        for n in ("query", "value", "out"):
            st[p + f"attn.{n}.weight"], st[p + f"attn.{n}.bias"] = r(d, d), r(d)
        st[p + "attn.key.weight"] = r(d, d)
        for n in ("attn_ln", "mlp_ln"):
            st[p + f"{n}.weight"], st[p + f"{n}.bias"] = 1 + r(d), r(d)
        st[p + "mlp.0.weight"], st[p + "mlp.0.bias"] = r(4 * d, d), r(4 * d)
        st[p + "mlp.2.weight"], st[p + "mlp.2.bias"] = r(d, 4 * d), r(d)
    st["decoder.token_embedding.weight"] = r(10, d)
    return st


def tiny_whisper_checkpoint(path, seed=0):
    """A tiny Whisper checkpoint in the official openai-whisper format."""
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 2},
                "model_state_dict": random_openai_state(seed)}, path)
    return path


@pytest.fixture
def tiny_whisper(tmp_path, monkeypatch):
    """A tiny Whisper checkpoint that the resolver finds as whisper-tiny.en."""
    path = tiny_whisper_checkpoint(tmp_path / "tiny-whisper.pt")
    monkeypatch.setenv("SEGSER_WHISPER_TINY_EN", str(path))
    return path


@pytest.fixture
def toy_corpora(tmp_path):
    """Three small CSV 'corpora' (a, b, c) of 'angry' (low tones) vs 'sad' (high tones),
    3 speakers each, recorded at different levels: {name: csv path}."""
    out = {}
    for corpus, amp, n in (("a", 0.3, 6), ("b", 0.05, 3), ("c", 0.15, 2)):
        rows = ["path,label,speaker"]
        for s in range(3):
            for k in range(n):
                for label, f0 in (("angry", 300.0), ("sad", 1200.0)):
                    p = write(tmp_path / corpus / f"{s}_{label}_{k}.wav", tone(f0 + 15 * k, 1.2, amp=amp, seed=k + 10 * s))
                    rows.append(f"{p.name},{label},{corpus}{s}")
        (tmp_path / corpus / "data.csv").write_text("\n".join(rows) + "\n")
        out[corpus] = tmp_path / corpus / "data.csv"
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_thread(app):
    """Run ``app`` in a real uvicorn server on a free local port, in a thread;
    a generator for module fixtures: yields the port, stops the server after."""
    import threading
    import time

    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.1)
    yield port
    srv.should_exit = True
    thread.join(timeout=30)
