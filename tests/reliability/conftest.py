"""What the hostile and careless probes share: a real ``segser serve`` in a process of its own (its peak RSS read
by GNU time), the command line run the same way, and signals made on the spot or read from ../shared.

The probes are the ``reliability`` marker, left out of ``python -m pytest tests`` (they take a while):
``python -m pytest -m reliability tests/reliability`` runs them (CI does, without the ``load`` ones), and
``python benchmarks/reliability.py`` runs them all and writes their result file. Each probe records the peak RSS
of what it ran (``peak_rss_mb``) and fails above 1 GB.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segser.settings import data_dir
from tests.conftest import free_port

pytestmark = pytest.mark.reliability
GOOD = data_dir() / "emodb-originals" / "03a01Wa.wav"
PATH_LEAK = re.compile(r"(/tmp/|/root/|/home/|/work/|segser-[a-z0-9_]{6,})")
MAX_RSS_MB = 1024


@pytest.fixture(autouse=True)
def _shared_cache(monkeypatch):
    """Probes run as a user would: with the shared cache, so the built-in models' exports are made once."""
    monkeypatch.delenv("SEGSER_CACHE", raising=False)


def measured(args, rss_file) -> list[str]:
    """``args`` run under GNU time, which writes the program's own peak RSS (kB) to ``rss_file``."""
    return ["/usr/bin/time", "-q", "-f", "%M", "-o", str(rss_file), *args]


def read_rss(rss_file) -> float:
    try:
        return float(Path(rss_file).read_text().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return float("nan")


class CLI:
    """``segser ARGS``: the completed process; records its peak RSS on the probe."""

    def __init__(self, record):
        self.record = record

    def __call__(self, *args, input=None, env=None, cwd=None, timeout=900) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile() as rss:
            p = subprocess.run(measured([sys.executable, "-m", "segser.cli", *map(str, args)], rss.name), input=input,
                               capture_output=True, timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})},
                               text=input is None or isinstance(input, str))
            peak = read_rss(rss.name)
        self.record("peak_rss_mb", round(peak))
        assert not peak > MAX_RSS_MB, f"{peak:.0f} MB"
        return p


@pytest.fixture
def cli(record_property) -> CLI:
    return CLI(record_property)


def clean_refusal(p: subprocess.CompletedProcess, code: int, needle: str = "") -> str:
    """The command exited with ``code``, no traceback, at most one error line (after argparse's usage), naming
    ``needle``; its stderr."""
    err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode(errors="replace")
    out = p.stdout if isinstance(p.stdout, str) else p.stdout.decode(errors="replace")
    assert p.returncode == code, f"exit {p.returncode}: {err[-1500:]}"
    assert "Traceback" not in err
    if code == 2 and not err.startswith("usage:"):
        assert len(err.strip().splitlines()) == 1, err
    assert needle in err + out, err[-1500:]
    return err


class Server:
    def __init__(self, tmp: Path, *args):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.rss_file = tmp / f"serve-{self.port}.rss"
        self.proc = subprocess.Popen(measured([sys.executable, "-m", "segser.cli", "serve", "--port", str(self.port),
                                               *args], self.rss_file),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.pid = self._child()
        self._wait()

    def _child(self) -> int:
        for _ in range(200):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            if children:
                return int(children[0])
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def _wait(self):
        import httpx

        for _ in range(1200):
            try:
                httpx.get(f"{self.base}/health", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not answer /health")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> str:
        os.kill(self.pid, signal.SIGTERM)
        _, err = self.proc.communicate(timeout=120)
        return err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``segser serve`` (the built-in models, default limits) for a module's probes; its log must hold no
    traceback when it stops."""
    s = Server(tmp_path_factory.mktemp("serve"))
    yield s
    err = s.stop()
    assert "Traceback" not in err, err[-3000:]


def wav_bytes(x, sr=16000, fmt="WAV", subtype=None) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def tone(seconds, amp=0.2, sr=16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def speech(seconds: float) -> np.ndarray:
    """A real EmoDB utterance repeated to ``seconds``."""
    from segser.io.audio import load

    x = load(GOOD)
    return np.tile(x, int(np.ceil(seconds * 16000 / x.size)))[: int(seconds * 16000)]


def conversation(seconds: float) -> np.ndarray:
    """The real two-speaker call (../shared/data/conversation/sample.wav) repeated to ``seconds``."""
    from segser.io.audio import load

    x = load(data_dir() / "conversation" / "sample.wav")
    return np.tile(x, int(np.ceil(seconds * 16000 / x.size)))[: int(seconds * 16000)]


def real_noise(seconds: float) -> np.ndarray:
    """Real recorded noise (the noise bank's test split) at 16 kHz, looped to ``seconds``."""
    from segser.io.audio import load

    parts, n = [], 0
    for f in sorted((data_dir() / "noise" / "test").rglob("*.flac")):
        y = np.clip(load(f), -1, 1)
        parts.append(y)
        n += y.size
        if n >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)]


def nonspeech_noise() -> np.ndarray:
    """8 s each of eight real noises without voices (rain, wind, train, tap, helicopter, waves, street, chainsaw)."""
    from segser.io.audio import load

    root = data_dir() / "noise" / "test"
    cats = ("nature_rain", "nature_wind", "transport_train", "indoor_running_tap", "esc10_helicopter", "nature_waves",
            "street_city", "esc10_chainsaw")
    return np.concatenate([np.clip(load(sorted((root / c).glob("*.*"))[0]), -1, 1)[:16000 * 8] for c in cats]).astype(np.float32)
