"""``segser export``: a trained model as ONNX graphs that run without PyTorch.

The folder holds ``encoder.onnx`` (the backbone from its input features to
the tapped frames or segment embeddings; only the layers the model uses),
``head.onnx`` (embeddings -> logits, with the head's normalisations),
optionally ``encoder.int8.onnx`` (weights quantised to 8 bits), Silero VAD's
``vad.onnx``, the model card and ``export.json``: the feature settings, class
names, segmentation, calibration temperature and the sha256 of every file.
:mod:`segser.onnx_model` runs it with onnxruntime and numpy.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from segser.adaptation.heads import ADAPTATION_HEADS_FILE
from segser.adaptation.mood import MOOD_CHECK_FILE
from segser.encoders.backbones import EXPORT_KINDS
from segser.errors import ConfigError, ModelError
from segser.io.files import RunDirectory, file_digest, write_json
from segser.options import as_dict
from segser.runtime.onnx import EXPORT_CHECKSUM, INT8_DEFAULT
from segser.settings import __version__
from segser.weights import resolve

FORMAT = 1
OPSET = 17


class _TappedWhisper(torch.nn.Module):
    """Whisper's encoder from log-mel windows to the tapped hidden states (batch, taps, frames, width)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, mel):
        return torch.stack(self.backbone.tapped_states(mel), dim=1)


def _export_graph(module, args, path: Path, *, inputs, outputs, dynamic) -> None:
    module = module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)


def _encoder(bb, folder: Path) -> dict:
    """Export the backbone as its kind in :data:`segser.encoders.backbones.EXPORT_KINDS` says; the encoder section of export.json."""
    kind = EXPORT_KINDS.get(bb.name)
    if kind is None:
        raise ModelError(f"the {bb.name} backbone cannot be exported to ONNX ({', '.join(EXPORT_KINDS)} can)")
    common = {"kind": kind, "frontend": as_dict(bb.frontend.config), "dim": bb.dim}
    if kind == "whisper":
        win = int(round(bb.window_seconds * bb.sample_rate))
        mel = torch.from_numpy(bb.frontend(np.zeros((1, win), np.float32)))
        _export_graph(_TappedWhisper(bb), (mel,), folder / "encoder.onnx", inputs=["mel"], outputs=["frames"],
                      dynamic={"mel": {0: "batch", 2: "mel_frames"}, "frames": {0: "batch", 2: "frames"}})
        return {**common, "window_seconds": bb.window_seconds, "frame_seconds": bb.frame_seconds,
                "pooling": bb.config.pooling, "file": "encoder.onnx"}
    if kind == "patches":
        net = bb if bb.name == "vggish" else _YAMNetEmbedding(bb.net)
        _export_graph(net, (torch.zeros(2, 96, 64),), folder / "encoder.onnx", inputs=["patches"], outputs=["embeddings"],
                      dynamic={"patches": {0: "batch"}, "embeddings": {0: "batch"}})
        return {**common, "pad_to": bb.pad_to, "file": "encoder.onnx"}
    return {**common, "pad_to": bb.pad_to}  # logmel, mfcc: the features themselves, computed in numpy


class _YAMNetEmbedding(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, patches):
        return self.net(patches)[0]


INT8_LAYERS = ("mlp", "linear", "all")


def quantize(src: Path, dst: Path, *, layers: str = INT8_DEFAULT) -> None:
    """Dynamic 8-bit quantisation of weights, signed, one scale per output channel. ``layers="linear"``: every
    product with a weight matrix (the transformer blocks' feed-forward and attention projections, about 90 % of
    the encoder's work), the attention's products of two activations and the convolutions kept in fp32;
    ``"mlp"``: the feed-forward matrices only; ``"all"``: every matrix product and convolution, which moved the
    head's logits three times as much as ``"mlp"`` on real speech (benchmarks/fastest_path.py judges all three)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if layers not in INT8_LAYERS:
        raise ModelError(f"int8 layers must be one of {', '.join(INT8_LAYERS)} (got {layers!r})")
    graph = onnx.load(str(src)).graph
    weights = {w.name for w in graph.initializer}
    quantized = {"all": lambda n: True, "mlp": lambda n: "/mlp/" in n.name,
                 "linear": lambda n: n.op_type == "MatMul" and n.input[1] in weights}[layers]
    keep = [n.name for n in graph.node if n.op_type in ("MatMul", "Conv", "Gemm") and not quantized(n)]
    root = logging.getLogger()  # the quantiser logs advice to the root logger; a user of segser export wants none
    level, quiet = root.level, logging.NullHandler()
    root.addHandler(quiet)
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep)
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)


def quantize_static(src: Path, dst: Path, mels: list) -> None:
    """Static 8-bit quantisation (QDQ): weights and activations, the activation
    ranges calibrated on ``mels`` (log-mel windows of real training speech)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as _quantize

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"mel": m} for m in mels])

        def get_next(self):
            return next(self.items, None)

    _quantize(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
              activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def export(m, out_dir, *, int8: bool = True, overwrite: bool = False) -> Path:
    """Export a loaded torch-runtime model (:func:`segser.model.load_model`) to ``out_dir``."""
    if m.runtime != "torch":
        raise ModelError(f"{m.name}: already an exported model")
    head = m.head.module
    in_dim = int(head.mean.numel())
    if overwrite and Path(out_dir).is_dir():
        _check_overwrite(Path(out_dir))
    with RunDirectory(out_dir, overwrite=overwrite, marker="export.json", what="export") as tmp:
        encoder = _encoder(m.encoder, tmp)
        _export_graph(head, (torch.zeros(2, in_dim),), tmp / "head.onnx", inputs=["embeddings"], outputs=["logits"],
                      dynamic={"embeddings": {0: "segments"}, "logits": {0: "segments"}})
        if int8 and "file" in encoder:
            quantize(tmp / encoder["file"], tmp / "encoder.int8.onnx")
            encoder["int8_file"], encoder["int8_layers"] = "encoder.int8.onnx", INT8_DEFAULT
        shutil.copyfile(resolve("silero-vad"), tmp / "vad.onnx")
        if m.reference is not None:  # what adaptation maps a group's statistics onto
            np.savez(tmp / "reference.npz", mean=m.reference[0], std=m.reference[1])
        if m.mood is not None:  # the guard of adaptation where no collection exists (streams, a group alone)
            m.mood.save(tmp / MOOD_CHECK_FILE)
        if m.adaptation is not None:  # the heads that take adapted input
            m.adaptation.save(tmp / ADAPTATION_HEADS_FILE)
        if m.card:
            write_json(tmp / "card.json", m.card)
        weights = []
        for source, explicit in m.encoder.weight_refs():
            path = resolve(source, explicit)
            st = path.stat()
            weights.append({"source": source, "explicit": explicit, "path": str(path), "size": st.st_size,
                            "mtime_ns": st.st_mtime_ns})
        files = sorted(p.name for p in tmp.iterdir())
        doc = {"format": FORMAT, "segser_version": __version__, "name": m.name, "classes": m.classes,
               "segmentation": as_dict(m.segmentation), "temperature": m.temperature, "sample_rate": m.sample_rate,
               "encoder": encoder, "head": {"file": "head.onnx", "in_dim": in_dim,
                                            **({"reference": "reference.npz"} if m.reference is not None else {})},
               "vad": "vad.onnx",
               "source": {"backbone": m.encoder.describe()}, "weights": weights,
               "sha256": {f: file_digest(tmp / f) for f in files}}
        if m.source is not None:  # the folder it was made from: the cache prunes older exports of that folder
            doc["made_from"] = str(Path(m.source).resolve())
        if m.speaker_norm:
            doc["speaker_norm"] = True
        doc["speech_gate"] = m.speech_gate
        (tmp / "export.json").write_text(json.dumps(doc, indent=2))
        (tmp / EXPORT_CHECKSUM).write_text(file_digest(tmp / "export.json") + "  export.json\n")
    return Path(out_dir)


def _check_overwrite(out_dir: Path) -> None:
    """``--overwrite`` replaces an earlier export's own files, never a file it did not write."""
    try:
        written = set(json.loads((out_dir / "export.json").read_text()).get("sha256", {}))
    except (OSError, json.JSONDecodeError):
        return  # not an export: RunDirectory refuses it
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in written | {"export.json", EXPORT_CHECKSUM})
    if foreign:
        raise ConfigError(f"{out_dir}: holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, which segser "
                          "export did not write; --overwrite would delete it: move it away or choose another --out")
