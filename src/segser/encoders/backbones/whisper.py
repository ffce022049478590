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

from segser.encoders.backbones.base import Backbone
from segser.encoders.engine import pool_frames
from segser.encoders.features import WhisperLogMel, WhisperLogMelConfig
from segser.errors import ConfigError, check_choice, check_number
from segser.weights import resolve

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


SIZES = ("tiny.en", "base", "small")  # the Whisper weights the resolver knows


@dataclass(frozen=True)
class WhisperConfig:
    """``layer``: index into the n_layer + 1 hidden states (-1 = final), or
    ``"all"`` for every layer concatenated (layer search, learned layer sum).
    ``context``: seconds per encoder window (Whisper's own is 30), a multiple of 20 ms.
    ``pooling``: ``mean`` of the segment's frames, or ``meanstd`` (mean and standard deviation).
    ``level``: scale each window to this speech level (dBFS) before the log-mel
    (see :func:`~segser.encoders.features.whisper_logmel.level_gain`); None keeps the recorded level."""

    size: str = "tiny.en"
    weights: str | None = None
    layer: int | str = -1
    context: float = WINDOW_SECONDS
    pooling: str = "mean"
    level: float | None = None

    def __post_init__(self):
        check_choice("whisper size", self.size, SIZES)
        if isinstance(self.layer, str) and self.layer != "all":
            raise ConfigError(f"whisper layer must be an integer or 'all' (got {self.layer!r})")
        context = check_number("whisper context", self.context, lo=FRAME_SECONDS, hi=WINDOW_SECONDS, unit="s")
        if abs(context / FRAME_SECONDS - round(context / FRAME_SECONDS)) > 1e-6:
            raise ConfigError(f"whisper context must be a multiple of {FRAME_SECONDS} s (got {context})")
        object.__setattr__(self, "context", context)
        check_choice("whisper pooling", self.pooling, ("mean", "meanstd"))


class Whisper(Backbone):
    """Whisper encoder backbone: encodes the signal in windows of ``context``
    seconds tiled from 0 (each zero-padded, like Whisper's 30 s windows) and
    pools the tapped layers' 20 ms frames inside each segment."""

    name = "whisper"
    config_type = WhisperConfig
    frame_seconds = FRAME_SECONDS

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        c = self.config
        self.weights_path = resolve(f"whisper-{c.size}", c.weights)
        self.encoder = load_encoder(self.weights_path)
        dims = self.encoder.dims
        self.frontend = WhisperLogMel(WhisperLogMelConfig(n_mels=dims.n_mels, level=c.level))
        self.n_layers = dims.n_layer + 1
        if c.layer == "all":
            self.taps = list(range(self.n_layers))
        elif -self.n_layers <= c.layer < self.n_layers:
            self.taps = [c.layer % self.n_layers]
        else:
            raise ConfigError(f"whisper {c.size} has layers 0..{self.n_layers - 1} (or -1, 'all'); got {c.layer}")
        self.upto = max(self.taps)  # blocks to run: the deepest tapped state
        self.window_seconds = c.context
        self.width = dims.n_state * (2 if c.pooling == "meanstd" else 1)
        self.dim = self.width * len(self.taps)
        self.eval()

    def weight_refs(self):
        return [(f"whisper-{self.config.size}", self.config.weights)]

    def describe(self) -> dict:
        out = super().describe()
        if out.get("level", 0) is None:
            del out["level"]  # the default: cache keys of earlier embeddings stay valid
        return out

    def tapped_states(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """The tapped hidden states, each (batch, frames, n_state)."""
        states = self.encoder(mel, upto=self.upto)
        return [states[i] for i in self.taps]

    def _pooled(self, h: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Mean (and std) over frames of (batch, frames, n_state), optionally masked by weights (batch, frames)."""
        if weights is None:
            feats = [h.mean(dim=1)]
            if self.config.pooling == "meanstd":
                feats.append(h.std(dim=1, unbiased=False))
            return torch.cat(feats, dim=-1)
        w = weights[:, :, None] / weights.sum(1)[:, None, None]
        mean = (h * w).sum(1)
        feats = [mean]
        if self.config.pooling == "meanstd":
            feats.append((((h - mean[:, None]) ** 2) * w).sum(1).clamp_min(0).sqrt())
        return torch.cat(feats, dim=-1)

    @torch.no_grad()
    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        """(batch, window samples) -> frames of the tapped layers (batch, taps, frames, n_state)."""
        mel = torch.stack([self.frontend.torch(torch.from_numpy(w)) for w in windows])
        return torch.stack(self.tapped_states(mel), dim=1).numpy()

    def pool(self, frames: np.ndarray) -> np.ndarray:
        """Frames of one segment (taps, frames, n_state) -> its embedding (dim,), as the ONNX runtime pools them."""

        return pool_frames(frames, meanstd=self.config.pooling == "meanstd")

    def segment_forward(self, segments: torch.Tensor) -> torch.Tensor:
        """Each segment encoded on its own (a short input window), frames pooled."""
        return torch.cat([self._pooled(h) for h in self.tapped_states(self.frontend.torch(segments))], dim=1)

    def context_segment_forward(self, packed: torch.Tensor) -> torch.Tensor:
        """Segments encoded inside their clip's window (as the frozen pipeline
        does, but differentiable): each row is a ``context``-long window of
        samples followed by the segment's start and end in seconds within it."""
        windows, spans = packed[:, :-2], packed[:, -2:]
        states = self.tapped_states(self.frontend.torch(windows))
        frames = torch.arange(states[0].shape[1], dtype=packed.dtype)
        a = torch.floor(spans[:, :1] / FRAME_SECONDS)
        b = torch.maximum(a + 1, torch.ceil(spans[:, 1:] / FRAME_SECONDS))
        mask = ((frames[None] >= a) & (frames[None] < b)).to(packed.dtype)
        return torch.cat([self._pooled(h, mask) for h in states], dim=1)

    def tail_parameters(self, blocks: int | None):
        if blocks is None:
            return list(self.encoder.parameters())
        last = self.upto
        params = [p for b in self.encoder.blocks[max(0, last - blocks): last] for p in b.parameters()]
        return params + (list(self.encoder.ln_post.parameters()) if last == self.n_layers - 1 else [])
