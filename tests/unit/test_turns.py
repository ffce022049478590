"""Speaker turns: the voice encoder's frontend against librosa, its weights through the resolver (a checkpoint
written here in Resemblyzer's format), clear answers for input without speech, RTTM and TextGrid text."""
import numpy as np
import pytest
import torch

from segser.diarization.turns import TurnOptions, Turns, find_turns
from segser.diarization.voice import VoiceFeatures, voice_encoder, voice_mel
from segser.errors import AudioError, ConfigError
from segser.results.types import Turn
from segser.results.writers import rttm_lines


def test_voice_mel_is_resemblyzers_librosa_melspectrogram():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    want = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    np.testing.assert_allclose(voice_mel(x), want, rtol=2e-4, atol=1e-6)


def test_the_speaker_pass_streamed_in_blocks_equals_the_whole_signal():
    """Mel frames, speech flags and level pushed in blocks of any size (1 sample to 3 s) are those of the whole
    signal at once, so a long recording is never held whole (its frames spill to disk past 80 s)."""
    rng = np.random.default_rng(1)
    t = np.arange(16000 * 7) / 16000
    x = (0.05 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    whole = VoiceFeatures()
    whole.push(x)
    rows, want_gain, want_flags = whole.finish()
    want_mel = rows.read(0, len(rows))
    assert len(want_mel) == 1 + len(x) // 160 and len(want_flags) == -(-len(x) // 512)
    for sizes in ([1, 399, 160, 48000], [16000 * 3], [511, 513, 7]):
        f, i, k = VoiceFeatures(), 0, 0
        while i < len(x):
            f.push(x[i:i + sizes[k % len(sizes)]])
            i, k = i + sizes[k % len(sizes)], k + 1
        rows, gain, flags = f.finish()
        np.testing.assert_allclose(rows.read(0, len(rows)), want_mel, rtol=1e-5, atol=1e-9)
        assert gain == pytest.approx(want_gain, rel=1e-9)
        np.testing.assert_array_equal(flags, want_flags)
        assert f.sumsq == pytest.approx(float(np.sum(x.astype(np.float64) ** 2)), rel=1e-9)


def resemblyzer_checkpoint(path, seed=0):
    """A checkpoint laid out as Resemblyzer's pretrained.pt: {"step", "model_state", "optimizer_state"}."""
    g = torch.Generator().manual_seed(seed)
    state = {"similarity_weight": torch.ones(1), "similarity_bias": torch.zeros(1),
             "linear.weight": torch.randn(256, 256, generator=g) * 0.05, "linear.bias": torch.zeros(256)}
    for layer in range(3):
        d_in = 40 if layer == 0 else 256
        state[f"lstm.weight_ih_l{layer}"] = torch.randn(1024, d_in, generator=g) * 0.05
        state[f"lstm.weight_hh_l{layer}"] = torch.randn(1024, 256, generator=g) * 0.05
        state[f"lstm.bias_ih_l{layer}"] = torch.zeros(1024)
        state[f"lstm.bias_hh_l{layer}"] = torch.zeros(1024)
    torch.save({"step": 1, "model_state": state, "optimizer_state": {}}, path)
    return state


def test_voice_encoder_loads_a_checkpoint_in_resemblyzers_format(tmp_path, monkeypatch):
    state = resemblyzer_checkpoint(tmp_path / "pretrained.pt")
    monkeypatch.setenv("SEGSER_RESEMBLYZER", str(tmp_path / "pretrained.pt"))
    voice_encoder.cache_clear()
    net = voice_encoder()
    np.testing.assert_array_equal(net.linear.weight.detach().numpy(), state["linear.weight"].numpy())
    with torch.no_grad():
        e = net(torch.randn(3, 160, 40)).numpy()
    assert e.shape == (3, 256) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("SEGSER_RESEMBLYZER", str(tmp_path / "bad.pt"))
    voice_encoder.cache_clear()
    with pytest.raises(ConfigError, match="bad.pt: not a Resemblyzer voice encoder checkpoint"):
        voice_encoder()
    voice_encoder.cache_clear()


def test_silence_and_noise_get_a_clear_answer():
    with pytest.raises(AudioError, match="call.wav: no speech found.*no speaker turns"):
        find_turns(np.zeros(16000 * 3, np.float32), where="call.wav")
    tone = (0.2 * np.sin(np.arange(16000 * 3) / 16000 * 2 * np.pi * 440)).astype(np.float32)
    with pytest.raises(AudioError, match="no speech"):
        find_turns(tone)


@pytest.mark.parametrize("kw,message", [({"num_speakers": 0}, "num-speakers"), ({"max_speakers": 1000}, "max-speakers"),
                                        ({"threshold": float("nan")}, "threshold"), ({"step": 0.0}, "step")])
def test_turn_options_are_checked(kw, message):
    with pytest.raises(ConfigError, match=message):
        TurnOptions(**kw)
    TurnOptions(num_speakers=12)  # a given number above the default most (8) is taken as given
    with pytest.raises(ConfigError, match="--num-speakers 5 is more than --max-speakers 2"):
        TurnOptions(num_speakers=5, max_speakers=2)


def test_rttm_and_speaker_of_a_span():
    turns = Turns([Turn(0.5, 2.0, "S1"), Turn(2.2, 4.0, "S2", overlap=True)], ["S1", "S2"])
    assert rttm_lines(turns.turns, "my call/1") == ["SPEAKER my_call_1 1 0.500 1.500 <NA> <NA> S1 <NA> <NA>",
                                                    "SPEAKER my_call_1 1 2.200 1.800 <NA> <NA> S2 <NA> <NA>"]
    assert turns.speaker_of(1.0, 2.0) == "S1" and turns.speaker_of(1.8, 3.0) == "S2" and turns.speaker_of(5, 6) == "-"


def test_speakers_of_many_spans_is_who_speaks_most_of_each():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 100, 60)  # unsorted, some overlapping
    turns = Turns([Turn(float(a), float(a + rng.uniform(0.1, 5)), f"S{rng.integers(1, 4)}") for a in starts],
                  ["S1", "S2", "S3"])
    spans = [(float(a), float(a + 1)) for a in np.arange(-2, 106, 0.5)]

    def most(a, b):  # by hand: covered seconds per speaker, a tie to the first listed
        cover = {sp: sum(max(0.0, min(b, t.end) - max(a, t.start)) for t in turns.turns if t.speaker == sp)
                 for sp in turns.speakers}
        top = max(cover.values())
        return next(sp for sp in turns.speakers if cover[sp] == top) if top > 1e-9 else "-"
    assert turns.speakers_of(spans) == [most(a, b) for a, b in spans]
    assert "-" in turns.speakers_of(spans) and len(set(turns.speakers_of(spans))) == 4


def test_textgrid_fills_gaps_and_cuts_overlaps():
    from segser.results.writers import textgrid

    text = textgrid([("emotion S1", [(0.5, 1.5, "happy"), (1.2, 2.0, "sad")])], 3.0)
    assert 'name = "emotion S1"' in text and "intervals: size = 4" in text
    assert text.count("xmin = 1.500") == 1 and 'text = ""' in text and "xmax = 3.000" in text


def test_a_conversation_over_the_segment_bound_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """A conversation's segments wait for its speakers: a recording that would give more than the bound is refused
    from its header, before a single block is decoded."""
    import soundfile as sf

    import segser.pipeline
    from segser.cli import main
    from segser.io.audio import FileStream

    monkeypatch.setattr(segser.pipeline, "MAX_GROUP_SEGMENTS", 5)
    sf.write(tmp_path / "long.flac", np.full(16000 * 8, 1e-3, np.float32), 16000)

    def refuse(self):
        raise AssertionError("a block was decoded before the recording's length was checked")

    monkeypatch.setattr(FileStream, "__iter__", refuse)
    assert main(["predict", str(tmp_path / "long.flac"), "--speakers", "auto", "--quiet"]) == 1
    assert "long.flac: 8 s at a 1 s hop would give up to 9 segments (limit 5)" in capsys.readouterr().err
