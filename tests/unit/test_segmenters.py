import math

import numpy as np
import pytest

from segser.errors import ConfigError, LimitExceeded
from segser.segmentation.config import Segmentation
from segser.segmentation.windows import FixedWindows, WholeClip

SR = 16000


def spans(duration, length=1.0, hop=1.0):
    return FixedWindows(length, hop).spans(np.ones(int(round(duration * SR)), np.float32), SR)


def test_non_overlapping_pads_last():
    assert spans(2.5) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]


def test_overlapping_half_second():
    assert spans(2.389, hop=0.5) == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5)]


def test_exact_multiple_has_no_empty_tail():
    assert spans(2.0) == [(0.0, 1.0), (1.0, 2.0)]
    assert spans(2.0, hop=0.5) == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)]


def test_short_clip_gives_one_padded_segment():
    assert spans(0.25) == [(0.0, 1.0)]


def reference_spans(duration, length, hop, min_tail, merge=True):
    """The documented rule written independently: windows start every hop while they start before the end and
    the previous one did not reach it; a last window with less than min_tail of audio joins the one before it
    (whose end becomes the audio's end) or goes where that one already reaches the end (or, merge=False, goes)."""
    starts = [0.0]
    while starts[-1] + length < duration - 1e-9 and starts[-1] + hop < duration - 1e-9:
        starts.append(round(starts[-1] + hop, 6))
    out = [(s, round(s + length, 6)) for s in starts]
    if duration - out[-1][0] < min_tail - 1e-9:
        out.pop()
        if merge and out and out[-1][1] < duration - 1e-9:
            out[-1] = (out[-1][0], round(duration, 6))
    return out


@pytest.mark.parametrize("duration", [0.2, 0.3, 1.0, 1.1, 2.0, 2.389, 3.004, 3.2, 3.26, 7.23])
@pytest.mark.parametrize("length,hop", [(1.0, 1.0), (1.0, 0.5), (2.5, 0.7), (0.5, 1.0)])
@pytest.mark.parametrize("merge", [True, False])
def test_tail_rule_matches_an_independent_reference(duration, length, hop, merge):
    got = FixedWindows(length, hop, min_tail=0.25, merge_tail=merge).spans(np.ones(int(round(duration * SR)),
                                                                                  np.float32), SR)
    assert got == reference_spans(duration, length, hop, 0.25, merge)
    for s, e in got:  # no segment holds less real audio than the minimum
        assert min(e, duration) - s >= 0.25 - 1e-9


def test_a_four_millisecond_tail_joins_the_segment_before_it():
    assert Segmentation().segmenter().spans(np.ones(int(3.004 * SR), np.float32), SR) == [(0.0, 1.0), (1.0, 2.0),
                                                                                          (2.0, 3.004)]
    assert WholeClip(piece=3.0, min_tail=0.25).spans(np.ones(int(6.1 * SR), np.float32), SR) == [(0.0, 3.0), (3.0, 6.1)]


def test_trailing_windows_drop_a_short_tail_and_hold_nothing_back():
    trailing = Segmentation(context="trailing").segmenter()
    assert trailing.spans(np.ones(int(3.004 * SR), np.float32), SR) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    state = trailing.start(SR)
    assert state.push(np.ones(SR, np.float32)) == [(0.0, 1.0)]  # out the moment its audio is (tiled: 0.25 s later)
    assert Segmentation().segmenter().start(SR).push(np.ones(SR, np.float32)) == []


@pytest.mark.parametrize("segmenter", [FixedWindows(1.0, 1.0), FixedWindows(1.0, 0.5), FixedWindows(0.02, 0.02),
                                       FixedWindows(2.5, 0.7), WholeClip(piece=3.0), FixedWindows(1.0, 1.0, 0.25),
                                       FixedWindows(1.0, 0.5, 0.25), WholeClip(piece=3.0, min_tail=0.25),
                                       FixedWindows(1.0, 1.0, 0.25, False), FixedWindows(1.0, 0.5, 0.25, False)])
@pytest.mark.parametrize("chunk", [1, 160, 333, 16000, 80000])
def test_streamed_spans_equal_whole_signal_spans(segmenter, chunk):
    x = np.ones(int(7.23 * SR), np.float32)
    whole = segmenter.spans(x, SR)
    state, got = segmenter.start(SR), []
    for i in range(0, x.size, chunk):
        got += state.push(x[i:i + chunk])
        assert all(e <= (i + chunk) / SR + 1e-9 for _, e in got[-5:]) or isinstance(segmenter, WholeClip)
        if isinstance(segmenter, FixedWindows) and not segmenter.merge_tail:  # nothing held back
            assert state._span(state.k)[1] > state.received / SR + 1e-9
    got += state.finish()
    assert got == whole


def test_whole_clip_is_one_unpadded_span_until_30_s():
    assert WholeClip().spans(np.ones(38220, np.float32), SR) == [(0.0, 2.38875)]
    assert WholeClip().spans(np.ones(SR * 65, np.float32), SR) == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]


@pytest.mark.parametrize("field,value", [("length", math.nan), ("hop", math.nan), ("length", 0), ("length", -1),
                                         ("hop", 0), ("hop", math.inf), ("hop", 1e-6), ("length", 1e9),
                                         ("method", "wavelet"), ("hop", "0.5"), ("max_length", 0.1)])
def test_bad_segmentation_is_refused_where_it_is_made(field, value):
    with pytest.raises(ConfigError, match=field.replace("_", "[ _]")):
        Segmentation(**{field: value})


def test_overrides_follow_one_rule():
    s = Segmentation(length=1.0, hop=0.5)
    assert s.with_overrides() is s
    assert s.with_overrides(length=2.0) == Segmentation(length=2.0, hop=2.0)
    assert s.with_overrides(hop=0.25) == Segmentation(length=1.0, hop=0.25)
    assert s.with_overrides(vad=True).method == "vad"


def test_segment_count_cap_is_checked_before_work():
    Segmentation(hop=0.5).check_duration(3600, "long.wav")
    with pytest.raises(LimitExceeded, match="long.wav.*up to 360,001 segments"):
        Segmentation(length=0.02, hop=0.01).check_duration(3600, "long.wav", limit=100_000)
