"""Whisper encoder readers on tiny checkpoints written by the test in both
published formats (CTranslate2 model.bin v6, openai-whisper .pt)."""
import struct

import numpy as np
import pytest
import torch

from segser.encoders.backbones.whisper import Whisper, WhisperDims, load_encoder, read_ct2_encoder
from segser.errors import ConfigError
from tests.conftest import WHISPER_DIMS, random_openai_state, tiny_whisper_checkpoint

DIMS = WHISPER_DIMS


def write_ct2(path, st, *, encoder_first=False, truncate_at=None):
    """Serialise like CTranslate2's ModelSpec._serialize (binary version 6, float16)."""
    f16 = lambda t: t.numpy().astype(np.float16)
    enc = {}
    d = DIMS["n_state"]
    enc["encoder/conv1/weight"], enc["encoder/conv1/bias"] = f16(st["encoder.conv1.weight"]), f16(st["encoder.conv1.bias"])
    enc["encoder/conv2/weight"], enc["encoder/conv2/bias"] = f16(st["encoder.conv2.weight"]), f16(st["encoder.conv2.bias"])
    enc["encoder/position_encodings/encodings"] = f16(st["encoder.positional_embedding"])
    enc["encoder/layer_norm/gamma"], enc["encoder/layer_norm/beta"] = f16(st["encoder.ln_post.weight"]), f16(st["encoder.ln_post.bias"])
    enc["encoder/num_heads"] = np.array(DIMS["n_head"], dtype=np.int16)
    for i in range(DIMS["n_layer"]):
        p, q = f"encoder/layer_{i}/", f"encoder.blocks.{i}."
        enc[p + "self_attention/linear_0/weight"] = f16(torch.cat([st[q + "attn.query.weight"], st[q + "attn.key.weight"], st[q + "attn.value.weight"]]))
        enc[p + "self_attention/linear_0/bias"] = f16(torch.cat([st[q + "attn.query.bias"], torch.zeros(d), st[q + "attn.value.bias"]]))
        enc[p + "self_attention/linear_1/weight"], enc[p + "self_attention/linear_1/bias"] = f16(st[q + "attn.out.weight"]), f16(st[q + "attn.out.bias"])
        enc[p + "self_attention/layer_norm/gamma"], enc[p + "self_attention/layer_norm/beta"] = f16(st[q + "attn_ln.weight"]), f16(st[q + "attn_ln.bias"])
        enc[p + "ffn/layer_norm/gamma"], enc[p + "ffn/layer_norm/beta"] = f16(st[q + "mlp_ln.weight"]), f16(st[q + "mlp_ln.bias"])
        enc[p + "ffn/linear_0/weight"], enc[p + "ffn/linear_0/bias"] = f16(st[q + "mlp.0.weight"]), f16(st[q + "mlp.0.bias"])
        enc[p + "ffn/linear_1/weight"], enc[p + "ffn/linear_1/bias"] = f16(st[q + "mlp.2.weight"]), f16(st[q + "mlp.2.bias"])
    dec = {"decoder/embeddings/weight": f16(st["decoder.token_embedding.weight"]), "decoder/num_heads": np.array(2, np.int16)}
    items = sorted(enc.items()) + sorted(dec.items()) if encoder_first else sorted({**dec, **enc}.items())
    type_id = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3, np.dtype("float16"): 4}
    buf = bytearray()
    wstr = lambda s: buf.extend(struct.pack("H", len(s) + 1) + s.encode() + b"\0")
    buf += struct.pack("I", 6)
    wstr("WhisperSpec")
    buf += struct.pack("I", 3) + struct.pack("I", len(items))
    for name, v in items:
        wstr(name)
        buf += struct.pack("B", v.ndim) + b"".join(struct.pack("I", s) for s in v.shape)
        buf += struct.pack("B", type_id[v.dtype]) + struct.pack("I", v.nbytes) + v.tobytes()
    buf += struct.pack("I", 0)
    data = bytes(buf) if truncate_at is None else bytes(buf[:truncate_at])
    path.write_bytes(data)
    return path


def test_ct2_and_openai_formats_give_the_same_encoder(tmp_path):
    st = random_openai_state()
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 2},
                "model_state_dict": st}, tmp_path / "tiny-test.pt")
    write_ct2(tmp_path / "model.bin", st)
    a, b = load_encoder(tmp_path / "tiny-test.pt"), load_encoder(tmp_path / "model.bin")
    assert a.dims == b.dims == WhisperDims(**DIMS)
    mel = torch.randn(1, 80, 200)
    with torch.no_grad():
        ha, hb = a(mel), b(mel)
    assert len(ha) == DIMS["n_layer"] + 1 and ha[-1].shape == (1, 100, 16)
    for x, y in zip(ha, hb):  # ct2 stores float16: equal up to half precision
        torch.testing.assert_close(x, y, rtol=2e-2, atol=2e-2)


def test_reference_attention_math(tmp_path):
    """Our block equals Whisper's published formula (q,k scaled by d^-1/4 each)."""
    st = random_openai_state(1)
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 16, "n_audio_head": 2, "n_audio_layer": 2},
                "model_state_dict": st}, tmp_path / "m.pt")
    enc = load_encoder(tmp_path / "m.pt")
    x = torch.randn(1, 7, 16)
    p = "encoder.blocks.0."
    ln = lambda t, n: torch.nn.functional.layer_norm(t, (16,), st[p + n + ".weight"], st[p + n + ".bias"])
    h = ln(x, "attn_ln")
    q = h @ st[p + "attn.query.weight"].T + st[p + "attn.query.bias"]
    k = h @ st[p + "attn.key.weight"].T
    v = h @ st[p + "attn.value.weight"].T + st[p + "attn.value.bias"]
    split = lambda t: t.view(1, 7, 2, 8).permute(0, 2, 1, 3)
    scale = 8 ** -0.25
    w = torch.softmax((split(q) * scale) @ (split(k) * scale).transpose(-1, -2), dim=-1)
    a = (w @ split(v)).permute(0, 2, 1, 3).reshape(1, 7, 16)
    x1 = x + a @ st[p + "attn.out.weight"].T + st[p + "attn.out.bias"]
    m = ln(x1, "mlp_ln") @ st[p + "mlp.0.weight"].T + st[p + "mlp.0.bias"]
    x2 = x1 + torch.nn.functional.gelu(m) @ st[p + "mlp.2.weight"].T + st[p + "mlp.2.bias"]
    with torch.no_grad():
        torch.testing.assert_close(enc.blocks[0](x), x2, rtol=1e-4, atol=1e-5)


def test_truncated_after_encoder_is_usable_inside_encoder_is_not(tmp_path):
    st = random_openai_state()
    full = write_ct2(tmp_path / "full.bin", st, encoder_first=True)
    size = full.stat().st_size
    cut_in_decoder = write_ct2(tmp_path / "a.bin", st, encoder_first=True, truncate_at=size - 50)
    dims, _ = read_ct2_encoder(cut_in_decoder)
    assert dims.n_layer == 2
    cut_in_encoder = write_ct2(tmp_path / "b.bin", st, encoder_first=True, truncate_at=size // 3)
    with pytest.raises(ValueError, match="b.bin"):
        read_ct2_encoder(cut_in_encoder)


def test_layer_tapping_and_span_pooling(tmp_path):
    ckpt = tiny_whisper_checkpoint(tmp_path / "m.pt")
    x = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    spans = [(0.0, 1.0), (1.0, 2.0)]
    allb = Whisper(weights=ckpt, layer="all", context=4.0)
    e_all = allb.embed(x, spans)
    assert e_all.shape == (2, 3 * 16)
    for layer in (0, 1, -1):
        e = Whisper(weights=ckpt, layer=layer, context=4.0).embed(x, spans)
        k = layer % 3
        np.testing.assert_allclose(e, e_all[:, k * 16:(k + 1) * 16], rtol=1e-5, atol=1e-5)
    # frames pooled for a span are exactly the 20 ms frames inside it (4 s window, zero-padded)
    window = np.zeros(64000, np.float32)
    window[:32000] = x
    h = allb.encode_windows(window[None])[0]  # (taps, frames, width)
    assert h.shape == (3, 200, 16)
    np.testing.assert_allclose(e_all[1, 32:], h[2, 50:100].mean(0), rtol=1e-5, atol=1e-6)


def test_meanstd_pooling_is_the_same_frozen_and_in_context(tmp_path):
    from segser.training.finetune import context_windows

    b = Whisper(weights=tiny_whisper_checkpoint(tmp_path / "m.pt"), layer="all", context=2.0, pooling="meanstd")
    x = (0.1 * np.random.default_rng(1).standard_normal(40000)).astype(np.float32)
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    frozen = b.embed(x, spans)
    assert frozen.shape == (3, b.dim) == (3, 3 * 2 * 16)
    with torch.no_grad():
        packed = torch.from_numpy(context_windows(x, spans, sample_rate=16000, context=2.0))
        np.testing.assert_allclose(b.context_segment_forward(packed).numpy(), frozen, atol=1e-4, rtol=1e-4)
        assert b.segment_forward(torch.zeros(2, 16000)).shape == (2, b.dim)


@pytest.mark.parametrize("options,message", [({"layer": 7}, "layers 0..2"), ({"layer": "last"}, "integer or 'all'"),
                                             ({"context": 0.03}, "multiple of 0.02"), ({"context": float("nan")}, "context"),
                                             ({"pooling": "max"}, "pooling"), ({"size": "huge"}, "size"),
                                             ({"layr": 3}, "unknown option 'layr'")])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        Whisper(weights=tiny_whisper_checkpoint(tmp_path / "m.pt"), **options)


def test_level_option_makes_embeddings_independent_of_recording_level(tmp_path):
    ckpt = tiny_whisper_checkpoint(tmp_path / "m.pt")
    rng = np.random.default_rng(2)
    x = (0.05 * rng.standard_normal(48000) * (np.arange(48000) % 16000 < 12000)).astype(np.float32)  # with pauses
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    levelled = Whisper(weights=ckpt, layer="all", context=2.0, level=-20.0)
    np.testing.assert_allclose(levelled.embed(0.03 * x, spans), levelled.embed(x, spans), atol=2e-4, rtol=1e-3)
    plain = Whisper(weights=ckpt, layer="all", context=2.0)
    assert np.abs(plain.embed(0.03 * x, spans) - plain.embed(x, spans)).max() > 1e-2
    assert "level" not in plain.describe() and levelled.describe()["frontend"]["level"] == -20.0


def test_level_gain_numpy_and_torch_frontends_agree():
    from segser.encoders.features.whisper_logmel import WhisperLogMel, WhisperLogMelConfig, level_gain

    x = (0.002 * np.random.default_rng(3).standard_normal((2, 32000))).astype(np.float32)
    x[1, :16000] = 0.0  # half silence: the level is the speech half's
    gains = level_gain(x, -20.0)
    np.testing.assert_allclose(20 * np.log10(gains[:, 0]), [-20 - 20 * np.log10(0.002)] * 2, atol=0.5)
    assert level_gain(np.zeros((1, 16000), np.float32), -20.0)[0, 0] == pytest.approx(100.0)  # silence: capped gain
    f = WhisperLogMel(WhisperLogMelConfig(level=-20.0))
    np.testing.assert_allclose(f(x), f.torch(torch.from_numpy(x)).numpy(), atol=1e-4)


@pytest.mark.parametrize("level", [5.0, -80.0, float("nan")])
def test_bad_level_is_a_clear_error(tmp_path, level):
    with pytest.raises(ConfigError, match="level"):
        Whisper(weights=tiny_whisper_checkpoint(tmp_path / "m.pt"), level=level)
