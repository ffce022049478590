"""Running an exported model (``segser export``) with onnxruntime and numpy:
no PyTorch is imported. Features are computed in numpy; the same streaming
engine as the torch runtime cuts and pools, so both runtimes give the same
timeline (probabilities equal to about 1e-5 in fp32).

``precision``: ``fp32`` (the exported graph) or ``int8`` (its copy with every
weight matrix in 8 bits, when the export has one); ``auto`` takes int8 when the
export has it (1.9x torch fp32, no corpus's UA more than 0.25 points lower on
5,378 real clips: the README's speed section), else fp32.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from segser.encoders.engine import pool_frames
from segser.encoders.features import VGGishLogMel, VGGishLogMelConfig, WhisperLogMel, WhisperLogMelConfig
from segser.encoders.features.mfcc import MFCC, MFCCConfig
from segser.errors import ModelError
from segser.io.files import file_digest
from segser.runtime import ort_session
from segser.segmentation.config import Segmentation
from segser.settings import cache_dir
from segser.weights import resolve

PRECISIONS = ("auto", "fp32", "int8")
DEFAULT_PRECISION = "int8"  # benchmarks/fastest_path.py
INT8_DEFAULT = "linear"  # which layers the export's int8 copy quantises (export.quantize): the fastest that keeps the bar
EXPORT_CHECKSUM = "export.json.sha256"  # covers export.json, which holds the checksums of every other file


class _Encoder:
    name = "onnx"
    sample_rate = 16000
    window_seconds = None
    frame_seconds = None
    pad_to = None
    zero_pad = True
    # onnxruntime's activations grow ~16 MB per window in a batch; on 20 min of speech batch 4 peaked at 271 MB
    # and 9.4 s, batch 8 at 336 MB and 8.4 s, batch 2 at 262 MB and 10.0 s (fastest_path.py reports the hour)
    batch_windows = 4

    def __init__(self, info: dict, folder: Path, precision: str):
        self.info, self.dim = info, int(info["dim"])
        self.precision = precision
        self.file = info.get("int8_file") if precision == "int8" and info.get("int8_file") else info.get("file")
        self.session = ort_session(folder / self.file) if self.file else None
        self.digest = file_digest(folder / self.file) if self.file else None

    def describe(self) -> dict:
        return {"backbone": self.info["kind"], "runtime": "onnx", "precision": self.precision if self.file else "numpy",
                "frontend": self.info["frontend"], **({"weights_sha256": [self.digest]} if self.digest else {})}


class OnnxWhisper(_Encoder):
    """Whisper windows -> tapped frames with the exported encoder; frames pooled in numpy."""

    name = "whisper"

    def __init__(self, info, folder, precision):
        super().__init__(info, folder, precision)

        self.frontend = WhisperLogMel(WhisperLogMelConfig(**info["frontend"]))
        self.window_seconds, self.frame_seconds = float(info["window_seconds"]), float(info["frame_seconds"])
        self.meanstd = info["pooling"] == "meanstd"

    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        mel = self.frontend(windows)
        if self.file == self.info.get("int8_file"):
            # dynamic int8 scales each activation tensor by its range over the whole batch: one window per run, so a
            # window's frames never depend on which other windows (of this file, another file, another stream) came
            return np.concatenate([self.session.run(None, {"mel": mel[i:i + 1]})[0] for i in range(len(mel))])
        return self.session.run(None, {"mel": mel})[0]

    def pool(self, frames: np.ndarray) -> np.ndarray:

        return pool_frames(frames, meanstd=self.meanstd)


class OnnxPatches(_Encoder):
    """VGGish or YAMNet: log-mel patches of each segment -> embeddings."""

    def __init__(self, info, folder, precision):
        super().__init__(info, folder, precision)

        self.frontend = VGGishLogMel(VGGishLogMelConfig(**info["frontend"]))
        self.pad_to = info["pad_to"]

    def embed_segments(self, segments):
        patches = self.frontend.patches(np.stack(segments).astype(np.float32))
        return np.concatenate([self.session.run(None, {"patches": patches[i: i + 64]})[0]
                               for i in range(0, len(patches), 64)])


class NumpyFeatures(_Encoder):
    """logmel / mfcc: the features themselves, flattened (no network)."""

    def __init__(self, info, folder, precision):
        super().__init__(info, folder, precision)
        if info["kind"] == "logmel":

            fe = VGGishLogMel(VGGishLogMelConfig(**info["frontend"]))
            self.features = fe.patches
        else:

            self.features = MFCC(MFCCConfig(**info["frontend"]))
        self.pad_to = info["pad_to"]

    def embed_segments(self, segments):
        return self.features(np.stack(segments).astype(np.float32)).reshape(len(segments), -1)


ENCODERS = {"whisper": OnnxWhisper, "patches": OnnxPatches, "logmel": NumpyFeatures, "mfcc": NumpyFeatures}


class OnnxHead:
    def __init__(self, path: Path):
        self.session = ort_session(path, threads=1)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([self.session.run(None, {"embeddings": X[i: i + 4096]})[0] for i in range(0, max(len(X), 1), 4096)])


def load_exported(folder, name: str | None = None, *, precision: str = "auto") -> dict:
    """The parts of an :class:`~segser.model.EmotionModel` (runtime ``onnx``) from an
    exported model folder; every file's sha256 is checked."""
    folder = Path(folder)
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    shown = name or folder.name
    check = folder / EXPORT_CHECKSUM
    if not check.exists():
        raise ModelError(f"{shown}: no {EXPORT_CHECKSUM} (an export made by an older segser, or altered); "
                         "export the model again")
    if file_digest(folder / "export.json") != check.read_text().split()[0]:
        raise ModelError(f"{shown}: export.json is altered (sha256 mismatch with {EXPORT_CHECKSUM}); export the model again")
    try:
        doc = json.loads((folder / "export.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{shown}: export.json unreadable ({exc})") from None
    for f, digest in doc.get("sha256", {}).items():
        if not (folder / f).exists() or file_digest(folder / f) != digest:
            raise ModelError(f"{shown}: {f} is missing or altered (sha256 mismatch); export the model again")
    info = doc["encoder"]
    chosen = precision if precision != "auto" else DEFAULT_PRECISION if info.get("int8_file") else "fp32"
    if chosen == "int8" and not info.get("int8_file"):
        raise ModelError(f"{name or folder.name}: this export has no int8 encoder (export it with --int8)")
    encoder = ENCODERS[info["kind"]](info, folder, chosen)
    card = json.loads((folder / "card.json").read_text()) if (folder / "card.json").exists() else {}
    reference = None
    if doc["head"].get("reference"):
        with np.load(folder / doc["head"]["reference"]) as z:
            reference = (z["mean"].astype(np.float32), z["std"].astype(np.float32))
    head = OnnxHead(folder / doc["head"]["file"])
    outputs = head(np.zeros((1, int(doc["head"]["in_dim"])), np.float32)).shape[-1]
    if outputs != len(doc["classes"]):
        raise ModelError(f"{shown}: its head gives {outputs} classes but export.json names {len(doc['classes'])}")
    return dict(reference=reference,
                name=name or doc["name"], classes=list(doc["classes"]), segmentation=Segmentation(**doc["segmentation"]),
                encoder=encoder, head=head, runtime="onnx", card=card, source=folder,
                temperature=float(doc["temperature"]), vad_file=folder / doc["vad"] if doc.get("vad") else None,
                speaker_norm=bool(doc.get("speaker_norm", False)), speech_gate=float(doc.get("speech_gate", 0.0)))


def cached_export(folder: Path, name: str) -> Path:
    """Where the cache keeps the export of a run directory or built-in model."""
    return cache_dir() / "exports" / f"{name}-{_export_key(folder)}"


def _export_key(folder: Path) -> str:
    h = hashlib.sha256(f"int8:{INT8_DEFAULT}".encode())  # how the int8 copy is made (export.quantize): a new one, a new key
    optional = [f for f in ("mood.npz",) if (folder / f).exists()]
    for f in ("model.pt", "config.json", *optional):
        h.update(file_digest(folder / f).encode())
    return h.hexdigest()[:20]


def prune_stale_exports(target: Path, made_from: Path) -> list[Path]:
    """Remove the cache's older exports of the same folder (made by an earlier model file or export recipe:
    their key differs), so the cache holds one per model. Another folder's exports are left alone."""
    removed = []
    for other in target.parent.iterdir():
        if other == target or not other.is_dir():
            continue
        try:
            doc = json.loads((other / "export.json").read_text())
        except (OSError, ValueError):
            continue
        if doc.get("made_from") == str(Path(made_from).resolve()):
            doomed = other.with_name(f".{other.name}.stale")
            try:
                other.rename(doomed)  # out of the way at once, then deleted
                shutil.rmtree(doomed, ignore_errors=True)
                removed.append(other)
            except OSError:
                pass
    return removed


def weights_unchanged(target: Path) -> bool:
    """Whether the weight files a cached export was made from are still the ones the resolver finds."""

    try:
        refs = json.loads((target / "export.json").read_text()).get("weights", [])
        for ref in refs:
            p = resolve(ref["source"], ref["explicit"], download=False, assemble=False)
            st = os.stat(p)
            if [str(p), st.st_size, st.st_mtime_ns] != [ref["path"], ref["size"], ref["mtime_ns"]]:
                return False
        return True
    except Exception:
        return False
