"""Running a trained model on recordings: an emotion timeline (one row per
segment) and a clip decision per file.

>>> import segser
>>> timeline, decisions, errors = segser.predict(["speech.wav"])  # doctest: +SKIP
>>> timeline.loc["speech.wav"]                                     # doctest: +SKIP

``timeline`` is indexed by (file, start, end) like audinterface; ``decisions``
by file. Files are streamed in blocks through the same engine that live
streams and training use, so memory does not grow with length and the
timeline equals what a live stream of the same audio gives. Rows and
decisions are made by :class:`segser.results.timeline.Timeline`; adaptation
(``adapt=``) by :mod:`segser.speakers`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segser.adaptation.policy import ADAPT_MODES
from segser.errors import AudioError, ConfigError, SegserError, audio_error_class, check_choice, check_number, display_path
from segser.io.audio import AUDIO_SUFFIXES, FileStream, find_audio
from segser.io.progress import progress_bar
from segser.results.aggregate import check_rule
from segser.results.timeline import NO_SPEECH, Timeline
from segser.results.types import FileResult
from segser.segmentation.vad import SpeechRegions
from segser.segmentation.windows import MAX_SEGMENTS_PER_FILE

if TYPE_CHECKING:  # annotations only: the model calls this engine, not the other way round
    from segser.model import EmotionModel



@dataclass(frozen=True)
class PredictOptions:
    """How to turn audio into a timeline, validated where it is made and built
    the same way from Python keywords, command-line options, query strings and
    WebSocket parameters (:meth:`from_text`).

    ``segment``/``hop``/``vad`` override the model's segmentation; ``rule`` the
    clip decision; ``min_score`` labels a segment ``uncertain`` below that top
    probability; ``speech_gate`` labels ``no speech`` below that share of speech
    (0 turns the gate off; default: the gate the model was trained with); ``adapt`` chooses the statistics embeddings are
    adapted with (see :mod:`segser.speakers`)."""

    segment: float | None = None
    hop: float | None = None
    vad: bool = False
    rule: str = "mean_logits"
    min_score: float = 0.0
    speech_gate: float | None = None  # None: the gate the model was trained with
    adapt: str = "auto"

    def __post_init__(self):
        from segser.segmentation.windows import MAX_LENGTH, MIN_HOP, MIN_LENGTH

        set_ = object.__setattr__
        if self.segment is not None:
            set_(self, "segment", check_number("segment length (segment)", self.segment, lo=MIN_LENGTH, hi=MAX_LENGTH, unit="s"))
        if self.hop is not None:
            set_(self, "hop", check_number("segment hop (hop)", self.hop, lo=MIN_HOP, hi=MAX_LENGTH, unit="s"))
        if not isinstance(self.vad, bool):
            raise ConfigError(f"vad must be true or false (got {self.vad!r})")
        check_rule(self.rule)
        set_(self, "min_score", check_number("min_score (--min-score)", self.min_score, lo=0.0, hi=1.0))
        if self.speech_gate is not None:
            set_(self, "speech_gate", check_number("speech_gate (--speech-gate)", self.speech_gate, lo=0.0, hi=1.0))
        check_choice("adapt", self.adapt, ADAPT_MODES)

    @classmethod
    def from_text(cls, values: dict) -> "PredictOptions":
        """Options from text (a query string, WebSocket parameters): ``{"hop": "0.5", "vad": "true"}``;
        unknown keys are ignored so a caller may pass its whole query."""
        from segser.options import field_types, parse_text

        types = field_types(cls)
        parsed = {k: parse_text(str(v), types[k], where=k) for k, v in values.items() if k in types and v is not None}
        return cls(**parsed)

    def replace(self, **changes) -> "PredictOptions":
        return replace(self, **changes)

    def gate(self, model) -> float:
        return model.speech_gate if self.speech_gate is None else self.speech_gate

    def segmentation(self, model_segmentation):
        """The model's segmentation with this call's overrides (one rule everywhere)."""
        return model_segmentation.with_overrides(length=self.segment, hop=self.hop, vad=self.vad)



OPTION_NAMES = tuple(f.name for f in fields(PredictOptions))



DEFAULT_OPTIONS = PredictOptions()



def options_of(options: PredictOptions | None = None, **overrides) -> PredictOptions:
    """A :class:`PredictOptions` from an instance and/or keywords (the Python API's way in)."""
    base = options or PredictOptions()
    unknown = sorted(set(overrides) - set(OPTION_NAMES))
    if unknown:
        raise ConfigError(f"unknown prediction option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"known: {', '.join(OPTION_NAMES)}")
    return base.replace(**overrides) if overrides else base


class Cancelled(SegserError):
    """The caller gave up on this file (e.g. a disconnected client)."""


def _heap_trimmer():
    """glibc's malloc_trim, or a no-op elsewhere. Streaming thousands of blocks
    fragments glibc's heap; returning free pages every few blocks keeps peak
    RSS flat with the recording's length."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
        return lambda: trim(0)
    except (OSError, AttributeError):
        return lambda: None


trim_heap = _heap_trimmer()


class Envelope:
    """Min/max of a signal in about ``bins`` bins, accumulated block by block
    (the waveform strip of a timeline plot without holding the audio)."""

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
class Streamed:
    """One file passed through the encoder: segment spans, their speech shares and,
    per segment, what ``per_block`` made of the embeddings (logits, or the embeddings themselves)."""

    file: str
    spans: list
    values: np.ndarray
    speech: np.ndarray
    duration: float
    notes: list
    envelope: tuple | None

    @property
    def speech_seconds(self) -> float:
        return float(sum((e - s) * p for (s, e), p in zip(self.spans, self.speech)))

    def result(self, model: EmotionModel, options: PredictOptions, logits: np.ndarray | None = None,
               adaptation: dict | None = None, extra: dict | None = None) -> FileResult:
        timeline = Timeline.for_model(model, options)
        timeline.add(self.spans, self.values if logits is None else logits, self.speech, extra=extra)
        return FileResult(self.file, timeline.frame(), timeline.decision(duration=self.duration, notes=self.notes),
                          envelope=self.envelope, adaptation=adaptation or {})


def stream_file(model: EmotionModel, path, per_block, *, options: PredictOptions = DEFAULT_OPTIONS,
                max_seconds: float | None = None, segment_limit: int = MAX_SEGMENTS_PER_FILE, envelope: bool = False,
                cancelled=None, compute=None, block_windows: int = 8, voice=None) -> Streamed:
    """Stream one file in blocks through the model's encoder; ``per_block(X)`` of each block's segment embeddings.
    ``voice``: a :class:`segser.diarization.turns.VoiceFeatures` fed the same blocks, with this pass's speech flags.
    ``cancelled()`` is polled between blocks; ``compute(fn)`` runs each block's model work (the service queues
    it on one compute thread, so concurrent requests advance block by block in turn); ``block_windows``: encoder
    windows read per block (fewer: less memory per concurrent request, as the service uses)."""
    seg = options.segmentation(model.segmentation)
    window = model.encoder.window_seconds
    stream = FileStream(str(path), model.sample_rate, block_seconds=window * block_windows if window else 30.0,
                        max_seconds=max_seconds)
    seg.check_duration(stream.duration, path, limit=segment_limit)
    embedder = model.embedder(seg, skip_below=options.gate(model))
    if voice is not None:
        voice.share_vad(embedder.speech)
    env = Envelope(int(stream.duration * model.sample_rate), model.sample_rate) if envelope else None
    spans, values, speech = [], [], []

    def step(block=None):
        rows = embedder.push(block) if block is not None else embedder.finish()
        if rows:
            spans.extend((r.start, r.end) for r in rows)
            speech.extend(r.speech for r in rows)
            values.append(per_block(np.stack([r.embedding for r in rows])))

    run = compute or (lambda fn: fn())
    for i, block in enumerate(stream):
        if cancelled is not None and cancelled():
            raise Cancelled(f"{display_path(path)}: cancelled")
        if env is not None:
            env.add(block)
        if voice is not None:
            voice.push(block)
        run(partial(step, block))
        if i % 8 == 7:
            trim_heap()
    run(step)
    if not spans:
        raise AudioError(path, "no speech segments found" if isinstance(seg.segmenter(), SpeechRegions)
                         else "too short for one segment")
    return Streamed(str(path), spans, np.concatenate(values), np.asarray(speech, np.float32), stream.duration,
                    stream.notes, env.arrays() if env is not None else None)


def _float32(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float32)


def predict_file(model: EmotionModel, path, options: PredictOptions = DEFAULT_OPTIONS, *, turn_options=None,
                 **stream_options) -> FileResult:
    """Timeline and clip decision of one recording on its own, streamed in blocks; raises
    :class:`AudioError` for a file that cannot be used. A model that needs statistics
    (speaker-normalised) takes the recording as its own group (see :func:`predict_group`);
    with ``turn_options`` the recording's speakers are found (:func:`predict_conversation`)."""
    from segser.adaptation.policy import plan_for

    if turn_options is not None:
        plan = plan_for(model, options.adapt, n_inputs=1, speakers="auto")
        return predict_conversation(model, path, options, plan=plan, turn_options=turn_options, **stream_options)
    plan = plan_for(model, options.adapt, n_inputs=1)
    if plan.mode == "none":
        return stream_file(model, path, model.logits, options=options, **stream_options).result(
            model, options, adaptation=plan.describe())
    results = list(predict_groups(model, {str(path): [str(path)]}, options, plan=plan, who=lambda _: "the recording",
                                  **stream_options))
    if not results[0].ok:  # the same error class a recording streamed alone raises (a limit: LimitExceeded)
        raise audio_error_class(results[0].error_kind)(path, results[0].error.split(": ", 1)[-1])
    return results[0]


def predict_groups(model: EmotionModel, groups: dict[str, list[str]], options: PredictOptions, *, plan,
                   who=lambda key: f"speaker {key}", progress: bool = False, **stream_options):
    """Results of a batch whose files fall into groups (speakers, recordings or one collection): every file is
    embedded first, then each group is adapted as ``plan`` says, with the whole batch's statistics as the
    collection. At most MAX_GROUP_SEGMENTS segments are held: past that, an explicitly asked adaptation is
    refused whole, and one ``auto`` chose gives way: the batch is predicted without adaptation, said per file."""
    from segser.adaptation.policy import MAX_GROUP_SEGMENTS, AdaptationPlan

    streamed: dict[str, list[Streamed]] = {}
    limit = min(stream_options.pop("segment_limit", MAX_SEGMENTS_PER_FILE), MAX_GROUP_SEGMENTS)
    n, failed, alone = 0, set(), False
    for key, f in progress_bar([(k, f) for k, fs in groups.items() for f in fs], desc="embed", enabled=progress, minimum=2):
        try:
            s = stream_file(model, f, _float32, options=options, segment_limit=limit, **stream_options)
        except AudioError as exc:
            failed.add(f)
            yield FileResult(f, error=str(exc), error_kind=type(exc).__name__)
            continue
        n += len(s.spans)
        if n > MAX_GROUP_SEGMENTS and not alone:
            if not plan.chosen or model.speaker_norm:  # refused whole: these statistics need every segment at once
                for g in [x for fs in groups.values() for x in fs if x not in failed]:
                    yield FileResult(g, error=f"{display_path(g)}: the inputs hold more than {MAX_GROUP_SEGMENTS:,} "
                                              "segments to adapt together; predict them in smaller batches, use a "
                                              "longer hop or --adapt none")
                return
            plan = AdaptationPlan("none", reason=f"over {MAX_GROUP_SEGMENTS:,} segments in the batch: not adapted")
            yield from _adapt_groups(model, streamed, options, plan, who, collection=None, reason=plan.reason)
            streamed, alone = {}, True
        if alone:  # from here on each recording stands alone, as it comes
            yield from _adapt_groups(model, {f: [s]}, options, plan, lambda _: "the recording", collection=None,
                                     reason=plan.reason)
            continue
        streamed.setdefault(key, []).append(s)
    if not streamed:
        return
    gate = options.gate(model)
    everything = [s for ss in streamed.values() for s in ss]
    collection = plan.collection(model, np.concatenate([s.values for s in everything]),
                                 np.concatenate([s.speech for s in everything]) >= gate, groups=len(streamed))
    yield from _adapt_groups(model, streamed, options, plan, who, collection=collection)


def _adapt_groups(model: EmotionModel, streamed: dict, options: PredictOptions, plan, who, *, collection, reason=""):
    gate = options.gate(model)
    for key, ss in streamed.items():
        X = np.concatenate([s.values for s in ss])
        voiced = np.concatenate([s.speech for s in ss]) >= gate
        try:
            logits, note = plan.adapt(model, X, voiced, float(sum(s.speech_seconds for s in ss)), who=who(key),
                                      collection=collection)
        except AudioError as exc:
            for s in ss:
                yield FileResult(s.file, error=f"{display_path(s.file)}: {exc.problem}")
            continue
        if reason:
            note = {**note, "batch": reason}
        bounds = np.cumsum([0] + [len(s.values) for s in ss])
        for s, a, b in zip(ss, bounds[:-1], bounds[1:]):
            yield s.result(model, options, logits=logits[a:b], adaptation=note)


# the speaker pass keeps 10 ms mel frames and a clustering of at most turns.MAX_WINDOWS windows: bounded, but it
# grows with length (benchmarks/conversations.py reports the peak at 1 h)
MAX_CONVERSATION_SECONDS = 2 * 3600.0


def predict_conversation(model: EmotionModel, path, options: PredictOptions, *, plan, turn_options=None,
                         **stream_options) -> FileResult:
    """One recording with several voices: its speaker turns (:mod:`segser.turns`), each segment's speaker,
    adaptation per found speaker as ``plan`` says, a timeline with a ``speaker`` column and a summary per speaker."""
    from segser.adaptation.policy import MAX_GROUP_SEGMENTS
    from segser.diarization.turns import turns_of
    from segser.diarization.voice import VoiceFeatures

    limit = min(stream_options.pop("segment_limit", MAX_SEGMENTS_PER_FILE), MAX_GROUP_SEGMENTS)
    max_seconds = min(stream_options.pop("max_seconds", None) or MAX_CONVERSATION_SECONDS, MAX_CONVERSATION_SECONDS)
    voice = VoiceFeatures()  # one read of the file: the speaker pass takes the blocks and speech flags of this one
    s = stream_file(model, path, _float32, options=options, segment_limit=limit, max_seconds=max_seconds,
                    voice=voice, **stream_options)
    turns = turns_of(voice, turn_options, where=path)
    speaker = np.array(turns.speakers_of(s.spans))
    gate = options.gate(model)
    voiced = s.speech >= gate
    logits = np.zeros((len(s.spans), len(model.classes)), np.float32)
    # the whole recording: the fallback of the guard
    collection = plan.collection(model, s.values, voiced, groups=len(set(speaker) - {"-"}))
    notes = {}
    for sp in dict.fromkeys(speaker):
        rows = speaker == sp
        if sp == "-":  # nobody speaks there (silence between turns): nothing to adapt to
            logits[rows] = model.logits(s.values[rows])
            continue
        seconds = float(sum((b - a) * p for (a, b), p in zip(np.asarray(s.spans)[rows], s.speech[rows])))
        logits[rows], notes[sp] = plan.adapt(model, s.values[rows], voiced[rows], seconds, who=f"speaker {sp}",
                                             collection=collection)
    result = s.result(model, options, logits=logits, extra={"speaker": list(speaker)},
                      adaptation={"mode": plan.mode, "speakers": len(turns.speakers)})
    result.turns = [{"start": t.start, "end": t.end, "speaker": t.speaker, "overlap": t.overlap} for t in turns.turns]
    result.speakers = speaker_summaries(model, options, s, logits, speaker, notes)
    if turns.notes:
        result.decision["notes"] = "; ".join(filter(None, [result.decision["notes"], *turns.notes]))
    return result


def speaker_summaries(model: EmotionModel, options: PredictOptions, s: Streamed, logits: np.ndarray, speaker: np.ndarray,
                      notes: dict) -> dict:
    """Per speaker: seconds of speech, the share of their speech per emotion, a clip-style decision."""
    out = {}
    for sp in dict.fromkeys(speaker):
        if sp == "-":
            continue
        rows = np.flatnonzero(speaker == sp)
        timeline = Timeline.for_model(model, options)
        timeline.add([s.spans[i] for i in rows], logits[rows], s.speech[rows])
        segs = timeline.frame()
        voiced = segs[segs["label"] != NO_SPEECH]
        seconds = (voiced["end"] - voiced["start"]) * voiced["speech"]
        decision = timeline.decision(duration=float((segs["end"] - segs["start"]).sum()))
        share = (seconds.groupby(voiced["label"]).sum() / max(float(seconds.sum()), 1e-9)).round(3).to_dict()
        out[str(sp)] = {"speech_seconds": round(float(seconds.sum()), 1), "share": share,
                        "decision": {k: decision[k] for k in ("label", "score", "n_segments", "n_speech")},
                        "adaptation": notes.get(sp, {})}
    return out


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


def iter_results(inputs, model: EmotionModel, options: PredictOptions = DEFAULT_OPTIONS, *, progress: bool = False,
                 speakers=None, turn_options=None, **stream_options):
    """A :class:`FileResult` per input file (and one per input that yields no file), as each is done.

    ``options.adapt`` and ``speakers`` decide how embeddings are adapted: ``none`` (each file on its own,
    its answer independent of the batch), ``speaker`` (statistics per speaker: ``speakers`` is ``"all"``,
    ``"file"``, a ``file,speaker`` CSV or a mapping), ``collection`` (statistics over all inputs) or
    ``auto`` (see :func:`segser.adaptation.policy.plan_for`). ``speakers="auto"`` finds the speakers of each
    recording (``turn_options``: :class:`segser.diarization.turns.TurnOptions`) and adapts to each of them."""
    from segser.adaptation.groups import speaker_groups
    from segser.adaptation.policy import plan_for

    files, errors = expand_inputs(inputs)
    plan = plan_for(model, options.adapt, n_inputs=len(files), speakers=speakers)
    for key, message in errors.items():
        yield FileResult(key, error=message)
    if speakers == "auto":
        for f in progress_bar(files, desc="conversations", enabled=progress, minimum=2):
            try:
                yield predict_conversation(model, f, options, plan=plan, turn_options=turn_options, **stream_options)
            except AudioError as exc:
                yield FileResult(f, error=str(exc))
        return
    if plan.mode == "none":
        for f in progress_bar(files, desc="predict", enabled=progress, minimum=2):
            try:
                yield stream_file(model, f, model.logits, options=options, **stream_options).result(
                    model, options, adaptation=plan.describe())
            except AudioError as exc:
                yield FileResult(f, error=str(exc))
        return
    groups = speaker_groups(files, plan.grouping)
    who = {"file": lambda key: "the recording", "all": lambda key: "the collection"}.get(
        plan.grouping if isinstance(plan.grouping, str) else "", lambda key: f"speaker {key}")
    yield from predict_groups(model, groups, options, plan=plan, who=who, progress=progress, **stream_options)
