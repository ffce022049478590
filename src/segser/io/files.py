"""File helpers: atomic writes (results appear whole or not at all) and content digests."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from segser.errors import ConfigError


@contextmanager
def atomic_path(path, *, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``
    (mode 644), on error it is removed and ``path`` is untouched.

    >>> with atomic_path("results.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def file_digest(path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read in 1 MB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str))


class RunDirectory:
    """A run directory written whole or not at all: files go to a temporary
    sibling, which replaces ``path`` only when the run succeeds. An existing
    run is never touched unless ``overwrite`` (checked before any work).

    >>> with RunDirectory("runs/x") as tmp:  # doctest: +SKIP
    ...     (tmp / "metrics.json").write_text("{}")
    """

    def __init__(self, path, *, overwrite: bool = False, marker: str = "config.json", what: str = "run directory"):

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise ConfigError(f"{self.path}: already exists; choose a new --out or pass --overwrite to replace it")
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: exists and is not a directory")
        if self.path.exists() and any(self.path.iterdir()) and not (self.path / marker).is_file():
            # --overwrite replaces an earlier result of the same kind, never a folder of other things
            raise ConfigError(f"{self.path}: not a segser {what} (no {marker}); --overwrite only replaces one; "
                              "choose another --out")
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp-"))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        os.chmod(self.tmp, 0o755)
        old = None
        if self.path.exists():
            old = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.old-"))
            os.replace(self.path, old / "run")
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False
