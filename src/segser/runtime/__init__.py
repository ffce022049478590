"""Where the model runs: which compute runtime is available (torch, onnxruntime), threads, onnxruntime sessions
made one way; the ONNX export and its torch-free runtime (export.py, onnx.py) and Ray (cluster.py)."""
from __future__ import annotations

import importlib.util
import os

from segser.errors import ModelError

RUNTIMES = ("auto", "torch", "onnx")


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def threads() -> int:
    """Intra-op threads: ``SEGSER_THREADS`` or the CPUs this process may use."""
    env = os.environ.get("SEGSER_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def ort_session(path, *, threads: int | None = None):
    """An onnxruntime CPU session for ``path`` with all graph optimisations."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("this needs onnxruntime: pip install 'segser[onnx]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or globals()["threads"]()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # idle threads spinning between runs took the CPU from the numpy work in between (VAD, features, pooling):
    # 20 min of speech took 9.8 s with spinning, 9.1 s without
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
