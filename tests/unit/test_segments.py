import numpy as np

from segser.segments import cut, fixed_spans


def test_non_overlapping_pads_last():
    assert fixed_spans(2.5, length=1.0, hop=1.0) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]


def test_overlapping_half_second():
    assert fixed_spans(2.389, length=1.0, hop=0.5) == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5)]


def test_exact_multiple_has_no_empty_tail():
    assert fixed_spans(2.0, length=1.0, hop=1.0) == [(0.0, 1.0), (1.0, 2.0)]


def test_short_clip_gives_one_padded_segment():
    x = np.ones(4000, np.float32)
    spans = fixed_spans(x.size / 16000)
    assert spans == [(0.0, 1.0)]
    seg = cut(x, spans, sample_rate=16000)
    assert seg.shape == (1, 16000)
    assert seg[0, :4000].sum() == 4000 and not seg[0, 4000:].any()


def test_cut_takes_the_right_samples():
    x = np.arange(1, 36801, dtype=np.float32)  # 2.3 s
    spans = fixed_spans(2.3, hop=0.5)
    assert spans[-1] == (1.5, 2.5)
    seg = cut(x, spans, sample_rate=16000)
    assert seg[1, 0] == 8001 and seg[-1, 0] == 24001
    assert seg[-1, 36800 - 24000 - 1] == 36800 and not seg[-1, 36800 - 24000:].any()
