"""How a transcript becomes the timeline's rows: utterances cut at sentence ends, long pauses and speaker changes;
speech the recogniser gave no words for kept as utterances without text; each utterance's emotion from the
segments under it."""
import numpy as np

from segser.results.types import Word
from segser.words.utterances import utterance_logits, utterances, wordless, words_in


def _words(*spec):
    return [Word(a, b, t) for a, b, t in spec]


def test_utterances_end_at_sentence_ends_and_long_pauses():
    sentence = _words((0.0, 0.3, "so"), (0.3, 0.6, "then"), (2.0, 2.4, "later"), (2.4, 2.8, "on."), (2.9, 3.2, "Yes"))
    assert [u.text for u in utterances([sentence])] == ["so then", "later on.", "Yes"]


def test_a_speaker_change_cuts_an_utterance_or_gives_it_the_speaker_of_most_of_it():
    words = _words((0.0, 0.5, "I"), (0.5, 1.0, "think"), (1.0, 1.2, "no"), (1.2, 2.5, "way"))
    speaker_of = lambda times: ["S1" if t < 0.95 else "S2" for t in times]  # noqa: E731
    split = utterances([words], speaker_of, split_at_speaker=True)
    assert [(u.text, u.speaker) for u in split] == [("I think", "S1"), ("no way", "S2")]
    whole = utterances([words], speaker_of, split_at_speaker=False)
    assert [(u.text, u.speaker) for u in whole] == [("I think no way", "S2")]  # S2 holds 1.5 of its 2.5 s


def test_speech_without_words_keeps_its_rows_and_silence_gets_none():
    spans = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], float)
    voiced = np.array([False, True, True, True, False, True])
    utts = utterances([_words((1.1, 1.6, "hello"))])
    speaker_of = lambda times: ["S1" if t < 3 else "S2" for t in times]  # noqa: E731
    rows = wordless(utts, spans, voiced, speaker_of, join=True)
    assert [(u.start, u.end, u.text, u.speaker) for u in rows] == [
        (1.1, 1.6, "hello", None), (2.0, 3.0, "", "S1"), (3.0, 4.0, "", "S2"), (5.0, 6.0, "", "S2")]
    spans[4:, :] += [[0, 0], [-1, -1]]  # the last segment now follows the fourth
    voiced[4] = False
    joined = wordless(utts, spans[[0, 1, 2, 3, 5]], voiced[[0, 1, 2, 3, 5]], lambda t: ["S2"] * len(t), join=True)
    assert [(u.start, u.end) for u in joined] == [(1.1, 1.6), (2.0, 5.0)]
    apart = wordless(utts, spans[[0, 1, 2, 3, 5]], voiced[[0, 1, 2, 3, 5]], lambda t: ["S2"] * len(t), join=False)
    assert [(u.start, u.end) for u in apart] == [(1.1, 1.6), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert wordless([], spans, np.zeros(6, bool)) == []


def test_an_utterance_takes_the_emotion_of_the_voiced_segments_under_it():
    spans = np.array([[0, 1], [1, 2], [2, 3]], float)
    logits = np.array([[5.0, 0.0], [0.0, 1.0], [0.0, 9.0]], np.float32)
    speech = np.array([0.9, 0.9, 0.0])  # the third segment is not speech: it does not count
    utts = utterances([_words((0.5, 1.5, "half"), (1.5, 2.9, "and."))])
    rows, share = utterance_logits(utts, spans, logits, speech, gate=0.5)
    # 0.5 s of the first segment, 1 s of the second (the third is below the gate)
    np.testing.assert_allclose(rows[0], (0.5 * logits[0] + 1.0 * logits[1]) / 1.5, rtol=1e-6)
    assert 0.5 < share[0] < 0.9
    none, share = utterance_logits(utterances([_words((2.2, 2.8, "mm."))]), spans, logits, speech, gate=0.5)
    assert share[0] == 0 and not none.any()  # only unvoiced audio under it: it reads no speech


def test_fixed_windows_get_the_words_whose_middle_they_hold():
    words = _words((0.2, 0.6, "one"), (0.6, 0.9, "two"), (2.5, 2.7, "three"))
    assert words_in(np.array([[0, 1], [1, 2], [2, 3]], float), words) == ["one two", "", "three"]
