"""A decision's label is the largest of the probabilities it reports and its score is that probability, under
every rule; near chance it reads ``uncertain``; without speech ``no speech``."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segser.results.aggregate import RULES, TIE
from segser.results.timeline import Timeline, clip_decision
from segser.results.types import NO_SPEECH, UNCERTAIN

CLASSES = ["angry", "happy", "neutral", "sad", "fear", "disgust"]


def agrees(d) -> bool:
    """The label is a class whose probability is the largest, and the score is that probability."""
    top = max(d.probabilities.values())
    return d.label in d.probabilities and d.score == d.probabilities[d.label] and math.isclose(d.score, top)


@settings(max_examples=300, deadline=None)
@given(logits=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(6)), elements=st.floats(-8, 8)),
       temperature=st.floats(0.5, 3.0), rule=st.sampled_from(sorted(RULES)))
def test_every_rule_decides_the_largest_of_the_probabilities_it_reports(logits, temperature, rule):
    d = clip_decision(logits, CLASSES, rule=rule, temperature=temperature)
    assert abs(sum(d.probabilities.values()) - 1) < 1e-9
    if d.label == TIE:
        assert rule == "unique_majority" and math.isnan(d.score)
    else:
        assert agrees(d), d


def test_three_segments_voting_once_each_are_decided_by_the_probabilities_reported():
    """The case a hostile re-test found on a SAVEE clip (one vote each for three classes): every rule names the
    class its reported probabilities put first; majority's probabilities are the vote shares."""
    logits = np.array([[0.1, 0.2, 1.9, -1.0, 0.0, 0.3], [1.6, 1.4, -0.2, 0.1, 0.2, 0.0], [1.3, 1.5, 0.1, 0.2, 1.4, 0.0]])
    for rule in ("mean_logits", "majority", "summed_posteriors"):
        assert agrees(clip_decision(logits, CLASSES, rule=rule, temperature=2.11)), rule
    assert clip_decision(logits, CLASSES, rule="majority").probabilities["angry"] == pytest.approx(1 / 3)


def test_a_decision_near_chance_is_uncertain_and_says_its_score():
    flat = np.array([[0.2, 0.1, 0.0, 0.15, 0.05, 0.0]] * 4)
    d = clip_decision(flat, CLASSES, clip_min_score=1.5 / 6)
    assert d.label == UNCERTAIN and d.score == max(d.probabilities.values()) < 0.25
    assert clip_decision(flat * 30, CLASSES, clip_min_score=1.5 / 6).label == "angry"


def test_segments_without_speech_never_vote_and_a_recording_without_any_is_no_speech():
    t = Timeline(CLASSES, speech_gate=0.2)
    rows = t.add([(0, 1), (1, 2)], np.array([[5.0, 0, 0, 0, 0, 0], [0, 5.0, 0, 0, 0, 0]]), np.array([0.0, 0.1]))
    assert [r["label"] for r in rows] == [NO_SPEECH, NO_SPEECH] and all(math.isnan(r["score"]) for r in rows)
    d = t.decision(duration=2.0)
    assert d.label == NO_SPEECH and d.n_segments == 2 and d.n_speech == 0 and math.isnan(d.score)
