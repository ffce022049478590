"""Running a trained model on recordings: an emotion timeline (one row per
segment) and a clip decision per file.

>>> import segser
>>> timeline, decisions, errors = segser.predict(["speech.wav"])  # doctest: +SKIP
>>> timeline.loc["speech.wav"]                                     # doctest: +SKIP

``timeline`` is indexed by (file, start, end) like audinterface; ``decisions``
by file. Files are streamed in blocks through the same engine that live
streams and training use, so memory does not grow with length and the
timeline equals what a live stream of the same audio gives.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .aggregate import RULES, TIE, clip_label, clip_scores
from .audio import AUDIO_SUFFIXES, FileStream, find_audio
from .errors import AudioError, ConfigError, SegserError, display_path
from .model import EmotionModel, load_model
from .segmenters import MAX_SEGMENTS_PER_FILE, Segmentation, SpeechRegions

UNCERTAIN = "uncertain"


class Cancelled(SegserError):
    """The caller gave up on this file (e.g. a disconnected client)."""


@dataclass
class FileResult:
    """One input's outcome: its timeline and decision, or the error that stopped it."""

    file: str
    segments: pd.DataFrame | None = None  # start, end, label, score, p_<class>...
    decision: dict = field(default_factory=dict)  # label, score, rule, n_segments, duration, notes, p_<class>...
    error: str | None = None
    envelope: tuple | None = field(default=None, repr=False)  # (times, min, max) of the waveform, for plots

    @property
    def ok(self) -> bool:
        return self.error is None


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


def timeline_frame(rows, logits: np.ndarray, model: EmotionModel, duration: float, *, min_score: float = 0.0) -> pd.DataFrame:
    """(start, end, label, score, p_*) per segment; ``label`` is ``uncertain``
    where the top probability is below ``min_score``."""
    probs = model.probabilities(logits)
    classes = model.classes
    t = pd.DataFrame({"start": [round(s, 3) for s, _ in rows], "end": [round(min(e, duration), 3) for _, e in rows]})
    best = probs.argmax(1)
    t["score"] = probs.max(1)
    t.insert(2, "label", [classes[k] if p >= min_score else UNCERTAIN for k, p in zip(best, t["score"])])
    for i, c in enumerate(classes):
        t[f"p_{c}"] = probs[:, i]
    return t


def clip_decision(logits: np.ndarray, model: EmotionModel, *, rule: str, duration: float, notes, min_score: float = 0.0) -> dict:
    scores = clip_scores(np.asarray(logits) / model.temperature)
    label = clip_label(logits, model.classes, rule)
    score = float(scores[model.classes.index(label)]) if label != TIE else float("nan")
    if label != TIE and score < min_score:
        label = UNCERTAIN
    out = {"label": label, "score": score, "rule": rule, "n_segments": int(len(logits)), "duration": round(duration, 3),
           "notes": "; ".join(notes)}
    out.update({f"p_{c}": float(s) for c, s in zip(model.classes, scores)})
    return out


def predict_file(model: EmotionModel, path, *, rule: str = "mean_logits", segmentation: Segmentation | None = None,
                 max_seconds: float | None = None, segment_limit: int = MAX_SEGMENTS_PER_FILE, min_score: float = 0.0,
                 envelope: bool = False, cancelled=None, compute=None) -> FileResult:
    """Timeline and clip decision of one file, streamed in blocks; raises
    :class:`AudioError` for a file that cannot be used. ``segmentation``
    overrides the model's for this call; ``cancelled()`` is polled between blocks;
    ``compute(fn)`` runs each block's model work (the service queues it on one
    compute thread, so concurrent requests advance block by block in turn)."""
    model.require_no_speaker_statistics("predicting one recording at a time")
    check_rule(rule)
    streamed = stream_file(model, path, model.logits, segmentation=segmentation, max_seconds=max_seconds,
                           segment_limit=segment_limit, envelope=envelope, cancelled=cancelled, compute=compute)
    return streamed.result(model, rule=rule, min_score=min_score)


def check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ConfigError(f"unknown aggregation rule {rule!r}; available: {', '.join(RULES)}")


@dataclass
class Streamed:
    """One file passed through the encoder: segment spans and, per segment, what
    ``per_block`` made of the embeddings (logits, or the embeddings themselves)."""

    file: str
    spans: list
    values: np.ndarray
    duration: float
    notes: list
    envelope: tuple | None

    def result(self, model: EmotionModel, *, rule: str, min_score: float, logits: np.ndarray | None = None) -> FileResult:
        lg = self.values if logits is None else logits
        r = FileResult(self.file, timeline_frame(self.spans, lg, model, self.duration, min_score=min_score),
                       clip_decision(lg, model, rule=rule, duration=self.duration, notes=self.notes, min_score=min_score))
        r.envelope = self.envelope
        return r


def stream_file(model: EmotionModel, path, per_block, *, segmentation: Segmentation | None = None,
                max_seconds: float | None = None, segment_limit: int = MAX_SEGMENTS_PER_FILE, envelope: bool = False,
                cancelled=None, compute=None) -> Streamed:
    """Stream one file in blocks through the model's encoder; ``per_block(X)`` of each block's segment embeddings."""
    seg = segmentation or model.segmentation
    window = model.encoder.window_seconds
    stream = FileStream(str(path), model.sample_rate, block_seconds=window * 8 if window else 30.0, max_seconds=max_seconds)
    seg.check_duration(stream.duration, path, limit=segment_limit)
    embedder = model.embedder(seg)
    env = Envelope(int(stream.duration * model.sample_rate), model.sample_rate) if envelope else None
    spans, values = [], []

    def step(block=None):
        rows = embedder.push(block) if block is not None else embedder.finish()
        if rows:
            spans.extend((s, e) for s, e, _ in rows)
            values.append(per_block(np.stack([r[2] for r in rows])))

    run = compute or (lambda fn: fn())

    for i, block in enumerate(stream):
        if cancelled is not None and cancelled():
            raise Cancelled(f"{display_path(path)}: cancelled")
        if env is not None:
            env.add(block)
        run(partial(step, block))
        if i % 8 == 7:
            trim_heap()
    run(step)
    if not spans:
        raise AudioError(path, "no speech segments found" if isinstance(seg.segmenter(), SpeechRegions)
                         else "too short for one segment")
    return Streamed(str(path), spans, np.concatenate(values), stream.duration, stream.notes,
                    env.arrays() if env is not None else None)


def _float32(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float32)


def _bounded(stream_options: dict) -> dict:
    """Speaker normalisation holds a speaker's embeddings until their statistics are known: no single
    file may give more segments than a whole speaker may (refused from its duration, before any work)."""
    from .speakers import MAX_SPEAKER_SEGMENTS

    limit = min(stream_options.get("segment_limit", MAX_SEGMENTS_PER_FILE), MAX_SPEAKER_SEGMENTS)
    return {**stream_options, "segment_limit": limit}


def _too_few_segments(speaker: str, n: int) -> str:
    from .speakers import MIN_SPEAKER_SEGMENTS

    return (f"{speaker} has {n} segments of usable audio; speaker normalisation needs at least {MIN_SPEAKER_SEGMENTS} "
            "(more speech of this speaker, or a shorter hop)")


def _normalised_results(model: EmotionModel, streamed: list[Streamed], *, rule: str, min_score: float) -> list[FileResult]:
    """One speaker's streamed files, classified after standardising with the statistics of all their segments."""
    from .speakers import speaker_statistics

    mean, std = speaker_statistics(np.concatenate([s.values for s in streamed]))
    return [s.result(model, rule=rule, min_score=min_score, logits=model.logits((s.values - mean) / std)) for s in streamed]


def predict_recording(model: EmotionModel, path, *, rule: str = "mean_logits", min_score: float = 0.0,
                      **stream_options) -> FileResult:
    """One recording, as :func:`predict_file`; a speaker-normalised model takes the
    recording as its own speaker (``--speakers file``) and raises :class:`AudioError`
    when it holds too few segments for the statistics."""
    from .speakers import MIN_SPEAKER_SEGMENTS

    if not model.speaker_norm:
        return predict_file(model, path, rule=rule, min_score=min_score, **stream_options)
    check_rule(rule)
    s = stream_file(model, path, _float32, **_bounded(stream_options))
    if len(s.spans) < MIN_SPEAKER_SEGMENTS:
        raise AudioError(path, _too_few_segments("the recording", len(s.spans)))
    return _normalised_results(model, [s], rule=rule, min_score=min_score)[0]


def predict_speaker(model: EmotionModel, files: list[str], who: str, *, rule: str = "mean_logits",
                    min_score: float = 0.0, **stream_options):
    """Results of one speaker's files for a speaker-normalised model: every file's
    segment embeddings, standardised with the statistics of all of them. ``who``
    names the speaker in messages ("speaker 03", "the recording")."""
    from .speakers import MAX_SPEAKER_SEGMENTS, MIN_SPEAKER_SEGMENTS

    streamed, failed, n = [], [], 0
    stream_options = _bounded(stream_options)
    for f in files:
        try:
            s = stream_file(model, f, _float32, **stream_options)
        except AudioError as exc:
            failed.append(FileResult(f, error=str(exc)))
            continue
        n += len(s.spans)
        streamed.append(s)
        if n > MAX_SPEAKER_SEGMENTS:  # this speaker fails whole; the other speakers go on
            del streamed
            for g in files:
                yield FileResult(g, error=f"{display_path(g)}: {who} has more than {MAX_SPEAKER_SEGMENTS} "
                                          "segments; split their recordings into several speakers (a speaker table) "
                                          "or use a longer hop")
            return
    yield from failed
    if not streamed:
        return
    if n < MIN_SPEAKER_SEGMENTS:
        for s in streamed:
            yield FileResult(s.file, error=f"{display_path(s.file)}: {_too_few_segments(who, n)}")
        return
    yield from _normalised_results(model, streamed, rule=rule, min_score=min_score)


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


def iter_results(inputs, model: EmotionModel, *, progress: bool = False, speakers=None, rule: str = "mean_logits",
                 min_score: float = 0.0, **options):
    """A :class:`FileResult` per input file (and one per input that yields no
    file), as each is done. ``speakers`` (for a model trained with speaker
    normalisation): ``"all"``, ``"file"``, a ``file,speaker`` CSV or a mapping,
    see :mod:`segser.speakers`; files are then taken speaker by speaker."""
    check_rule(rule)
    files, errors = expand_inputs(inputs)
    if model.speaker_norm:
        from .speakers import speaker_groups

        if speakers is None:
            model.require_no_speaker_statistics("without the speakers of the inputs")
        groups = speaker_groups(files, speakers)
    elif speakers is not None:
        raise ConfigError(f"{model.name}: speakers are for models trained with speaker normalisation; this one "
                          "predicts each recording on its own")
    for key, message in errors.items():
        yield FileResult(key, error=message)
    if model.speaker_norm:
        for speaker, group in tqdm(groups.items(), desc="speakers", disable=not progress or len(groups) < 2):
            who = "the recording" if speakers == "file" else f"speaker {speaker}"
            yield from predict_speaker(model, group, who, rule=rule, min_score=min_score, **options)
        return
    for f in tqdm(files, desc="predict", disable=not progress or len(files) < 2):
        try:
            yield predict_file(model, f, rule=rule, min_score=min_score, **options)
        except AudioError as exc:
            yield FileResult(f, error=str(exc))


def predict(inputs, model=None, *, rule: str = "mean_logits", progress: bool = False,
            segmentation: Segmentation | None = None, runtime: str = "auto", precision: str = "auto",
            min_score: float = 0.0, speakers=None):
    """Predict every audio file in ``inputs`` (files and/or directories).

    ``speakers``: for a model trained with speaker normalisation, which inputs
    share a speaker (see :func:`iter_results`).

    Returns ``(timeline, decisions, errors)``: timeline indexed by
    (file, start, end), decisions by file, errors a {input: message} dict for
    inputs that could not be processed (the others still are).
    """
    m = load_model(model, runtime=runtime, precision=precision)
    timelines, decisions, errors = [], [], {}
    for r in iter_results(inputs, m, progress=progress, rule=rule, segmentation=segmentation, min_score=min_score,
                          speakers=speakers):
        if not r.ok:
            errors[r.file] = r.error
            continue
        timelines.append(r.segments.assign(file=r.file))
        decisions.append({"file": r.file, **r.decision})
    cols = ["file", "start", "end", "label", "score"] + [f"p_{c}" for c in m.classes]
    timeline = (pd.concat(timelines, ignore_index=True)[cols] if timelines else pd.DataFrame(columns=cols)).set_index(
        ["file", "start", "end"])
    dec = pd.DataFrame(decisions, columns=["file", "label", "score", "rule", "n_segments", "duration", "notes"]
                       + [f"p_{c}" for c in m.classes]).set_index("file")
    return timeline, dec, errors


def plain(value):
    """JSON-safe scalar: numpy types to Python, NaN to None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def file_json(result: FileResult, *, name: str | None = None) -> dict:
    """One file's entry of the JSON output: its decision and segments, or its error."""
    name = display_path(name or result.file)
    if not result.ok:
        return {"file": name, "error": result.error}
    return {"file": name, "decision": {k: plain(v) for k, v in result.decision.items()},
            "segments": [{k: plain(v) for k, v in r.items()} for r in result.segments.to_dict("records")]}
