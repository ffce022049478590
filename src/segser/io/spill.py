"""Rows of numbers that may outgrow memory: a recording's segment embeddings while its statistics are not yet
known, the mel frames of its speaker pass. The first ``memory_rows`` stay in memory; beyond that every row goes
to an anonymous temporary file (deleted when closed or collected) and is read back in chunks, so the memory a
recording takes does not grow with its length.

>>> rows = SpillRows(3, memory_rows=2)
>>> rows.append(np.ones((5, 3), np.float32)); len(rows), rows.read(1, 3).shape
(5, (2, 3))
"""
from __future__ import annotations

import os
import tempfile

import numpy as np


class SpillRows:
    def __init__(self, width: int, dtype=np.float32, *, memory_rows: int = 512, chunk: int = 256):
        self.width, self.dtype = int(width), np.dtype(dtype)
        self.memory_rows, self.chunk = int(memory_rows), int(chunk)
        self.row_bytes = self.width * self.dtype.itemsize
        self.memory = np.zeros((0, self.width), self.dtype)
        self.n = 0
        self.file = None

    def __len__(self) -> int:
        return self.n

    @property
    def spilled(self) -> bool:
        return self.file is not None

    def append(self, X: np.ndarray) -> None:
        X = np.ascontiguousarray(X, dtype=self.dtype).reshape(-1, self.width)
        if not len(X):
            return
        if self.file is None and self.n + len(X) > self.memory_rows:
            self.file = tempfile.TemporaryFile(prefix="segser-rows-")
            self.file.write(self.memory.tobytes())
            self.memory = np.zeros((0, self.width), self.dtype)
        if self.file is None:
            self.memory = np.concatenate([self.memory, X])
        else:
            self.file.write(X.tobytes())
        self.n += len(X)

    def read(self, a: int, b: int) -> np.ndarray:
        """Rows ``a`` to ``b`` (exclusive)."""
        a, b = max(0, a), min(b, self.n)
        if b <= a:
            return np.zeros((0, self.width), self.dtype)
        if self.file is None:
            return self.memory[a:b]
        self.file.flush()
        data = os.pread(self.file.fileno(), (b - a) * self.row_bytes, a * self.row_bytes)
        return np.frombuffer(data, self.dtype).reshape(b - a, self.width).copy()

    def chunks(self):
        """``(first row, rows)`` in order, ``chunk`` rows at a time."""
        for a in range(0, self.n, self.chunk):
            yield a, self.read(a, a + self.chunk)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.memory = np.zeros((0, self.width), self.dtype)
