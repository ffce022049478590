"""The one place that says where shared data, shared models and caches live, and which segser this is."""
from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("segser")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """Directory holding ``data/`` and ``models/`` beside the project.

    ``SEGSER_SHARED`` overrides it; the default is ``../shared`` next to the
    repository (or next to the working directory for a non-editable install).
    """
    env = os.environ.get("SEGSER_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    beside_repo = _REPO_ROOT.parent / "shared"
    if beside_repo.is_dir():
        return beside_repo
    return (Path.cwd().parent / "shared").resolve()


def data_dir() -> Path:
    return shared_dir() / "data"


def models_dir() -> Path:
    return shared_dir() / "models"


def cache_dir() -> Path:
    """Weights and embedding cache (``SEGSER_CACHE``, default ``~/.cache/segser``)."""
    env = os.environ.get("SEGSER_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "segser"
    return base
