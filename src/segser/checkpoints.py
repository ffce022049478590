"""Tensors of a PyTorch checkpoint (``torch.save``) as numpy arrays, without importing torch.

Both layouts torch writes are read: the zip archive (torch >= 1.6) and the legacy
stream of pickles (Resemblyzer's ``pretrained.pt`` is one). Unpickling is
restricted to what a state dict holds (tensors, storages, ordered dicts and
Python's own containers): anything else is refused, so a checkpoint cannot run
code.

>>> state = read_torch_checkpoint("pretrained.pt")["model_state"]   # doctest: +SKIP
>>> state["linear.weight"].shape                                     # doctest: +SKIP
(256, 256)
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
          "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
          "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class CheckpointError(ValueError):
    pass


class _Tensor:
    """A tensor as the pickle describes it; made an array once its storage's bytes are read."""

    def __init__(self, storage, offset, size, stride, *_):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self, data: dict) -> np.ndarray:
        key, dtype = self.storage
        buf = data[key]
        item = np.dtype(dtype).itemsize
        if not self.size:
            return buf[self.offset:self.offset + 1].reshape(()).copy()
        end = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if end > len(buf) or self.offset < 0:
            raise CheckpointError("a tensor reaches past its storage")
        return np.lib.stride_tricks.as_strided(buf[self.offset:], self.size, [s * item for s in self.stride]).copy()


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _Tensor
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise CheckpointError(f"holds {module}.{name}, which a state dict does not")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError("unknown persistent record")
        dtype, key = pid[1], str(pid[2])
        self.storages[key] = dtype
        return key, dtype


def _materialise(obj, data):
    if isinstance(obj, _Tensor):
        return obj.array(data)
    if isinstance(obj, dict):
        return type(obj)((k, _materialise(v, data)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, data) for v in obj)
    return obj


def read_torch_checkpoint(path) -> object:
    """The checkpoint's object with every tensor a numpy array; :class:`CheckpointError` when it is not one."""
    path = Path(path)
    storages: dict[str, type] = {}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
                if pkl is None:
                    raise CheckpointError("a zip without data.pkl")
                root = pkl[: -len("data.pkl")]
                obj = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
                data = {k: np.frombuffer(z.read(f"{root}data/{k}"), dtype=d) for k, d in storages.items()}
            return _materialise(obj, data)
        with open(path, "rb") as f:
            if pickle.load(f) != LEGACY_MAGIC:  # noqa: S301 (plain ints and a dict: nothing to construct)
                raise CheckpointError("not a torch checkpoint")
            pickle.load(f)  # protocol version
            _Unpickler(f, {}).load()  # sys info (a plain dict)
            obj = _Unpickler(f, storages).load()
            keys = _Unpickler(f, {}).load()
            data = {}
            for k in keys:
                (n,) = struct.unpack("<q", f.read(8))
                dtype = np.dtype(storages[str(k)])
                raw = f.read(n * dtype.itemsize)
                if len(raw) != n * dtype.itemsize:
                    raise CheckpointError("truncated")
                data[str(k)] = np.frombuffer(raw, dtype=dtype)
        return _materialise(obj, data)
    except CheckpointError:
        raise
    except (OSError, EOFError, KeyError, ValueError, TypeError, struct.error, pickle.UnpicklingError,
            zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{type(exc).__name__}: {str(exc)[:120]}") from None
