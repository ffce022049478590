"""Whisper's audio encoder (Radford et al. 2022) in PyTorch, any layer tappable.

Weights come in two formats, both read here without the original libraries:

* CTranslate2 ``model.bin`` (what the registry packages ship; float16), read
  variable by variable, stopping once the encoder is complete, so a file cut
  short inside the decoder is still usable;
* the official openai-whisper checkpoint (``.pt`` with ``dims`` and
  ``model_state_dict``), for users online.

Paper 003's idea: the encoder of a speech recogniser as the emotion backbone.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..features import WhisperLogMel, WhisperLogMelConfig
from ..weights import resolve
from .base import Backbone

FRAME_SECONDS = 0.02  # one encoder frame = two 10 ms mel frames
WINDOW_SECONDS = 30.0

_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int
    n_ctx: int
    n_state: int
    n_head: int
    n_layer: int


class Attention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x):
        b, t, d = x.shape
        h = self.n_head
        q, k, v = (lin(x).view(b, t, h, d // h).transpose(1, 2) for lin in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(n_state)
        self.attn = Attention(n_state, n_head)
        self.mlp_ln = nn.LayerNorm(n_state)
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))

    def forward(self, x):
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """(batch, n_mels, frames) log-mel -> hidden states of every layer.

    ``forward`` returns a list of n_layer + 1 tensors (batch, frames // 2, n_state):
    index 0 is the convolutional stem plus positions, index i the output of
    block i, and the last has the final layer norm applied (what Whisper's
    decoder sees).
    """

    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_state, 3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_state, dims.n_state, 3, stride=2, padding=1)
        self.register_buffer("positional_embedding", torch.zeros(dims.n_ctx, dims.n_state))
        self.blocks = nn.ModuleList(Block(dims.n_state, dims.n_head) for _ in range(dims.n_layer))
        self.ln_post = nn.LayerNorm(dims.n_state)

    def forward(self, mel: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positional_embedding[: x.shape[1]]
        states = [x]
        last = self.dims.n_layer if upto is None else upto
        for i, block in enumerate(self.blocks[:last]):
            x = block(x)
            states.append(self.ln_post(x) if i == self.dims.n_layer - 1 else x)
        return states


def read_ct2_encoder(path) -> tuple[WhisperDims, dict[str, torch.Tensor]]:
    """Encoder weights from a CTranslate2 Whisper ``model.bin`` as a state dict
    for :class:`WhisperEncoder`. Stops early if the file is truncated after the
    encoder; raises ``ValueError`` naming the file if encoder weights are missing."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    raw: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        def read(fmt):
            data = f.read(struct.calcsize(fmt))
            if len(data) < struct.calcsize(fmt):
                raise EOFError
            return struct.unpack("<" + fmt, data)

        def read_str():
            (n,) = read("H")
            return f.read(n)[:-1].decode("utf-8")

        try:
            (version,) = read("I")
            if version < 5 or version > 6:
                raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported (5-6)")
            spec = read_str()
            if spec != "WhisperSpec":
                raise ValueError(f"{path}: a {spec!r} model, not a Whisper model")
            read("I")
            (count,) = read("I")
            for _ in range(count):
                name = read_str()
                (ndim,) = read("B")
                shape = read("I" * ndim) if ndim else ()
                (dtype_id,) = read("B")
                (nbytes,) = read("I")
                if not name.startswith("encoder/"):
                    f.seek(nbytes, 1)
                    continue
                data = f.read(nbytes)
                if len(data) < nbytes:
                    raise EOFError
                raw[name] = np.frombuffer(data, dtype=_CT2_DTYPES[dtype_id]).reshape(shape)
        except EOFError:
            pass  # truncated file: usable if the encoder is complete (checked below)
    if "encoder/conv1/weight" not in raw or "encoder/position_encodings/encodings" not in raw:
        raise ValueError(f"{path}: no complete Whisper encoder in this CTranslate2 file")
    n_layer = 1 + max(int(m.group(1)) for k in raw if (m := re.match(r"encoder/layer_(\d+)/", k)))
    n_state, n_mels, _ = raw["encoder/conv1/weight"].shape
    n_head = int(raw["encoder/num_heads"]) if "encoder/num_heads" in raw else max(1, n_state // 64)
    dims = WhisperDims(n_mels=int(n_mels), n_ctx=int(raw["encoder/position_encodings/encodings"].shape[0]),
                       n_state=int(n_state), n_head=n_head, n_layer=n_layer)

    def t(name):
        if name not in raw:
            raise ValueError(f"{path}: encoder variable {name} missing (file truncated?)")
        return torch.from_numpy(raw[name].astype(np.float32))

    state = {
        "conv1.weight": t("encoder/conv1/weight"), "conv1.bias": t("encoder/conv1/bias"),
        "conv2.weight": t("encoder/conv2/weight"), "conv2.bias": t("encoder/conv2/bias"),
        "positional_embedding": t("encoder/position_encodings/encodings"),
        "ln_post.weight": t("encoder/layer_norm/gamma"), "ln_post.bias": t("encoder/layer_norm/beta"),
    }
    for i in range(n_layer):
        p = f"encoder/layer_{i}/"
        q = f"blocks.{i}."
        qkv_w, qkv_b = t(p + "self_attention/linear_0/weight"), t(p + "self_attention/linear_0/bias")
        state[q + "attn.query.weight"], state[q + "attn.key.weight"], state[q + "attn.value.weight"] = qkv_w.chunk(3)
        state[q + "attn.query.bias"], _, state[q + "attn.value.bias"] = qkv_b.chunk(3)
        for ours, theirs in (("attn_ln", "self_attention/layer_norm"), ("mlp_ln", "ffn/layer_norm")):
            state[q + ours + ".weight"], state[q + ours + ".bias"] = t(p + theirs + "/gamma"), t(p + theirs + "/beta")
        for ours, theirs in (("attn.out", "self_attention/linear_1"), ("mlp.0", "ffn/linear_0"), ("mlp.2", "ffn/linear_1")):
            state[q + ours + ".weight"], state[q + ours + ".bias"] = t(p + theirs + "/weight"), t(p + theirs + "/bias")
    return dims, state


def read_openai_encoder(path) -> tuple[WhisperDims, dict[str, torch.Tensor]]:
    """Encoder weights from an official openai-whisper ``.pt`` checkpoint."""
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        raise ValueError(f"{path}: not an openai-whisper checkpoint (needs 'dims' and 'model_state_dict')")
    d = ckpt["dims"]
    dims = WhisperDims(n_mels=d["n_mels"], n_ctx=d["n_audio_ctx"], n_state=d["n_audio_state"],
                       n_head=d["n_audio_head"], n_layer=d["n_audio_layer"])
    state = {k[len("encoder."):]: v.float() for k, v in ckpt["model_state_dict"].items() if k.startswith("encoder.")}
    return dims, state


def load_encoder(path) -> WhisperEncoder:
    path = Path(path)
    is_ct2 = path.is_dir() or path.suffix == ".bin"
    dims, state = read_ct2_encoder(path) if is_ct2 else read_openai_encoder(path)
    enc = WhisperEncoder(dims)
    enc.load_state_dict(state)
    return enc.eval()


class Whisper(Backbone):
    """Whisper encoder backbone: encodes a clip (in windows of ``context``
    seconds, zero-padded like Whisper's 30 s windows) and mean-pools the chosen
    layer's 20 ms frames inside each segment span.

    ``layer``: index into the n_layer + 1 hidden states (-1 = final), or
    ``"all"`` to return every layer concatenated (for layer search or a learned
    weighted sum).
    """

    name = "whisper"

    def __init__(self, size: str = "tiny.en", weights=None, *, layer: int | str = -1, context: float = WINDOW_SECONDS,
                 pooling: str = "mean"):
        super().__init__()
        self.size = size
        self.weights_path = resolve(f"whisper-{size}", weights)
        self.encoder = load_encoder(self.weights_path)
        dims = self.encoder.dims
        self.frontend = WhisperLogMel(WhisperLogMelConfig(n_mels=dims.n_mels))
        self.n_layers = dims.n_layer + 1
        self.layer = layer
        if pooling not in ("mean", "meanstd"):
            raise ValueError(f"pooling must be 'mean' or 'meanstd', not {pooling!r}")
        self.pooling = pooling
        max_context = dims.n_ctx * FRAME_SECONDS
        if not 0 < context <= max_context:
            raise ValueError(f"context must be in (0, {max_context}] seconds, not {context}")
        self.context = float(context)
        width = dims.n_state * (2 if pooling == "meanstd" else 1)
        self.dim = width * (self.n_layers if layer == "all" else 1)
        self.layers = tuple(f"layer{i}" for i in range(self.n_layers))
        self.eval()

    def describe(self) -> dict:
        return {"backbone": self.name, "size": self.size, "layer": self.layer, "context": self.context,
                "pooling": self.pooling, "weights_file": Path(self.weights_path).name}

    @torch.no_grad()
    def _window_states(self, x: np.ndarray) -> torch.Tensor:
        """Hidden states (layers, frames, n_state) of every 20 ms frame of ``x``."""
        sr = self.sample_rate
        win = int(round(self.context * sr))
        n_frames_total = int(np.ceil(x.size / (FRAME_SECONDS * sr)))
        upto = None if self.layer in ("all", -1) else (self.layer % self.n_layers)
        chunks = []
        for a in range(0, max(x.size, 1), win):
            piece = np.zeros(win, dtype=np.float32)
            real = x[a: a + win]
            piece[: real.size] = real
            mel = self.frontend.torch(torch.from_numpy(piece))[None]
            states = self.encoder(mel, upto=upto)
            if self.layer == "all":
                h = torch.stack(states)[:, 0]
            else:
                h = states[self.layer if self.layer == -1 else self.layer % self.n_layers][None, 0]
            n_real = int(np.ceil(real.size / (FRAME_SECONDS * sr)))
            chunks.append(h[:, :n_real])
        return torch.cat(chunks, dim=1)[:, :n_frames_total]

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        """Each segment encoded on its own (a short input window), frames mean-pooled."""
        mel = self.frontend.torch(segments)
        upto = None if self.layer in ("all", -1) else (self.layer % self.n_layers)
        states = self.encoder(mel, upto=upto)
        if self.layer == "all":
            return torch.cat([h.mean(dim=1) for h in states], dim=1)
        return states[self.layer if self.layer == -1 else self.layer % self.n_layers].mean(dim=1)

    def context_segment_forward(self, packed: torch.Tensor) -> torch.Tensor:
        """Segments encoded inside their clip's window (as :meth:`embed` does,
        but differentiable): each row is a ``context``-long window of samples
        followed by the segment's start and end in seconds within it; the
        frames of the segment are mean-pooled."""
        windows, spans = packed[:, :-2], packed[:, -2:]
        upto = None if self.layer in ("all", -1) else (self.layer % self.n_layers)
        states = self.encoder(self.frontend.torch(windows), upto=upto)
        chosen = states if self.layer == "all" else [states[self.layer if self.layer == -1 else self.layer % self.n_layers]]
        frames = torch.arange(chosen[0].shape[1], dtype=packed.dtype)
        a = torch.floor(spans[:, :1] / FRAME_SECONDS)
        b = torch.maximum(a + 1, torch.ceil(spans[:, 1:] / FRAME_SECONDS))
        mask = ((frames[None] >= a) & (frames[None] < b)).to(packed.dtype)
        return torch.cat([(h * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True) for h in chosen], dim=1)

    def tail_parameters(self, blocks: int | None):
        if blocks is None:
            return list(self.encoder.parameters())
        last = self.n_layers - 1 if self.layer in ("all", -1) else self.layer % self.n_layers
        params = [p for b in self.encoder.blocks[max(0, last - blocks): last] for p in b.parameters()]
        return params + (list(self.encoder.ln_post.parameters()) if last == self.n_layers - 1 else [])

    @torch.no_grad()
    def embed(self, x, spans):
        h = self._window_states(np.asarray(x, dtype=np.float32))
        n = h.shape[1]
        out = []
        for s, e in spans:
            a = min(int(np.floor(s / FRAME_SECONDS)), n - 1)
            b = max(a + 1, min(int(np.ceil(e / FRAME_SECONDS)), n))
            seg = h[:, a:b]
            feats = [seg.mean(dim=1)]
            if self.pooling == "meanstd":
                feats.append(seg.std(dim=1, unbiased=False))
            out.append(torch.cat(feats, dim=-1).reshape(-1))
        return torch.stack(out).numpy() if out else np.zeros((0, self.dim), np.float32)
