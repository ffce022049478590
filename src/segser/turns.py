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
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import AudioError, ConfigError, check_number

SAMPLE_RATE = 16000
MEL_STEP = 160  # 10 ms
WINDOW_FRAMES = 160  # Resemblyzer's partial utterance: 1.6 s
VAD_SECONDS = 512 / SAMPLE_RATE
MAX_WINDOWS = 3000  # bounds the clustering's memory (n^2 distances): longer recordings get a longer step
THRESHOLD = 0.32  # cosine distance between clusters' mean embeddings: benchmarks/conversations.py
REFINE_STEPS = 3
CHUNK = 1 << 20  # samples pushed at once when a whole signal is given
VOICE_BATCH = 128  # windows through the voice encoder at once


@dataclass(frozen=True)
class TurnOptions:
    """``num_speakers``: how many there are (None: estimate, up to ``max_speakers``)."""

    num_speakers: int | None = None
    max_speakers: int = 8
    threshold: float = THRESHOLD
    step: float = 0.4
    min_speaker: float = 2.0
    min_gap: float = 0.3  # a pause shorter than this inside one speaker's speech does not end the turn

    def __post_init__(self):
        if self.num_speakers is not None:
            check_number("--num-speakers", self.num_speakers, lo=1, hi=50, integer=True)
        check_number("--max-speakers", self.max_speakers, lo=1, hi=50, integer=True)
        if self.num_speakers is not None and self.num_speakers > self.max_speakers:
            object.__setattr__(self, "max_speakers", int(self.num_speakers))
        check_number("turn threshold", self.threshold, lo=0.01, hi=1.99)
        check_number("turn step", self.step, lo=0.1, hi=1.6, unit="s")
        check_number("min_speaker", self.min_speaker, lo=0.0, hi=600.0, unit="s")
        check_number("min_gap", self.min_gap, lo=0.0, hi=10.0, unit="s")


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str
    overlap: bool = False


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


# --- the voice encoder ----------------------------------------------------------------------------------

def _voice_encoder_module():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        """Resemblyzer's speaker encoder: 3-layer LSTM over 40 mel bands, last state -> 256-d, ReLU, L2 norm."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-9)

    return VoiceEncoder


@lru_cache(maxsize=2)
def voice_encoder(path: str | None = None):
    """The voice encoder with Resemblyzer's weights (``{"model_state": ...}`` as its package ships them)."""
    import torch

    from .weights import resolve

    file = resolve("resemblyzer", path)
    try:
        with warnings.catch_warnings():  # a refused file is our error message, not torch's warnings
            warnings.simplefilter("ignore")
            state = torch.load(str(file), map_location="cpu", weights_only=True)["model_state"]
        net = _voice_encoder_module()()
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    except Exception as exc:
        raise ConfigError(f"{file.name}: not a Resemblyzer voice encoder checkpoint ({type(exc).__name__}: "
                          f"{str(exc)[:120]})") from None
    return net.eval()


@lru_cache(maxsize=1)
def _mel_matrix():
    from .features.mel import slaney_mel_matrix

    return slaney_mel_matrix(n_mels=40, n_fft=400, sample_rate=SAMPLE_RATE)


class StreamedMel:
    """Resemblyzer's input, block by block: power mel spectrogram, 40 bands, 25 ms Hann windows every 10 ms,
    centred (zero padding), as ``librosa.feature.melspectrogram(n_fft=400, hop_length=160, n_mels=40)``;
    only the samples the next frame needs are kept between pushes."""

    N_FFT, HALF = 400, 200

    def __init__(self):
        self.buf = np.zeros(self.HALF, np.float32)  # the centred first frame's left padding
        self.buf_start = -self.HALF  # signal index of buf[0]
        self.next = 0  # next frame to compute
        self.samples = 0
        self.parts: list[np.ndarray] = []

    def push(self, x: np.ndarray) -> None:
        self.samples += len(x)
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float32)])
        self._frames((self.buf_start + len(self.buf) - self.HALF) // MEL_STEP)

    def finish(self) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.zeros(self.HALF, np.float32)])
        self._frames(self.samples // MEL_STEP)
        out = np.empty((sum(len(p) for p in self.parts), 40), np.float32)
        at = 0
        while self.parts:  # one copy at a time: the parts are freed as the whole is filled
            part = self.parts.pop(0)
            out[at:at + len(part)] = part
            at += len(part)
        return out

    def _frames(self, last: int) -> None:
        window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.N_FFT) / self.N_FFT)).astype(np.float32)
        for a in range(self.next, last + 1, 4096):
            n = min(last + 1, a + 4096) - a
            off = a * MEL_STEP - self.HALF - self.buf_start
            idx = off + (np.arange(n) * MEL_STEP)[:, None] + np.arange(self.N_FFT)[None, :]
            spec = np.abs(np.fft.rfft(self.buf[idx] * window, axis=1)) ** 2
            self.parts.append(spec.astype(np.float32) @ _mel_matrix().T)
        self.next = max(self.next, last + 1)
        drop = self.next * MEL_STEP - self.HALF - self.buf_start
        if drop > 0:
            self.buf, self.buf_start = self.buf[drop:], self.buf_start + drop


def voice_mel(x: np.ndarray, *, gain: float = 1.0) -> np.ndarray:
    """:class:`StreamedMel` of ``gain * x`` in one go; (frames, 40)."""
    m = StreamedMel()
    for i in range(0, len(x), CHUNK):
        m.push(x[i:i + CHUNK])
    out = m.finish()
    return out * np.float32(gain * gain) if gain != 1.0 else out


def gain_for(rms: float, target_dbfs: float = -30.0) -> float:
    """Resemblyzer's preprocessing as a gain: raise (never lower) the level to ``target_dbfs`` RMS."""
    if rms <= 0:
        return 1.0
    gain_db = target_dbfs - 20 * math.log10(rms)
    return 10 ** (gain_db / 20) if gain_db > 0 else 1.0


@dataclass
class VoiceFeatures:
    """What the speaker pass keeps of a recording: the voice encoder's mel frames (at the recording's own level),
    the speech flags of Silero VAD per 32 ms, and the level; pushed block by block, so a long recording is never
    held whole (1 h: 58 MB of mel frames)."""

    mel: StreamedMel = field(default_factory=StreamedMel)
    samples: int = 0
    sumsq: float = 0.0

    vad: object = None  # the flags' SpeechShare: an emotion pass's (share_vad), else its own, made when first needed
    shared: bool = False

    def share_vad(self, share) -> None:
        """Take the speech flags from ``share`` (an emotion pass's :class:`~segser.embedding.SpeechShare` fed the
        same blocks, keeping every flag) instead of running the VAD a second time."""
        share.keep = True
        self.vad, self.shared = share, True

    def _own_vad(self):
        if self.vad is None:
            from .embedding import SpeechShare  # the timeline's own VAD stream: the same 32 ms grid and final window

            self.vad = SpeechShare(SAMPLE_RATE)
        return self.vad

    def push(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        self.samples += len(x)
        self.sumsq += float(np.dot(x.astype(np.float64), x.astype(np.float64)))
        self.mel.push(x)
        if not self.shared:
            self._own_vad().push(x)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(mel frames at Resemblyzer's level, speech flags)."""
        if not self.shared:
            self._own_vad().push(np.zeros(0, np.float32), last=True)
        elif not self.vad.final or self.vad.first:
            raise RuntimeError("the shared speech flags are not complete")
        gain = gain_for(math.sqrt(self.sumsq / max(self.samples, 1)))
        mel = self.mel.finish()
        if gain != 1.0:
            mel *= np.float32(gain * gain)
        return mel, self.vad.speech


# --- turns ------------------------------------------------------------------------------------------------

def _windows(speech: np.ndarray, duration: float, step: float) -> np.ndarray:
    """Start frames (10 ms) of 1.6 s windows at least half speech, every ``step`` (longer when there would be too many)."""
    step = max(step, duration / MAX_WINDOWS)
    t = np.arange(0.0, max(duration - 1.6, 0.0) + 1e-9, step)
    starts = []
    for a in t:
        cover = speech[int(a / VAD_SECONDS): int(math.ceil((a + 1.6) / VAD_SECONDS))]
        if cover.size and cover.mean() >= 0.5:
            starts.append(int(round(a * 100)))
    return np.array(starts, int)


def _cluster(E: np.ndarray, options: TurnOptions, step: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    if len(E) < 2:
        return np.zeros(len(E), int)
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=options.threshold).fit_predict(E)
    labels = _merge_small(labels, E, options, step)
    # then each window goes to the speaker whose mean voice is nearest (k-means steps from the tree's clusters:
    # sample.wav DER 11.1 -> 8.8 %, the built conversations unchanged; benchmarks/conversations.py)
    for _ in range(REFINE_STEPS):
        ids = np.unique(labels)
        if len(ids) < 2:
            break
        centres = np.stack([E[labels == i].mean(0) for i in ids])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        labels = ids[np.argmax(E @ centres.T, axis=1)]
    return _merge_small(labels, E, options, step)


def _merge_small(labels: np.ndarray, E: np.ndarray, options: TurnOptions, step: float) -> np.ndarray:
    """Small clusters (less than min_speaker of speech) and clusters past the number of speakers (given, or the
    most allowed) join their nearest neighbour; a given number is never reached by splitting a voice. Each
    cluster's summed embedding is kept up to date, so an hour's hundreds of merges cost no pass over the windows."""
    most = options.num_speakers or options.max_speakers
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
    mel, speech = features.finish()
    if not speech.any():
        raise AudioError(where, "no speech found by the voice activity detector: no speaker turns")
    starts = _windows(speech, duration, options.step)
    step = max(options.step, duration / MAX_WINDOWS)
    notes = []
    if len(starts) == 0:  # less than 0.8 s of speech in any 1.6 s: one speaker, nothing to tell apart
        labels, starts = np.zeros(0, int), np.zeros(0, int)
        notes.append("too little continuous speech to tell speakers apart: one speaker")
    else:
        import torch  # its LSTM: 1 h of windows in 15 s, a numpy LSTM took 21 s

        net = voice_encoder(encoder_path)

        def window(a):  # the last windows may reach past the end: zero frames there
            w = mel[a: a + WINDOW_FRAMES]
            return w if len(w) == WINDOW_FRAMES else np.pad(w, ((0, WINDOW_FRAMES - len(w)), (0, 0)))
        with torch.no_grad():
            E = [net(torch.from_numpy(np.stack([window(a) for a in starts[b:b + VOICE_BATCH]]))).numpy()
                 for b in range(0, len(starts), VOICE_BATCH)]
        labels = _cluster(np.concatenate(E), options, step)
        found = len(np.unique(labels))
        if options.num_speakers is not None and found < options.num_speakers:
            notes.append(f"{found} distinct voice{'s' if found > 1 else ''} found of the {options.num_speakers} asked for")
    # votes per 32 ms speech window
    k = int(labels.max()) + 1 if len(labels) else 1
    votes = np.zeros((len(speech), k))
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
    # speaker names in order of first speech
    order = list(dict.fromkeys(who[speech]))
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
    return Turns(turns, [names[c] for c in order], notes)


def rttm_lines(turns: list[Turn], file_id: str) -> list[str]:
    """NIST RTTM ``SPEAKER`` lines (one per turn; an overlap-marked turn keeps its most likely speaker)."""
    file_id = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in file_id) or "recording"
    return [f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>" for t in turns]
