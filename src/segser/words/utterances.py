"""Utterances: the unit of an answer that a reader of a transcript expects. The recogniser's segments are cut
where a sentence ends, where the speaker pauses for longer than ``MAX_PAUSE`` seconds and, when speakers were
found, where the speaker changes (each word belongs to the speaker of its middle). Speech the recogniser gave no
words for (a laugh, a sob, a language it does not know) is not dropped: its voiced segments become utterances
without text (:func:`wordless`). Each utterance then takes the emotion of the timeline's segments that overlap it
(:func:`utterance_logits`).

>>> words = [Word(0.0, 0.4, "Hello."), Word(1.0, 1.3, "How"), Word(1.3, 1.5, "are"), Word(1.5, 1.8, "you?")]
>>> [u.text for u in utterances([words])]
['Hello.', 'How are you?']
>>> spans = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
>>> [(u.start, u.end, u.text) for u in wordless(utterances([words]), spans, voiced=[True, True, True, True])]
[(0.0, 0.4, 'Hello.'), (1.0, 1.8, 'How are you?'), (2.0, 3.0, ''), (3.0, 4.0, '')]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segser.results.types import Word

MAX_PAUSE = 1.0  # seconds of silence between two words that end an utterance
# An utterance takes the speaker of most of it rather than being cut where the found speaker of its words changes:
# on the built SAVEE conversations (where the words are right) it gives 76 % of the words' time to their true speaker
# against 72 %, at the same turn UA (benchmarks/transcripts.py, "how utterances are cut").
SPLIT_AT_SPEAKER = False
# Speech without words stays in its 1 s segments rather than joining a speaker's consecutive ones into one row:
# joined rows straddle turns and lost turn UA on both built corpora (benchmarks/transcripts.py).
JOIN_WORDLESS = False
SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass(frozen=True)
class Utterance:
    start: float
    end: float
    words: tuple[Word, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def utterances(sentences: list[list[Word]], speaker_of=None, *, split_at_speaker: bool = SPLIT_AT_SPEAKER) -> list[Utterance]:
    """The recogniser's segments cut into utterances; ``speaker_of(times) -> speakers`` (the turns' speaker of
    each time) gives each its speaker: the speaker of most of its words' time, or (``split_at_speaker``) a cut
    wherever the speaker of the words changes."""
    words = [w for s in sentences for w in s]
    speakers = speaker_of([(w.start + w.end) / 2 for w in words]) if speaker_of is not None and words else [None] * len(words)
    out, current, who = [], [], []
    ends = {id(s[-1]) for s in sentences if s}

    def close():
        if current:
            time = {}
            for w, sp in zip(current, who):
                time[sp] = time.get(sp, 0.0) + max(w.end - w.start, 1e-3)
            out.append(Utterance(current[0].start, current[-1].end, tuple(current), max(time, key=time.get)))
            current.clear()
            who.clear()

    for w, sp in zip(words, speakers):
        if current and (w.start - current[-1].end > MAX_PAUSE or (split_at_speaker and sp != who[-1])):
            close()
        current.append(w)
        who.append(sp)
        if id(w) in ends or w.text.endswith(SENTENCE_END):
            close()
    close()
    return out


def wordless(utts: list[Utterance], spans: np.ndarray, voiced: np.ndarray, speaker_of=None, *,
             join: bool = JOIN_WORDLESS) -> list[Utterance]:
    """``utts`` and, in time order, an utterance without words for each voiced segment (``spans``, ``voiced``)
    that no utterance overlaps; with ``join``, consecutive ones of one speaker (``speaker_of(times)``) join."""
    spans = np.asarray(spans, float).reshape(-1, 2)
    covered = np.zeros(len(spans), bool)
    for u in utts:
        covered |= (spans[:, 0] < u.end) & (spans[:, 1] > u.start)
    free = np.flatnonzero(np.asarray(voiced, bool) & ~covered)
    if not len(free):
        return list(utts)
    mids = spans[free].mean(1)
    who = list(speaker_of(mids.tolist())) if speaker_of is not None else [None] * len(free)
    out, first = list(utts), 0
    for i in range(1, len(free) + 1):
        if i == len(free) or not join or free[i] != free[i - 1] + 1 or who[i] != who[i - 1]:
            out.append(Utterance(float(spans[free[first], 0]), float(spans[free[i - 1], 1]), (), who[first]))
            first = i
    return sorted(out, key=lambda u: u.start)


def utterance_logits(utts: list[Utterance], spans: np.ndarray, logits: np.ndarray, speech: np.ndarray,
                     gate: float) -> tuple[np.ndarray, np.ndarray]:
    """Each utterance's logits, the mean of the logits of the timeline's voiced segments overlapping it, weighted by
    how much of it they cover (the clip rule of mean logits, over the utterance), and its speech share (0 where no
    voiced segment overlaps it: it then reads ``no speech``)."""
    out = np.zeros((len(utts), logits.shape[1]), np.float32)
    share = np.zeros(len(utts), np.float32)
    voiced = speech >= gate
    order = np.argsort(spans[:, 0])
    starts = spans[order, 0]
    for i, u in enumerate(utts):
        near = order[max(0, np.searchsorted(starts, u.start - 60.0)): np.searchsorted(starts, u.end)]
        overlap = np.clip(np.minimum(spans[near, 1], u.end) - np.maximum(spans[near, 0], u.start), 0.0, None)
        weight = overlap * voiced[near]
        if weight.sum() > 0:
            out[i] = (weight[:, None] * logits[near]).sum(0) / weight.sum()
            share[i] = float((overlap * speech[near]).sum() / max(overlap.sum(), 1e-9))
    return out, share


def words_in(spans: np.ndarray, words: list[Word]) -> list[str]:
    """The text of the words whose middle falls in each span (a fixed window's ``text`` column).

    >>> words_in(np.array([[0.0, 1.0], [1.0, 2.0]]), [Word(0.2, 0.6, "Hello"), Word(1.1, 1.4, "there")])
    ['Hello', 'there']
    """
    spans = np.asarray(spans, float).reshape(-1, 2)
    mids = np.array([(w.start + w.end) / 2 for w in words], float)
    order = np.argsort(mids, kind="stable")
    first = np.searchsorted(mids[order], spans[:, 0], "left")  # words sorted once: a 10 h timeline is not
    stop = np.searchsorted(mids[order], spans[:, 1], "left")   # a scan of every word per window
    return [" ".join(words[i].text for i in sorted(order[a:b])) for a, b in zip(first, stop)]
