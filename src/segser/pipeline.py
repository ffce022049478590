"""The one prediction pipeline: recordings in, a :class:`~segser.results.types.FileResult` per recording out.

    audio -> segments -> encoder -> (adaptation) -> head -> timeline and decision -> writers
                                        ^ speakers (diarization)

The command line, the service, Ray workers, ``segser.predict`` and ``Pipeline.classify_file(s)`` all run
:meth:`Pipeline.run` or :meth:`Pipeline.run_file`; live streams (:class:`segser.serving.stream.Stream`) take a
pipeline's model and options. Files are streamed in blocks through the same engine that live streams and
training use; what must wait for a whole recording (its statistics, its speakers) keeps its segment
embeddings and voice frames in :class:`~segser.io.spill.SpillRows`, so memory does not grow with length.

>>> p = Pipeline("default-4class", hop=0.5)               # doctest: +SKIP
>>> r = p.classify_file("speech.wav"); r.decision.label   # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from segser.adaptation.groups import SPEAKER_MODES, read_speaker_table, speaker_groups
from segser.adaptation.policy import (
    ADAPT_MODES,
    MAX_GROUP_SEGMENTS,
    NOBODY,
    AdaptationNote,
    Mode,
    Plan,
    Policy,
    adapt_rows,
    plan_for,
)
from segser.diarization.turns import TurnOptions, Turns, turns_of
from segser.diarization.voice import VoiceFeatures
from segser.errors import AudioError, ConfigError, SegserError, check_choice, check_number, display_path
from segser.io.audio import AUDIO_SUFFIXES, FileStream, find_audio
from segser.io.memory import trim_heap
from segser.io.progress import progress_bar
from segser.io.spill import SpillRows
from segser.model import EmotionModel, load_model
from segser.options import field_types, parse_text
from segser.results.aggregate import check_rule
from segser.results.timeline import Timeline
from segser.results.types import NO_SPEECH, FileResult, SpeakerSummary
from segser.segmentation.config import MAX_LENGTH, MIN_HOP, MIN_LENGTH
from segser.segmentation.vad import SpeechRegions
from segser.segmentation.windows import MAX_SEGMENTS_PER_FILE
from segser.words.transcribe import Transcriber, Transcript, WordOptions
from segser.words.utterances import utterance_logits, utterances, wordless, words_in

# A clip decision whose probability is below this multiple of chance (1 / classes) reads "uncertain":
# benchmarks/clip_confidence.py measures coverage and the accuracy of the decisions kept on corpora the
# built-in models never trained on.
CLIP_CHANCE_MULTIPLE = 1.5


@dataclass(frozen=True)
class PredictOptions:
    """How to turn audio into a timeline, validated where it is made and built the same way from Python
    keywords, command-line options, query strings and WebSocket parameters (:meth:`from_text`).

    ``segment``/``hop``/``vad`` override the model's segmentation; ``rule`` the clip decision; ``min_score``
    labels a segment (and a clip) ``uncertain`` below that top probability; ``clip_min_score`` the clip alone
    (default: :data:`CLIP_CHANCE_MULTIPLE` times chance); ``speech_gate`` labels ``no speech`` below that share of
    speech (0 turns the gate off; default: the gate the model was trained with); ``adapt`` chooses the
    statistics embeddings are adapted with (:mod:`segser.adaptation.policy`)."""

    segment: float | None = None
    hop: float | None = None
    vad: bool = False
    rule: str = "mean_logits"
    min_score: float = 0.0
    clip_min_score: float | None = None  # None: CLIP_CHANCE_MULTIPLE / classes
    speech_gate: float | None = None  # None: the gate the model was trained with
    adapt: str = "auto"

    def __post_init__(self):
        set_ = object.__setattr__
        if self.segment is not None:
            set_(self, "segment", check_number("segment length (segment)", self.segment, lo=MIN_LENGTH, hi=MAX_LENGTH, unit="s"))
        if self.hop is not None:
            set_(self, "hop", check_number("segment hop (hop)", self.hop, lo=MIN_HOP, hi=MAX_LENGTH, unit="s"))
        if not isinstance(self.vad, bool):
            raise ConfigError(f"vad must be true or false (got {self.vad!r})")
        check_rule(self.rule)
        set_(self, "min_score", check_number("min_score (--min-score)", self.min_score, lo=0.0, hi=1.0))
        if self.clip_min_score is not None:
            set_(self, "clip_min_score", check_number("clip_min_score (--clip-min-score)", self.clip_min_score, lo=0.0, hi=1.0))
        if self.speech_gate is not None:
            set_(self, "speech_gate", check_number("speech_gate (--speech-gate)", self.speech_gate, lo=0.0, hi=1.0))
        check_choice("adapt", self.adapt, ADAPT_MODES)

    @classmethod
    def from_text(cls, values: dict) -> "PredictOptions":
        """Options from text (a query string, WebSocket parameters): ``{"hop": "0.5", "vad": "true"}``;
        unknown keys are ignored so a caller may pass its whole query."""
        types = field_types(cls)
        return cls(**{k: parse_text(str(v), types[k], where=k) for k, v in values.items() if k in types and v is not None})

    def replace(self, **changes) -> "PredictOptions":
        return replace(self, **changes)

    def gate(self, model) -> float:
        return model.speech_gate if self.speech_gate is None else self.speech_gate

    def clip_floor(self, model) -> float:
        return CLIP_CHANCE_MULTIPLE / len(model.classes) if self.clip_min_score is None else self.clip_min_score

    def segmentation(self, model_segmentation):
        """The model's segmentation with this call's overrides (one rule everywhere)."""
        return model_segmentation.with_overrides(length=self.segment, hop=self.hop, vad=self.vad)

    def timeline(self, model, *, keep: bool = True) -> Timeline:
        return Timeline(model.classes, temperature=model.temperature, rule=self.rule, min_score=self.min_score,
                        clip_min_score=self.clip_floor(model), speech_gate=self.gate(model), keep=keep)


OPTION_NAMES = tuple(f.name for f in fields(PredictOptions))


def options_of(options: PredictOptions | None = None, **overrides) -> PredictOptions:
    """A :class:`PredictOptions` from an instance and/or keywords (the Python API's way in)."""
    base = options or PredictOptions()
    unknown = sorted(set(overrides) - set(OPTION_NAMES))
    if unknown:
        raise ConfigError(f"unknown prediction option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"known: {', '.join(OPTION_NAMES)}")
    return base.replace(**overrides) if overrides else base


@dataclass(frozen=True)
class RunLimits:
    """What one recording may take: ``max_seconds`` of audio (None: no limit), ``max_segments`` segments, and the
    encoder windows read per block (fewer: less memory per concurrent request, as the service uses)."""

    max_seconds: float | None = None
    max_segments: int = MAX_SEGMENTS_PER_FILE
    block_windows: int = 8

    def __post_init__(self):
        if self.max_seconds is not None:
            check_number("max_seconds", self.max_seconds, lo=0.25, hi=86_400 * 366, unit="s")
        check_number("max_segments", self.max_segments, lo=1, hi=MAX_SEGMENTS_PER_FILE, integer=True)
        check_number("block_windows", self.block_windows, lo=1, hi=64, integer=True)


class Cancelled(SegserError):
    """The caller gave up on this file (e.g. a disconnected client)."""


class Envelope:
    """Min/max of a signal in about ``bins`` bins, accumulated block by block (the waveform strip of a timeline
    plot without holding the audio)."""

    def __init__(self, total_samples: int, sample_rate: int, bins: int = 4000):
        self.step = max(1, int(total_samples) // bins)
        self.sample_rate = sample_rate
        self.rest = np.zeros(0, np.float32)
        self.lo, self.hi = [], []

    def add(self, x: np.ndarray) -> None:
        x = np.concatenate([self.rest, x]) if self.rest.size else x
        n = x.size // self.step
        if n:
            frames = x[: n * self.step].reshape(n, self.step)
            self.lo.append(frames.min(1))
            self.hi.append(frames.max(1))
        self.rest = x[n * self.step:].copy()

    def arrays(self):
        lo = np.concatenate(self.lo + ([self.rest.min(keepdims=True)] if self.rest.size else []))
        hi = np.concatenate(self.hi + ([self.rest.max(keepdims=True)] if self.rest.size else []))
        t = (np.arange(lo.size) + 0.5) * self.step / self.sample_rate
        return t, lo, hi


@dataclass
class Encoded:
    """One recording through the encoder: its segments' spans and speech shares, and per segment ``rows`` of
    embeddings (or of logits, when nothing waits for the whole recording)."""

    file: str
    spans: np.ndarray  # (n, 2) seconds
    speech: np.ndarray  # (n,) share of each segment that is speech
    rows: SpillRows
    duration: float
    notes: list = field(default_factory=list)
    envelope: tuple | None = None
    transcript: Transcript | None = None

    @property
    def speech_seconds(self) -> np.ndarray:
        return (self.spans[:, 1] - self.spans[:, 0]) * self.speech


def expand_inputs(inputs) -> tuple[list[str], dict[str, str]]:
    """Files and directories -> audio files, each once; problems per input in ``errors``."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    files, errors, seen = [], {}, set()
    for item in inputs:
        p = Path(item)
        found = find_audio(p) if p.is_dir() else [p]
        if p.is_dir() and not found:
            errors[str(p)] = f"{display_path(p)}: directory contains no audio files ({', '.join(AUDIO_SUFFIXES)})"
        for f in found:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                files.append(str(f))
    return files, errors


class Pipeline:
    """A model (loaded once) and how to predict with it: ``options`` (:class:`PredictOptions`, or their keywords),
    ``speakers`` (``auto``: find each recording's speakers; ``all``, ``file``, a ``file,speaker`` CSV or a mapping:
    which inputs share a speaker, for adaptation), ``turns`` (:class:`~segser.diarization.turns.TurnOptions` for
    ``auto``), ``transcribe`` (True, or :class:`~segser.words.transcribe.WordOptions`: the words said, and a row
    per utterance), ``limits`` (:class:`RunLimits`) and ``envelope`` (keep each waveform's outline, for plots)."""

    def __init__(self, model=None, options: PredictOptions | None = None, *, speakers=None, turns: TurnOptions | None = None,
                 transcribe: bool | WordOptions = False, limits: RunLimits | None = None, runtime: str = "auto",
                 precision: str = "auto", envelope: bool = False, **option_values):
        self.model: EmotionModel = load_model(model, runtime=runtime, precision=precision)
        self.options = options_of(options, **option_values)
        self.segmentation = self.options.segmentation(self.model.segmentation)
        if turns is not None and speakers != "auto":
            raise ConfigError("the number of speakers (--num-speakers, --max-speakers) goes with --speakers auto")
        if isinstance(speakers, (str, Path)) and speakers not in SPEAKER_MODES and Path(speakers).suffix.lower() == ".csv":
            speakers = read_speaker_table(speakers)  # a table's mistakes are refused now, whatever the inputs
        self.speakers = speakers
        self.turns = turns or (TurnOptions() if speakers == "auto" else None)
        self.limits = limits or RunLimits()
        self.envelope = envelope
        self.words = transcribe if isinstance(transcribe, WordOptions) else (WordOptions() if transcribe else None)
        self.transcriber = Transcriber(self.words) if self.words is not None else None  # loaded once, checked now
        plan_for(self.model, self.options.adapt, inputs=2, speakers=speakers)  # refuses a wrong combination now

    @property
    def classes(self) -> list[str]:
        return self.model.classes

    # -- the ways in -----------------------------------------------------------------------------------
    def run(self, inputs, *, progress: bool = False):
        """A :class:`FileResult` per input file (and one per input that yields no file), as each is done."""
        files, errors = expand_inputs(inputs)
        plan = plan_for(self.model, self.options.adapt, inputs=len(files), speakers=self.speakers)
        if isinstance(self.speakers, dict):
            speaker_groups(files, self.speakers)  # every input in the table, even one alone
        for key, message in errors.items():
            yield FileResult(key, error=message)
        each_alone = plan.policy is Policy.OWN and plan.grouping == "file"  # own statistics need no collection
        if self.speakers == "auto" or plan.policy is Policy.NONE or len(files) == 1 or each_alone:
            desc = "conversations" if self.speakers == "auto" else "predict"
            for f in progress_bar(files, desc=desc, enabled=progress, minimum=2):
                yield self._guarded(self._one, f, plan)
            return
        yield from self._batch(files, plan, progress=progress)

    def run_file(self, path, *, cancelled=None, compute=None) -> FileResult:
        """One recording on its own (an upload, a Ray worker's file); :class:`AudioError` when it cannot be used.
        ``cancelled()`` is polled between blocks; ``compute(fn)`` runs each block's model work (the service
        queues it on one compute thread)."""
        plan = plan_for(self.model, self.options.adapt, inputs=1, speakers=self.speakers, alone=True)
        return self._one(str(path), plan, cancelled=cancelled, compute=compute)

    def classify_file(self, path) -> FileResult:
        """The timeline and decision of one recording, as SpeechBrain's models have it."""
        return self._guarded(self._one, str(path), plan_for(self.model, self.options.adapt, inputs=1,
                                                            speakers=self.speakers))

    def classify_files(self, paths, *, progress: bool = False):
        """:class:`FileResult` of each input, as each is done (folders expanded)."""
        yield from self.run(paths, progress=progress)

    @staticmethod
    def _guarded(fn, path, *args, **kwargs) -> FileResult:
        try:
            return fn(path, *args, **kwargs)
        except AudioError as exc:
            return FileResult(path, error=str(exc), error_kind=type(exc).__name__)

    # -- one recording ---------------------------------------------------------------------------------
    def encode(self, path, *, keep_embeddings: bool = True, voice=None, max_segments=None, cancelled=None, compute=None) -> Encoded:
        """Stream one file in blocks through the encoder; per segment its embedding (or, without
        ``keep_embeddings``, its logits)."""
        model, limits = self.model, self.limits
        window = model.encoder.window_seconds
        stream = FileStream(str(path), model.sample_rate,
                            block_seconds=window * limits.block_windows if window else 30.0, max_seconds=limits.max_seconds)
        self.segmentation.check_duration(stream.duration, path, limit=min(max_segments or limits.max_segments,
                                                                          limits.max_segments))
        embedder = model.embedder(self.segmentation, skip_below=self.options.gate(model))
        if voice is not None:
            voice.share_vad(embedder.speech)
        transcript = Transcript(self.transcriber, embedder.speech) if self.transcriber is not None else None
        env = Envelope(int(stream.duration * model.sample_rate), model.sample_rate) if self.envelope else None
        rows = SpillRows(model.encoder.dim if keep_embeddings else len(model.classes))
        spans, speech = [], []

        def step(block=None):
            out = embedder.push(block) if block is not None else embedder.finish()
            if out:
                spans.extend((r.start, r.end) for r in out)
                speech.extend(r.speech for r in out)
                X = np.stack([r.embedding for r in out]).astype(np.float32)
                rows.append(X if keep_embeddings else model.logits(X))

        run = compute or (lambda fn: fn())
        for i, block in enumerate(stream):
            if cancelled is not None and cancelled():
                raise Cancelled(f"{display_path(path)}: cancelled")
            if env is not None:
                env.add(block)
            if voice is not None:
                voice.push(block)
            run(lambda b=block: step(b))
            if transcript is not None:  # after the emotion pass: its speech flags for this block are there
                run(lambda b=block: transcript.push(b))
            if i % 8 == 7:
                trim_heap()
        run(step)
        if transcript is not None:
            run(transcript.finish)
        if not spans:
            raise AudioError(path, "no speech segments found" if isinstance(self.segmentation.segmenter(), SpeechRegions)
                             else "too short for one segment")
        return Encoded(str(path), np.asarray(spans, np.float64).reshape(-1, 2), np.asarray(speech, np.float32), rows,
                       stream.duration, stream.notes, env.arrays() if env is not None else None, transcript)

    def _one(self, path: str, plan: Plan, *, cancelled=None, compute=None) -> FileResult:
        """One recording: unadapted, adapted as its own group, or a conversation (its speakers found)."""
        if self.speakers == "auto":
            return self._conversation(path, plan, cancelled=cancelled, compute=compute)
        adapted = plan.policy is not Policy.NONE
        enc = self.encode(path, keep_embeddings=adapted, max_segments=MAX_GROUP_SEGMENTS if adapted else None,
                           cancelled=cancelled, compute=compute)
        if not adapted:  # the rows are the segments' logits already
            return self._result(enc, enc.rows.read(0, len(enc.rows)), plan.note())
        groups = np.full(len(enc.spans), "file", dtype=object)
        logits, notes, errors = adapt_rows(self.model, plan, enc.rows, voiced=enc.speech >= self.options.gate(self.model),
                                           groups=groups, seconds=enc.speech_seconds, who=lambda _: "the recording")
        if errors:
            raise AudioError(path, errors["file"].problem)
        return self._result(enc, logits, notes["file"])

    def _logits(self, rows: SpillRows) -> np.ndarray:
        return np.concatenate([self.model.logits(X) for _, X in rows.chunks()])

    def _result(self, enc: Encoded, logits: np.ndarray, note: AdaptationNote | None, *, speaker: np.ndarray | None = None,
                turns: Turns | None = None) -> FileResult:
        """The recording's timeline and decision from its segments' logits; with words, the rows are its utterances
        (or its windows with the words they overlap) and the decision is still its segments'."""
        enc.rows.close()
        extra = {"speaker": speaker} if speaker is not None else {}
        timeline = self.options.timeline(self.model)
        words = enc.transcript
        by_window = words is None or self.words.segments == "windows"
        if words is not None and by_window:
            extra["text"] = words_in(enc.spans, words.words)
        timeline.add(enc.spans, logits, enc.speech, extra=extra)
        notes = list(enc.notes)
        if words is not None and words.detected is not None:
            notes.append(f"language {words.detected[0]} (detected, p {words.detected[1]:.2f})")
        result = FileResult(enc.file, timeline.frame() if by_window else None,
                            timeline.decision(duration=enc.duration, notes=notes), envelope=enc.envelope, adaptation=note)
        if words is not None:
            result.words, result.language = words.words, words.language
            if not by_window:
                result.segments = self._utterance_rows(enc, logits, turns)
        return result

    def _utterance_rows(self, enc: Encoded, logits: np.ndarray, turns: Turns | None):
        """A row per utterance (and per stretch of speech without words): its emotion from the segments it
        overlaps, its speaker, its text."""
        speaker_at = (lambda times: turns.speakers_of([(t, t + 1e-3) for t in times])) if turns is not None else None
        gate = self.options.gate(self.model)
        utts = wordless(utterances(enc.transcript.sentences, speaker_at), enc.spans, enc.speech >= gate, speaker_at)
        rows, share = utterance_logits(utts, enc.spans, logits, enc.speech, gate)
        timeline = self.options.timeline(self.model)
        extra = {"speaker": [u.speaker for u in utts]} if turns is not None else {}
        timeline.add([(u.start, u.end) for u in utts], rows, share, extra={**extra, "text": [u.text for u in utts]})
        return timeline.frame()

    # -- a recording with several voices -----------------------------------------------------------------
    def _conversation(self, path: str, plan: Plan, *, cancelled=None, compute=None) -> FileResult:
        """Its speaker turns (:mod:`segser.diarization`), each segment's speaker, adaptation per found speaker as
        ``plan`` says, a timeline with a ``speaker`` column and a summary per speaker."""
        voice = VoiceFeatures()  # one read of the file: the speaker pass takes its blocks and speech flags
        enc = self.encode(path, keep_embeddings=True, voice=voice, max_segments=MAX_GROUP_SEGMENTS, cancelled=cancelled,
                           compute=compute)
        turns = turns_of(voice, self.turns, where=path)
        speaker = np.array(turns.speakers_of(enc.spans), dtype=object)
        gate = self.options.gate(self.model)
        logits, notes, errors = adapt_rows(self.model, plan, enc.rows, voiced=enc.speech >= gate, groups=speaker,
                                           seconds=enc.speech_seconds, who=lambda sp: f"speaker {sp}")
        if errors:
            raise AudioError(path, next(iter(errors.values())).problem)
        note = AdaptationNote(Mode.PER_SPEAKER if plan.policy is not Policy.NONE else Mode.NONE, speakers=len(turns.speakers))
        summaries = self._summaries(enc, logits, speaker, notes)
        result = self._result(enc, logits, note, speaker=speaker, turns=turns)
        result.turns, result.speakers = turns.turns, summaries
        if turns.notes:
            d = result.decision
            result.decision = replace(d, notes="; ".join(filter(None, [d.notes, *turns.notes])))
        return result

    def _summaries(self, enc: Encoded, logits: np.ndarray, speaker: np.ndarray, notes: dict) -> dict[str, SpeakerSummary]:
        """Per found speaker: seconds of speech, the share of their speech per emotion, a clip-style decision."""
        out = {}
        for sp in dict.fromkeys(speaker.tolist()):
            if sp == NOBODY:
                continue
            rows = np.flatnonzero(speaker == sp)
            timeline = self.options.timeline(self.model)
            timeline.add(enc.spans[rows], logits[rows], enc.speech[rows])
            seg = timeline.frame()
            voiced = seg[seg["label"] != NO_SPEECH]
            seconds = (voiced["end"] - voiced["start"]) * voiced["speech"]
            share = (seconds.groupby(voiced["label"]).sum() / max(float(seconds.sum()), 1e-9)).round(3).to_dict()
            decision = timeline.decision(duration=float((seg["end"] - seg["start"]).sum()))
            out[str(sp)] = SpeakerSummary(str(sp), round(float(seconds.sum()), 1), share, decision, notes.get(sp))
        return out

    # -- a batch adapted together ----------------------------------------------------------------------
    def _batch(self, files: list[str], plan: Plan, *, progress: bool = False):
        """Files that fall into groups (speakers, recordings or one collection): every file is embedded first,
        then each group is adapted as ``plan`` says, with the whole batch's statistics as the collection. Past
        MAX_GROUP_SEGMENTS segments an explicitly asked adaptation is refused whole, and one ``auto`` chose gives
        way: the batch is predicted without adaptation, said per file."""
        groups = speaker_groups(files, plan.grouping)
        who = {"file": lambda key: "the recording", "all": lambda key: "the collection"}.get(
            plan.grouping if isinstance(plan.grouping, str) else "", lambda key: f"speaker {key}")
        rows = SpillRows(self.model.encoder.dim)
        done: list[tuple[Encoded, str, int]] = []  # (recording, its group, its first row)
        items = [(k, f) for k, fs in groups.items() for f in fs]
        failed, alone = set(), ""
        for key, f in progress_bar(items, desc="embed", enabled=progress, minimum=2):
            if alone:  # past the bound: each recording stands alone, unadapted, as it comes
                r = self._guarded(self._one, f, Plan(Policy.NONE))
                if r.ok:
                    r.adaptation = AdaptationNote(Mode.NONE, batch=alone)
                yield r
                continue
            try:
                enc = self.encode(f, keep_embeddings=True, max_segments=MAX_GROUP_SEGMENTS)
            except AudioError as exc:
                failed.add(f)
                yield FileResult(f, error=str(exc), error_kind=type(exc).__name__)
                continue
            if len(rows) + len(enc.spans) <= MAX_GROUP_SEGMENTS:
                done.append((enc, key, len(rows)))
                for _, X in enc.rows.chunks():
                    rows.append(X)
                enc.rows.close()
                continue
            if not plan.chosen or self.model.speaker_norm:  # refused whole: these statistics need every segment at once
                for _, g in items:
                    if g not in failed:
                        yield FileResult(g, error=f"{display_path(g)}: the inputs hold more than {MAX_GROUP_SEGMENTS:,} "
                                                  "segments to adapt together; predict them in smaller batches, use a "
                                                  "longer hop or --adapt none")
                return
            alone = f"over {MAX_GROUP_SEGMENTS:,} segments in the batch: not adapted"
            for e, _, first in done:
                yield self._result(e, self.model.logits(rows.read(first, first + len(e.spans))), AdaptationNote(Mode.NONE, batch=alone))
            yield self._result(enc, self._logits(enc.rows), AdaptationNote(Mode.NONE, batch=alone))
            done = []
        if not done:
            return
        group_of_row = np.empty(len(rows), dtype=object)
        voiced, seconds = np.empty(len(rows), bool), np.empty(len(rows))
        gate = self.options.gate(self.model)
        for enc, key, first in done:
            group_of_row[first:first + len(enc.spans)] = key
            voiced[first:first + len(enc.spans)] = enc.speech >= gate
            seconds[first:first + len(enc.spans)] = enc.speech_seconds
        logits, notes, errors = adapt_rows(self.model, plan, rows, voiced=voiced, groups=group_of_row, seconds=seconds,
                                           who=who)
        rows.close()
        for enc, key, first in done:
            if key in errors:
                yield FileResult(enc.file, error=f"{display_path(enc.file)}: {errors[key].problem}")
                continue
            yield self._result(enc, logits[first:first + len(enc.spans)], notes[key])

