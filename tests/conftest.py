import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
