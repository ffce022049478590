"""Writing prediction results as they come: JSON, CSV, an Audacity label track, NIST RTTM, a Praat TextGrid,
or a table on the terminal, each from the rows of :mod:`segser.results.rows`.

A file is written to a temporary file opened before any work (so an unwritable place fails at once) and
renamed into place when closed: never half-written. Failed inputs are recorded where the format can say so
(an ``errors`` entry, an ``error`` column, an ``ERROR`` label); a format that describes recordings only (RTTM,
TextGrid) is not written at all when no input succeeded. Writers print nothing about failures: the caller
names each failed input once.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from segser.errors import ConfigError, display_path
from segser.results.rows import cells, csv_text, extra_columns, file_header, segment_rows
from segser.results.timeline import columns
from segser.results.types import NO_SPEECH, FileResult, Turn

FORMATS = (".json", ".csv", ".txt", ".rttm", ".TextGrid", ".srt", ".vtt")


def check_writable(path, what: str) -> None:
    """Fail before any work if ``path`` cannot be written (missing or read-only folder)."""
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{Path(path).name}.")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise ConfigError(f"{display_path(path)}: cannot write the {what} there ({exc.strerror})") from None


class Output:
    """Base: ``add(result)`` per file, ``close()`` at the end (False: nothing was worth writing, no file), or
    ``abort()``."""

    needs_success = False  # a format that describes recordings: no file when every input failed

    def __init__(self, classes, *, model_name: str = "", path=None, several: bool = True):
        self.classes, self.model_name, self.several = list(classes), model_name, several
        self.path = Path(path) if path else None
        if self.path is not None:
            check_writable(self.path, "results")
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            self.tmp = Path(tmp)
            self.out = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace")
        else:
            self.tmp, self.out = None, sys.stdout
        self.n_ok = self.n_failed = self.n_segments = 0
        self.begin()

    def begin(self):
        pass

    def add(self, result: FileResult) -> None:
        if result.ok:
            self.n_ok += 1
            self.n_segments += len(result.segments)
        else:
            self.n_failed += 1
        self.write(result)
        self.out.flush()

    def write(self, result: FileResult) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def end(self):
        pass

    def close(self) -> bool:
        if self.needs_success and not self.n_ok:
            self.abort()
            return False
        self.end()
        if self.tmp is not None:
            self.out.close()
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        else:
            self.out.flush()
        return True

    def abort(self) -> None:
        if self.tmp is not None:
            self.out.close()
            self.tmp.unlink(missing_ok=True)


class JSONOutput(Output):
    """``{"model", "classes", "files": [...], "errors": {file: message}}``; each file has its ``decision``,
    ``adaptation`` (what was adapted, with how much speech), ``turns`` and ``speakers`` when speakers were found,
    and ``segments``, written one by one."""

    def begin(self):
        self.out.write(json.dumps({"model": self.model_name, "classes": self.classes})[:-1] + ', "files": [')
        self.first, self.errors = True, {}

    def write(self, result):
        if not result.ok:
            self.errors[display_path(result.file)] = result.error
            return
        head = json.dumps(file_header(result))[:-1]
        self.out.write(("\n" if self.first else ",\n") + head + ', "segments": [')
        for i, row in enumerate(segment_rows(result)):
            self.out.write(("" if i == 0 else ", ") + json.dumps(row))
        self.out.write("]}")
        self.first = False

    def end(self):
        self.out.write('\n], "errors": ' + json.dumps(self.errors) + "}\n")


class CSVOutput(Output):
    """One row per segment with its file's clip label and adaptation; a failed file is one row with ``error``."""

    def begin(self):
        self.columns = ["file"] + columns(self.classes, ("speaker", "text")) + ["clip_label", "adaptation", "error"]
        self.out.write(",".join(self.columns) + "\n")

    def write(self, result):
        name = csv_text(display_path(result.file))
        if not result.ok:
            self.out.write(name + "," * (len(self.columns) - 2) + "," + csv_text(result.error) + "\n")
            return
        clip = csv_text(result.decision.label)
        adapt = csv_text(result.adaptation.label if result.adaptation is not None else "")
        for row in segment_rows(result):
            self.out.write(",".join([name, *cells(row, self.classes, ("speaker", "text")), clip, adapt, ""]) + "\n")


class LabelTrackOutput(Output):
    """Audacity label track: ``start<TAB>end<TAB>label score`` per segment (with the file name when there are
    several files, the speaker when speakers were found); a failed file is an ``ERROR`` label at 0."""

    def write(self, result):
        prefix = f"{Path(display_path(result.file)).name}: " if self.several else ""
        if not result.ok:
            self.out.write(f"0.000\t0.000\tERROR {prefix}{result.error}\n")
            return
        for r in segment_rows(result):
            who = f"{r['speaker']} " if r.get("speaker") not in (None, "-") else ""
            score = "" if r["score"] is None else f" {r['score']:.2f}"
            self.out.write(f"{r['start']:.3f}\t{r['end']:.3f}\t{prefix}{who}{r['label']}{score}\n")


class TableOutput(Output):
    """The terminal table: segments (or, with words, a transcript: a line per utterance with its speaker, emotion
    and text) and the clip decision per file (failures are named by the caller)."""

    def write(self, result):
        if not result.ok:
            return
        d, classes = result.decision, self.classes
        w = self.out.write
        extra = extra_columns(result)
        who, text = "speaker" in extra, "text" in extra
        rows = "utterances" if text and result.segments is not None and d.n_segments != len(result.segments) else "segments"
        w(f"== {display_path(result.file)}  ({d.duration:.2f} s, {len(result.segments)} {rows})\n")
        head = f"   {'start':>7} {'end':>7}  " + ("speaker " if who else "") + f"{'emotion':<9} score"
        w(head + ("   text" if text else "   " + " ".join(f"{c[:7]:>7}" for c in classes)) + "\n")
        for r in segment_rows(result):
            line = f"   {r['start']:7.2f} {r['end']:7.2f}  " + (f"{r['speaker']:<7} " if who else "") + f"{r['label']:<9}"
            score = "     " if r["score"] is None else f" {r['score']:.2f}"
            if text:
                w(f"{line}{score}   {r['text']}\n")
            elif r["score"] is None:  # no speech: no emotion
                w(f"{line}\n")
            else:
                w(f"{line}{score}    " + " ".join(f"{r['p_' + c]:7.2f}" for c in classes) + "\n")
        for sp, summary in (result.speakers or {}).items():
            share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(summary.share.items(), key=lambda kv: -kv[1]))
            w(f"   speaker {sp}: {summary.speech_seconds:.1f} s of speech, {summary.decision.label}"
              + (f" ({share})" if share else "") + "\n")
        score = f"score {d.score:.2f}, " if d.score == d.score else ""
        adapted = result.adaptation.label if result.adaptation is not None else "none"
        adapted = "" if adapted == "none" else f", adapted: {adapted}"
        w(f"   clip: {d.label} ({score}rule {d.rule}{adapted})" + (f"  [{d.notes}]" if d.notes else "") + "\n")


class RTTMOutput(Output):
    """NIST RTTM: one ``SPEAKER`` line per speaker turn (``--speakers auto``), the format diarization tools read."""

    needs_success = True

    def write(self, result):
        if not result.ok:
            return
        if result.turns is None:
            raise ConfigError(f"{display_path(self.path)}: RTTM holds speaker turns; predict with --speakers auto")
        for line in rttm_lines(result.turns, Path(display_path(result.file)).stem):
            self.out.write(line + "\n")


class TextGridOutput(Output):
    """Praat TextGrid (long format) of one recording: an interval tier of emotions per speaker (one tier
    ``emotion`` without speakers), with found speakers a tier of their turns, and with words a tier of utterances
    (speaker, emotion and text) and one of words."""

    needs_success = True

    def write(self, result):
        if not result.ok:
            return
        if self.n_ok > 1:
            raise ConfigError(f"{display_path(self.path)}: a TextGrid describes one recording; give one input")
        seg = result.segments
        end = float(max(seg["end"].max(), result.decision.duration))
        tiers = []
        groups = seg.groupby("speaker", sort=False) if "speaker" in seg else [("emotion", seg)]
        for name, rows in groups:
            tiers.append((f"{name}" if name == "emotion" else f"emotion {name}",
                          [(a, b, "" if label == NO_SPEECH else label)
                           for a, b, label in zip(rows["start"], rows["end"], rows["label"])]))
        if result.turns:
            tiers.append(("speakers", [(t.start, t.end, t.speaker + (" (overlap)" if t.overlap else ""))
                                       for t in result.turns]))
        if result.words is not None:
            if "text" in seg:
                tiers.append(("utterances", [(a, b, f"{caption(sp, label, score)}{text}") for a, b, sp, label, score, text in
                                             zip(seg["start"], seg["end"], seg.get("speaker", [None] * len(seg)),
                                                 seg["label"], seg["score"], seg["text"]) if text]))
            tiers.append(("words", _spaced([(w.start, w.end, w.text) for w in result.words], end)))
        self.out.write(textgrid(tiers, end))


class CaptionOutput(Output):
    """Captions of one recording's rows that have words, so a video player shows who felt what: SubRip (``.srt``)
    or WebVTT (``.vtt``), each cue ``S1 (angry 0.82): text``."""

    needs_success = True

    def __init__(self, classes, *, vtt: bool, **kwargs):
        self.vtt = vtt
        super().__init__(classes, **kwargs)

    def begin(self):
        if self.vtt:
            self.out.write("WEBVTT\n\n")

    def write(self, result):
        if not result.ok:
            return
        if self.n_ok > 1:
            raise ConfigError(f"{display_path(self.path)}: captions describe one recording; give one input")
        if "text" not in extra_columns(result):
            raise ConfigError(f"{display_path(self.path)}: captions hold the words said; predict with --transcribe")
        n = 0
        for r in segment_rows(result):
            if not r["text"]:
                continue
            n += 1
            cue = f"{caption(r.get('speaker'), r['label'], r['score'])}{r['text']}"
            times = f"{_timestamp(r['start'], self.vtt)} --> {_timestamp(r['end'], self.vtt)}"
            self.out.write(f"{times}\n{cue}\n\n" if self.vtt else f"{n}\n{times}\n{cue}\n\n")


def caption(speaker, label, score) -> str:
    """``S1 (angry 0.82): `` (the speaker when known, the emotion and its score when there is one)."""
    emotion = label if score is None or score != score else f"{label} {score:.2f}"
    return f"{speaker + ' ' if speaker not in (None, '-') else ''}({emotion}): "


def _timestamp(seconds: float, vtt: bool) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{'.' if vtt else ','}{ms:03d}"


def textgrid(tiers: list[tuple[str, list]], end: float) -> str:
    """Praat's long TextGrid text: interval tiers, gaps filled with empty intervals, overlaps cut at the next start."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {end:.3f}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for k, (name, intervals) in enumerate(tiers, start=1):
        filled, t = [], 0.0
        for a, b, text in sorted(intervals):
            a = max(a, t)
            if b <= a:
                continue
            if a > t:
                filled.append((t, a, ""))
            filled.append((a, min(b, end), text))
            t = min(b, end)
        if t < end:
            filled.append((t, end, ""))
        lines += [f"    item [{k}]:", '        class = "IntervalTier"', f'        name = "{_praat(name)}"', "        xmin = 0",
                  f"        xmax = {end:.3f}", f"        intervals: size = {len(filled)}"]
        for i, (a, b, text) in enumerate(filled, start=1):
            lines += [f"        intervals [{i}]:", f"            xmin = {a:.3f}", f"            xmax = {b:.3f}",
                      f'            text = "{_praat(text)}"']
    return "\n".join(lines) + "\n"


def _spaced(intervals: list, end: float, least: float = 0.01) -> list:
    """Intervals that each keep at least ``least`` seconds (the recogniser gives some words no duration, or the
    time of the word before), so every word has an interval of its own."""
    out, t = [], 0.0
    for a, b, text in sorted(intervals):
        a = max(a, t)
        b = min(max(b, a + least), end)
        if b > a:
            out.append((a, b, text))
            t = b
    return out


def _praat(text: str) -> str:
    return str(text).replace('"', '""')


def rttm_lines(turns: list[Turn], file_id: str) -> list[str]:
    """NIST RTTM ``SPEAKER`` lines (one per turn; an overlap-marked turn keeps its most likely speaker)."""
    file_id = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in file_id) or "recording"
    return [f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>" for t in turns]


def output_for(path, classes, *, model_name: str = "", several: bool) -> Output:
    suffix = Path(path).suffix.lower()
    kinds = {".json": JSONOutput, ".csv": CSVOutput, ".txt": LabelTrackOutput, ".rttm": RTTMOutput,
             ".textgrid": TextGridOutput}
    if suffix not in kinds and suffix not in (".srt", ".vtt"):
        raise ConfigError(f"{display_path(path)}: unknown output format {suffix!r}; use {', '.join(FORMATS)} "
                          "(.txt: Audacity labels)")
    if suffix in (".textgrid", ".srt", ".vtt") and several:
        raise ConfigError(f"{display_path(path)}: {'a TextGrid' if suffix == '.textgrid' else 'captions'} describe one "
                          "recording; give one input")
    if suffix in (".srt", ".vtt"):
        return CaptionOutput(classes, vtt=suffix == ".vtt", model_name=model_name, path=path, several=several)
    return kinds[suffix](classes, model_name=model_name, path=path, several=several)
