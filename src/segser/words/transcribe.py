"""Words, offline: Whisper through CTranslate2 (``faster-whisper``), its weights found by the same resolver as
the emotion encoders (the CTranslate2 Whisper models that registry packages ship: ``tiny.en``, English only, and
``base``, multilingual).

A recording is transcribed as it is read (:class:`Transcript`): its audio is held until a piece of at most
``MAX_PIECE`` seconds can be cut at a pause (the emotion pass's Silero VAD flags say where speech is), and each
piece is transcribed with word timestamps; stretches without speech are never sent to the recogniser, and
words the voice detector does not hear as speech are dropped, so silence and noise give no words; so are the
segments Whisper's own tests call a failed decoding (a loop, improbable text). Memory stays
bounded: one piece of audio at a time.

>>> t = Transcriber(WordOptions(asr="tiny.en"))                          # doctest: +SKIP
>>> words, language = t.transcribe(x, offset=0.0, language="en")        # doctest: +SKIP
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from segser.errors import ConfigError, check_choice, check_number, shown
from segser.results.types import Word
from segser.runtime import threads
from segser.segmentation.vad import VAD_WINDOW, SpeechShare
from segser.weights import resolve_folder

SAMPLE_RATE = 16000
ASR_MODELS = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}  # size -> weight source
MAX_PIECE = 28.0  # seconds sent to the recogniser at once (its window is 30 s)
MIN_CUT = 8.0  # a piece is cut at the longest pause after this many seconds
MIN_SPEECH = 0.3  # a piece with less speech (s) is not transcribed
SEGMENT_CHOICES = ("utterances", "windows")
# Decoding temperatures tried in turn when a piece's text looks wrong (repeated, improbable): three instead of
# faster-whisper's six bound the time a piece can take; on 3 min of English conversation the words are the same,
# on speech in a language the recogniser does not know 3 min take 42 s instead of 96 s (tiny.en, benchmarks/transcripts.py).
TEMPERATURES = (0.0, 0.4, 0.8)
# Whisper's own tests of a failed decoding (the ones that trigger its retries): text that compresses too well
# (a loop) or is too improbable. A segment that still fails them at the last temperature is dropped: its speech
# keeps its emotion as an utterance without words instead of carrying invented text.
MAX_COMPRESSION, MIN_LOGPROB = 2.4, -1.0


@dataclass(frozen=True)
class WordOptions:
    """``asr``: ``tiny.en`` (English only, fastest), ``base`` (99 languages) or ``auto`` (tiny.en for English,
    else base); ``language``: ``auto`` (detected by base; English for tiny.en) or a code such as ``en``, ``de``,
    ``pl``; ``segments``: the timeline's rows, one per ``utterances`` or per fixed ``windows`` (with the words
    they overlap); ``beam``: beam size (None: 1 for tiny.en, 5 for base)."""

    asr: str = "auto"
    language: str = "auto"
    segments: str = "utterances"
    beam: int | None = None

    def __post_init__(self):
        check_choice("asr", self.asr, ("auto", *ASR_MODELS))
        check_choice("segments", self.segments, SEGMENT_CHOICES)
        if not isinstance(self.language, str) or not re.fullmatch(r"auto|[a-z]{2,3}", self.language):
            raise ConfigError(f"language must be auto or a language code such as en, de, pl (got {shown(self.language)})")
        if self.size == "tiny.en" and self.language not in ("auto", "en"):
            raise ConfigError(f"the tiny.en recogniser knows English only (language {self.language!r}): "
                              "use --asr base (99 languages) or --language en")
        if self.beam is not None:
            check_number("beam", self.beam, lo=1, hi=10, integer=True)

    @property
    def size(self) -> str:
        if self.asr != "auto":
            return self.asr
        return "tiny.en" if self.language == "en" else "base"

    @property
    def beam_size(self) -> int:
        return self.beam or (1 if self.size == "tiny.en" else 5)


@lru_cache(maxsize=2)
def _whisper(size: str):
    from faster_whisper import WhisperModel  # the words extra

    return WhisperModel(str(resolve_folder(ASR_MODELS[size])), device="cpu", compute_type="int8", cpu_threads=threads())


class Transcriber:
    """A recogniser (loaded once per size) and what it is asked for; :class:`ConfigError` for a language it
    does not know."""

    def __init__(self, options: WordOptions):
        self.options = options
        try:
            self.model = _whisper(options.size)
        except ImportError:
            raise ConfigError("transcription needs faster-whisper: pip install 'segser[words]'") from None
        known = list(self.model.supported_languages)
        if options.language != "auto" and options.language not in known:
            raise ConfigError(f"language {options.language!r} is not one the {options.size} recogniser knows; "
                              f"known: {', '.join(sorted(known))}")
        self.fixed = "en" if options.size == "tiny.en" else (None if options.language == "auto" else options.language)

    def detect(self, x: np.ndarray) -> tuple[str, float]:
        """The language of a piece of speech and its probability."""
        language, probability, _ = self.model.detect_language(x)
        return language, float(probability)

    def transcribe(self, x: np.ndarray, *, offset: float, language: str) -> list[list[Word]]:
        """The words of one piece (16 kHz mono), in the recogniser's segments, at times ``offset`` + their own."""
        segments, _ = self.model.transcribe(x, language=language, beam_size=self.options.beam_size, word_timestamps=True,
                                            condition_on_previous_text=False, vad_filter=False,
                                            temperature=list(TEMPERATURES))
        out = []
        for s in segments:
            if s.compression_ratio > MAX_COMPRESSION or s.avg_logprob < MIN_LOGPROB:
                continue
            words = [Word(round(offset + w.start, 3), round(offset + max(w.end, w.start), 3), w.word.strip(),
                          round(float(w.probability), 3)) for w in (s.words or []) if w.word.strip()]
            if words:
                out.append(words)
        return out


class Transcript:
    """A recording's words, transcribed as it is read: ``push`` the blocks the emotion pass reads (after it, so
    ``speech`` holds their Silero VAD flags: an emotion pass's :class:`SpeechShare`, keeping every flag), then
    ``finish``. ``words``: the words so far; ``sentences``: the recogniser's segments, as lists of words."""

    def __init__(self, transcriber: Transcriber, speech: SpeechShare):
        speech.keep = True
        self.transcriber, self.speech = transcriber, speech
        self.buffer = np.zeros(0, np.float32)
        self.start = 0  # sample of buffer[0]
        self.language = transcriber.fixed
        self.detected: tuple[str, float] | None = None
        self.sentences: list[list[Word]] = []

    @property
    def words(self) -> list[Word]:
        return [w for s in self.sentences for w in s]

    def _flags(self, a: int, b: int) -> np.ndarray:
        """Speech flags of samples a..b (one per 32 ms window)."""
        return self.speech.speech[a // VAD_WINDOW: math.ceil(b / VAD_WINDOW)]

    def push(self, x: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, np.asarray(x, np.float32)])
        while len(self.buffer) >= MAX_PIECE * SAMPLE_RATE:
            self._piece(self._cut())

    def finish(self) -> None:
        if len(self.buffer):
            self._piece(len(self.buffer))

    def _cut(self) -> int:
        """Where to end the next piece: the middle of the longest pause after MIN_CUT seconds, else MAX_PIECE."""
        flags = self._flags(self.start, self.start + int(MAX_PIECE * SAMPLE_RATE))
        first = int(MIN_CUT * SAMPLE_RATE / VAD_WINDOW)
        best, run, best_len = None, 0, 0
        for i in range(first, len(flags)):
            run = 0 if flags[i] else run + 1
            if run > best_len:
                best, best_len = i - run // 2, run
        return int(best * VAD_WINDOW) if best is not None and best_len >= 3 else int(MAX_PIECE * SAMPLE_RATE)

    def _piece(self, n: int) -> None:
        piece, offset = self.buffer[:n], self.start / SAMPLE_RATE
        flags = self._flags(self.start, self.start + n)
        self.buffer, self.start = self.buffer[n:], self.start + n
        if flags.sum() * VAD_WINDOW / SAMPLE_RATE < MIN_SPEECH:
            return  # no speech here: nothing for the recogniser to invent words from
        if self.language is None:
            self.detected = self.transcriber.detect(piece)
            self.language = self.detected[0]
        for sentence in self.transcriber.transcribe(piece, offset=offset, language=self.language):
            heard = [w for w in sentence if self._heard(w)]
            if heard:
                self.sentences.append(heard)

    def _heard(self, w: Word) -> bool:
        """Whether the voice detector heard speech at the word (within 0.2 s of it)."""
        a, b = int((w.start - 0.2) * SAMPLE_RATE), int((w.end + 0.2) * SAMPLE_RATE)
        return bool(self._flags(max(a, 0), max(b, 1)).any())
