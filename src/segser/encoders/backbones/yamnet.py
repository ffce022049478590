"""YAMNet (AudioSet, MobileNet-v1) rebuilt in PyTorch from either release:

* ``release="coral-int8"`` (default, offline here): Google Coral's int8 TFLite
  file (``../shared/models/yamnet/yamnet_spectra_in.tflite``, Apache-2.0). Its
  int8 weights are dequantised (scale * (q - zero_point); biases with their
  int32 scales) into float convolutions; ``emulate_int8=True`` also
  re-quantises every activation to the file's own scales, reproducing the
  TFLite interpreter's arithmetic closely. Read with LiteRT
  (``pip install ai-edge-litert``), the official TFLite reader.
* ``release="google-h5"``: the float Keras weights Google publishes
  (https://storage.googleapis.com/audioset/yamnet.h5, for users who are
  online), read with h5py; batch norms are folded into the convolutions.

Input: 96x64
log-mel patches like VGGish's but with log(mel + 0.001); output: the 1024-d
global-average-pooled embedding (and 521 AudioSet scores).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segser.encoders.backbones.base import Backbone, batched, stack_segments
from segser.encoders.features import VGGishLogMel, VGGishLogMelConfig
from segser.errors import check_choice, check_number
from segser.weights import resolve


def _same_pad(x: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """TensorFlow 'SAME' padding (extra row/column at the end)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _fake_quant(x: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
    return (torch.clamp(torch.round(x / scale) + zero, -128, 127) - zero) * scale


def read_tflite(path) -> dict:
    """Dequantised layers of the Coral YAMNet file: a list of conv layers
    (weight, bias, stride, groups, activation quantisation) and the classifier."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ImportError("reading the YAMNet TFLite file needs LiteRT: pip install ai-edge-litert") from exc
    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    ops = it._get_ops_details()

    def deq(i, axis=None):
        d = details[i]
        q = d["quantization_parameters"]
        w = it.get_tensor(i).astype(np.float32)
        s, z = q["scales"], q["zero_points"]
        if len(s) > 1:
            shape = [1] * w.ndim
            shape[q["quantized_dimension"]] = -1
            return (w - z.reshape(shape)) * s.reshape(shape)
        return (w - z[0]) * s[0]

    def act_q(i):
        q = details[i]["quantization_parameters"]
        return float(q["scales"][0]), int(q["zero_points"][0])

    layers, fc, input_q, pool_q = [], None, None, None
    for op in ops:
        name, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name == "QUANTIZE" and input_q is None:
            input_q = act_q(outs[0])
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x_shape, y_shape = details[ins[0]]["shape"], details[outs[0]]["shape"]
            stride = int(x_shape[1] // y_shape[1])
            w = deq(ins[1])
            if name == "CONV_2D":  # [out, kh, kw, in] -> [out, in, kh, kw]
                weight, groups = w.transpose(0, 3, 1, 2), 1
            else:  # [1, kh, kw, C] -> [C, 1, kh, kw]
                weight, groups = w.transpose(3, 0, 1, 2), int(w.shape[3])
            layers.append({"weight": torch.from_numpy(np.ascontiguousarray(weight)), "bias": torch.from_numpy(deq(ins[2])),
                           "stride": stride, "groups": groups, "act_q": act_q(outs[0]), "max_value": 6.0})
        elif name == "MEAN":
            pool_q = act_q(outs[0])
        elif name == "FULLY_CONNECTED":
            fc = {"weight": torch.from_numpy(deq(ins[1])), "bias": torch.from_numpy(deq(ins[2]))}
    if len(layers) != 27 or fc is None:
        raise ValueError(f"{path}: not the Coral YAMNet layout (found {len(layers)} conv layers)")
    return {"layers": layers, "fc": fc, "input_q": input_q, "pool_q": pool_q}


# YAMNet's layers (tensorflow/models research/audioset/yamnet): layer1 is a 3x3 conv,
# layers 2-14 depthwise 3x3 + pointwise 1x1; strides as below.
_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
_BN_EPSILON = 1e-4  # YAMNet's batch norms: center=True, scale=False


def _h5_attr_list(group, name: str) -> list[str]:
    """Keras splits long attribute lists into name0, name1, ..."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values += list(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_keras_h5(path) -> dict:
    """Layers of Google's published float YAMNet (Keras HDF5 weights), batch norms
    folded into the convolutions, in the same form as :func:`read_tflite`."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("reading yamnet.h5 needs h5py: pip install h5py") from exc
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 file ({exc})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        weights = {}
        for layer in _h5_attr_list(root, "layer_names"):
            g = root[layer]
            for name in _h5_attr_list(g, "weight_names"):
                weights[(layer, name.rsplit("/", 1)[-1].split(":")[0])] = np.asarray(g[name], dtype=np.float32)

    def get(layer, var):
        if (layer, var) not in weights:
            raise ValueError(f"{path}: not Google's YAMNet Keras weights (no {layer}/{var})")
        return weights[(layer, var)]

    def conv(name, kernel_var, stride, depthwise):
        k = get(name, kernel_var)
        if depthwise:  # [kh, kw, C, 1] -> [C, 1, kh, kw]
            w, groups = k.transpose(2, 3, 0, 1), k.shape[2]
        else:  # [kh, kw, in, out] -> [out, in, kh, kw]
            w, groups = k.transpose(3, 2, 0, 1), 1
        bn = f"{name}/bn"
        scale = 1.0 / np.sqrt(get(bn, "moving_variance") + _BN_EPSILON)
        return {"weight": torch.from_numpy(np.ascontiguousarray(w * scale[:, None, None, None])),
                "bias": torch.from_numpy((get(bn, "beta") - get(bn, "moving_mean") * scale).astype(np.float32)),
                "stride": stride, "groups": int(groups), "act_q": None, "max_value": None}

    layers = [conv("layer1/conv", "kernel", _STRIDES[0], False)]
    for i, stride in enumerate(_STRIDES[1:], start=2):
        layers += [conv(f"layer{i}/depthwise_conv", "depthwise_kernel", stride, True),
                   conv(f"layer{i}/pointwise_conv", "kernel", 1, False)]
    dense = [layer for (layer, var), v in weights.items() if var == "kernel" and v.ndim == 2]
    if len(dense) != 1:
        raise ValueError(f"{path}: expected one dense classifier layer, found {len(dense)}")
    fc = {"weight": torch.from_numpy(np.ascontiguousarray(get(dense[0], "kernel").T)),
          "bias": torch.from_numpy(get(dense[0], "bias"))}
    return {"layers": layers, "fc": fc, "input_q": None, "pool_q": None}


class YAMNetNet(nn.Module):
    def __init__(self, spec: dict, emulate_int8: bool = False):
        super().__init__()
        self.convs = nn.ModuleList()
        self.meta = []
        for layer in spec["layers"]:
            w = layer["weight"]
            conv = nn.Conv2d(w.shape[1] * layer["groups"], w.shape[0], w.shape[2], stride=layer["stride"],
                             groups=layer["groups"])
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(layer["bias"])
            self.convs.append(conv)
            self.meta.append((w.shape[2], layer["stride"], layer["act_q"], layer["max_value"]))
        self.fc = nn.Linear(1024, spec["fc"]["weight"].shape[0])
        self.fc.weight.data.copy_(spec["fc"]["weight"])
        self.fc.bias.data.copy_(spec["fc"]["bias"])
        self.input_q, self.pool_q = spec["input_q"], spec["pool_q"]
        if emulate_int8 and self.input_q is None:
            raise ValueError("emulate_int8 needs the int8 (Coral TFLite) release")
        self.emulate_int8 = emulate_int8

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, 96, 64) log-mel -> (embeddings (batch, 1024), AudioSet scores (batch, 521))."""
        x = patches.unsqueeze(1)
        if self.emulate_int8:
            x = _fake_quant(x, *self.input_q)
        for conv, (k, stride, act_q, max_value) in zip(self.convs, self.meta):
            x = torch.clamp(conv(_same_pad(x, k, stride)), 0.0, max_value)
            if self.emulate_int8:
                x = _fake_quant(x, *act_q)
        emb = x.mean(dim=(2, 3))
        if self.emulate_int8:
            emb = _fake_quant(emb, *self.pool_q)
        return emb, torch.sigmoid(self.fc(emb))


RELEASES = {"coral-int8": ("yamnet-int8", read_tflite), "google-h5": ("yamnet", read_keras_h5)}


@dataclass(frozen=True)
class YAMNetConfig:
    weights: str | None = None
    release: str = "coral-int8"
    emulate_int8: bool = False
    segment_length: float = 1.0
    batch_size: int = 64

    def __post_init__(self):
        check_choice("yamnet release", self.release, tuple(RELEASES))
        check_number("yamnet segment_length", self.segment_length, lo=0.1, hi=10.0, unit="s")
        check_number("yamnet batch_size", self.batch_size, lo=1, hi=4096, integer=True)


class YAMNet(Backbone):
    name = "yamnet"
    config_type = YAMNetConfig
    dim = 1024

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        c = self.config
        source, reader = RELEASES[c.release]
        self.weights_path = resolve(source, c.weights)
        self.net = YAMNetNet(reader(self.weights_path), emulate_int8=c.emulate_int8).eval()
        self.frontend = VGGishLogMel(VGGishLogMelConfig(log_offset=0.001))
        self.pad_to = c.segment_length

    def weight_refs(self):
        return [(RELEASES[self.config.release][0], self.config.weights)]

    def embed_segments(self, segments):
        patches = torch.from_numpy(self.frontend.patches(stack_segments(segments)))
        return batched(lambda p: self.net(p)[0], patches, self.config.batch_size).numpy()
