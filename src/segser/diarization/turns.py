"""Who speaks when: the speaker turns of one recording (diarization), so that
each speaker gets an emotion timeline and adaptation to their own voice.

Speech is found by Silero VAD (32 ms windows, as the timeline's speech gate);
speaker embeddings come from Resemblyzer's voice encoder (GE2E, 256-d; its
weights ship inside the ``resemblyzer`` package and are found by the
resolver), one per ``step`` seconds over 1.6 s of speech; they are clustered
(agglomerative, cosine distance, average linkage) into ``num_speakers`` when
given, else by a distance threshold, at most ``max_speakers``, and a cluster
with less than ``min_speaker`` seconds of speech joins its nearest neighbour.
Each 32 ms of speech takes the speaker most of the windows covering it vote
for; where no speaker has two thirds of the votes the turn is marked
``overlap`` (two voices at once, or a change of speaker: who speaks there is
uncertain).

>>> turns = find_turns(load("call.wav"))                  # doctest: +SKIP
>>> [(t.start, t.end, t.speaker) for t in turns.turns][:2]  # doctest: +SKIP
[(0.41, 3.2, 'S1'), (3.3, 5.87, 'S2')]
"""
from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from segser.diarization.voice import CHUNK, SAMPLE_RATE, VAD_SECONDS, VoiceFeatures, embed_windows
from segser.errors import AudioError, ConfigError, check_number
from segser.results.types import Turn

MAX_SPEAKERS = 8  # found at most, unless --max-speakers says otherwise
MAX_WINDOWS = 3000  # distinct windows the clustering's tree is grown on (its memory: n^2 distances)
THRESHOLD = 0.32  # cosine distance between clusters' mean embeddings: benchmarks/conversations.py
REFINE_STEPS = 3


@dataclass(frozen=True)
class TurnOptions:
    """``num_speakers``: how many there are (None: estimate, up to ``max_speakers``, default 8); giving both with
    more speakers than the most allowed is an error."""

    num_speakers: int | None = None
    max_speakers: int | None = None
    threshold: float = THRESHOLD
    step: float = 0.4
    min_speaker: float = 2.0
    min_gap: float = 0.3  # a pause shorter than this inside one speaker's speech does not end the turn

    def __post_init__(self):
        if self.num_speakers is not None:
            check_number("--num-speakers", self.num_speakers, lo=1, hi=50, integer=True)
        if self.max_speakers is not None:
            check_number("--max-speakers", self.max_speakers, lo=1, hi=50, integer=True)
            if self.num_speakers is not None and self.num_speakers > self.max_speakers:
                raise ConfigError(f"--num-speakers {self.num_speakers} is more than --max-speakers {self.max_speakers}")
        check_number("turn threshold", self.threshold, lo=0.01, hi=1.99)
        check_number("turn step", self.step, lo=0.1, hi=1.6, unit="s")
        check_number("min_speaker", self.min_speaker, lo=0.0, hi=600.0, unit="s")
        check_number("min_gap", self.min_gap, lo=0.0, hi=10.0, unit="s")


@dataclass
class Turns:
    turns: list[Turn]
    speakers: list[str]
    notes: list[str] = field(default_factory=list)

    def speaker_of(self, start: float, end: float) -> str:
        """The speaker who speaks most of ``start``..``end`` (``-`` when nobody does; a tie goes to the speaker
        listed first)."""
        return self.speakers_of([(start, end)])[0]

    def speakers_of(self, spans) -> list[str]:
        """:meth:`speaker_of` of each ``(start, end)``, the turns indexed once (an hour's segments in a second)."""
        order = sorted(self.turns, key=lambda t: t.start)
        starts = [t.start for t in order]
        # the latest end so far: the turns before the first whose latest end passes a span's start all end before it
        latest_end = list(itertools.accumulate((t.end for t in order), max))
        out = []
        for start, end in spans:
            covered = dict.fromkeys(self.speakers, 0.0)
            for t in order[bisect.bisect_right(latest_end, start): bisect.bisect_left(starts, end)]:
                if t.speaker in covered:
                    covered[t.speaker] += max(0.0, min(end, t.end) - max(start, t.start))
            best, most = "-", 0.0
            for sp, c in covered.items():
                if c > most + 1e-9:
                    best, most = sp, c
            out.append(best)
        return out


# --- turns ------------------------------------------------------------------------------------------------

def _windows(speech: np.ndarray, duration: float, step: float) -> np.ndarray:
    """Start frames (10 ms) of 1.6 s windows at least half speech, every ``step`` seconds, whatever the length (so
    a long recording is sampled as densely as a short one)."""
    t = np.arange(0.0, max(duration - 1.6, 0.0) + 1e-9, step)
    starts = []
    for a in t:
        cover = speech[int(a / VAD_SECONDS): int(math.ceil((a + 1.6) / VAD_SECONDS))]
        if cover.size and cover.mean() >= 0.5:
            starts.append(int(round(a * 100)))
    return np.array(starts, int)


def _cluster(E: np.ndarray, options: TurnOptions, step: float) -> np.ndarray:
    """A speaker per window. Windows with the same embedding (the same audio, repeated) count once, so a voice
    heard again is no more evidence of another voice; the tree is grown on at most MAX_WINDOWS of the distinct
    windows (evenly spread), the rest joining their nearest speaker, so the clustering's memory and the number of
    voices do not grow with the recording's length."""
    from sklearn.cluster import AgglomerativeClustering

    if len(E) < 2:
        return np.zeros(len(E), int)
    _, first, which = np.unique(np.round(E, 4), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # distinct windows in time order
    U = E[first[order]]
    which = np.argsort(order)[which.reshape(-1)]
    tree = np.linspace(0, len(U) - 1, min(len(U), MAX_WINDOWS)).round().astype(int)
    labels = np.zeros(len(U), int)
    if len(tree) > 1:
        grown = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                        distance_threshold=options.threshold).fit_predict(U[tree])
        labels = _nearest(U, grown, U[tree]) if len(tree) < len(U) else grown
    labels = _merge_small(labels, U, options, step)
    # then each window goes to the speaker whose mean voice is nearest (k-means steps from the tree's clusters:
    # sample.wav DER 11.1 -> 8.8 %, the built conversations unchanged; benchmarks/conversations.py)
    for _ in range(REFINE_STEPS):
        if len(np.unique(labels)) < 2:
            break
        labels = _nearest(U, labels, U)
    return _merge_small(labels, U, options, step)[which]


def _nearest(E: np.ndarray, labels: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Each row of ``E`` labelled with the cluster (of the rows ``of`` labelled ``labels``) whose mean is nearest."""
    ids = np.unique(labels)
    centres = np.stack([of[labels == i].mean(0) for i in ids])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return ids[np.argmax(E @ centres.T, axis=1)]


def _merge_small(labels: np.ndarray, E: np.ndarray, options: TurnOptions, step: float) -> np.ndarray:
    """Small clusters (less than min_speaker of speech) and clusters past the number of speakers (given, or the
    most allowed) join their nearest neighbour; a given number is never reached by splitting a voice. Each
    cluster's summed embedding is kept up to date, so an hour's hundreds of merges cost no pass over the windows."""
    most = options.num_speakers or options.max_speakers or MAX_SPEAKERS
    ids, which = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(ids), E.shape[1]))
    np.add.at(sums, which, E)
    counts = np.bincount(which, minlength=len(ids)).astype(float)
    alive = np.ones(len(ids), bool)
    while alive.sum() > 1:
        live = np.flatnonzero(alive)
        if not (counts[live] * step < options.min_speaker).any() and len(live) <= most:
            break
        victim = live[np.argmin(counts[live])]
        others = live[live != victim]
        cosine = sums[others] @ sums[victim] / np.linalg.norm(sums[others], axis=1)
        nearest = others[np.argmax(cosine)]
        sums[nearest] += sums[victim]
        counts[nearest] += counts[victim]
        alive[victim] = False
        which[which == victim] = nearest
    return ids[which]


def find_turns(x: np.ndarray, options: TurnOptions | None = None, *, where="<signal>", encoder_path=None) -> Turns:
    """Speaker turns of a mono 16 kHz signal; :class:`AudioError` when it holds no speech."""
    features = VoiceFeatures()
    for i in range(0, len(x), CHUNK):
        features.push(x[i:i + CHUNK])
    return turns_of(features, options, where=where, encoder_path=encoder_path)


def turns_of(features: VoiceFeatures, options: TurnOptions | None = None, *, where="<signal>",
             encoder_path=None) -> Turns:
    options = options or TurnOptions()
    duration = features.samples / SAMPLE_RATE
    mel, gain, speech = features.finish()
    if not speech.any():
        mel.close()
        raise AudioError(where, "no speech found by the voice activity detector: no speaker turns")
    starts = _windows(speech, duration, options.step)
    step = options.step
    notes = []
    if len(starts) == 0:  # less than 0.8 s of speech in any 1.6 s: one speaker, nothing to tell apart
        labels = np.zeros(0, int)
        notes.append("too little continuous speech to tell speakers apart: one speaker")
    else:
        labels = _cluster(embed_windows(mel, starts, gain=gain, encoder_path=encoder_path), options, step)
        found = len(np.unique(labels))
        if options.num_speakers is not None and found < options.num_speakers:
            notes.append(f"{found} distinct voice{'s' if found > 1 else ''} found of the {options.num_speakers} asked for")
    mel.close()
    return turns_from_labels(labels, starts, speech, duration, options, notes)


def turns_from_labels(labels: np.ndarray, starts: np.ndarray, speech: np.ndarray, duration: float, options: TurnOptions,
                      notes=()) -> Turns:
    """Turns from each window's speaker: every 32 ms of speech takes the speaker most of the windows covering it
    vote for (the nearest window's where none covers it); under two thirds of the votes it is marked overlap."""
    # the voices numbered 0..k-1: the tree's cluster ids run into the hundreds on a long meeting, and a vote
    # column per id made this table grow with length times ids (a 4 h meeting peaked at 909 MB)
    labels = np.unique(labels, return_inverse=True)[1].reshape(-1) if len(labels) else labels
    k = int(labels.max()) + 1 if len(labels) else 1
    votes = np.zeros((len(speech), k), np.float32)
    for s, lab in zip(starts, labels):
        a, b = int(s / 100 / VAD_SECONDS), int(math.ceil((s / 100 + 1.6) / VAD_SECONDS))
        votes[a:b, lab] += 1
    covered = votes.sum(1) > 0
    if not covered.any():
        votes[:, 0] = 1
        covered[:] = True
    idx = np.flatnonzero(covered)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(speech))), 0, len(idx) - 1)]
    votes[~covered] = votes[nearest[~covered]]
    who = votes.argmax(1)
    share = votes.max(1) / votes.sum(1)
    order = list(dict.fromkeys(who[speech]))  # speaker names in order of first speech
    names = {c: f"S{i + 1}" for i, c in enumerate(order)}
    turns: list[Turn] = []
    for i in np.flatnonzero(speech):
        t0, t1 = float(i * VAD_SECONDS), float(min((i + 1) * VAD_SECONDS, duration))
        sp, ov = names[who[i]], bool(share[i] < 2 / 3)
        last = turns[-1] if turns else None
        if last is not None and last.speaker == sp and last.overlap == ov and t0 - last.end <= options.min_gap + 1e-9:
            turns[-1] = Turn(last.start, round(t1, 3), sp, ov)
        else:
            turns.append(Turn(round(t0, 3), round(t1, 3), sp, ov))
    return Turns(turns, [names[c] for c in order], list(notes))


