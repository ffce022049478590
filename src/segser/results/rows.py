"""One way to turn results into rows, for every writer and table: a segment row (:func:`segment_rows`), its
text cells for CSV-like files (:func:`cells`), a file's JSON entry (:func:`file_header`, then its segments one
by one), a decision row (:func:`decision_row`) and the two tables of the Python API and Ray
(:func:`results_frame`: a timeline indexed by (file, start, end) and decisions indexed by file).
"""
from __future__ import annotations

import pandas as pd

from segser.errors import display_path
from segser.results.timeline import columns
from segser.results.types import FileResult, plain

OPTIONAL = ("speaker", "text")  # columns a timeline has when speakers were found or words transcribed


def extra_columns(result: FileResult) -> list[str]:
    return [c for c in OPTIONAL if result.segments is not None and c in result.segments]


def segment_rows(result: FileResult):
    """A dict per segment with plain values (NaN as None): the timeline's columns, then speaker and text."""
    seg = result.segments
    names = list(seg.columns)
    for values in seg.itertuples(index=False, name=None):
        yield {k: plain(v) for k, v in zip(names, values)}


def cells(row: dict, classes, extra=()) -> list[str]:
    """A segment row as CSV text cells, in :func:`~segser.results.timeline.columns` order: times to the
    millisecond, scores to 4 decimals, nothing where there is no value."""
    def number(x, digits):
        return "" if x is None or x != x else f"{x:.{digits}f}"
    out = [number(row["start"], 3), number(row["end"], 3), csv_text(row["label"]), number(row["score"], 4),
           number(row["speech"], 3)] + [number(row[f"p_{c}"], 4) for c in classes]
    return out + [csv_text(row.get(k) if row.get(k) is not None else "") for k in extra]


def csv_text(text) -> str:
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n\r') else text


def file_header(result: FileResult, *, name: str | None = None) -> dict:
    """One file's JSON entry without its segments: decision, adaptation, turns and speakers; or its error."""
    name = display_path(name or result.file)
    if not result.ok:
        return {"file": name, "error": result.error}
    out = {"file": name, "decision": result.decision.as_dict()}
    if result.adaptation is not None:
        out["adaptation"] = result.adaptation.as_dict()
    if result.turns is not None:
        out["turns"] = [t.as_dict() for t in result.turns]
        out["speakers"] = {sp: s.as_dict() for sp, s in (result.speakers or {}).items()}
    if result.words is not None:
        out["language"] = result.language
        out["words"] = [w.as_dict() for w in result.words]
    return out


def file_json(result: FileResult, *, name: str | None = None) -> dict:
    """One file's whole JSON entry (the service's answer, ``segser predict --json``)."""
    out = file_header(result, name=name)
    if result.ok:
        out["segments"] = list(segment_rows(result))
    return out


def decision_row(result: FileResult) -> dict:
    """One row of a decisions table: the decision, then the adaptation as ``adapt_*`` columns."""
    adaptation = result.adaptation.as_dict() if result.adaptation is not None else {}
    return {"file": result.file, **result.decision.as_dict(), **{f"adapt_{k}": v for k, v in adaptation.items()}}


def results_frame(results, classes) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """``(timeline, decisions, errors)`` of :class:`FileResult` s: the timeline indexed by (file, start, end) with
    the speaker and text columns whenever any file has them, the decisions indexed by file, the failed inputs
    with their messages."""
    timelines, decisions, errors, extra = [], [], {}, []
    for r in results:
        if not r.ok:
            errors[r.file] = r.error
            continue
        extra += [c for c in extra_columns(r) if c not in extra]
        timelines.append(r.segments.assign(file=r.file))
        decisions.append(decision_row(r))
    cols = ["file"] + columns(classes, extra)
    timeline = pd.concat(timelines, ignore_index=True).reindex(columns=cols) if timelines else pd.DataFrame(columns=cols)
    dec = pd.DataFrame(decisions) if decisions else pd.DataFrame(columns=["file", "label", "score", "rule", "n_segments",
                                                                          "n_speech", "duration", "notes"]
                                                                 + [f"p_{c}" for c in classes])
    return timeline.set_index(["file", "start", "end"]), dec.set_index("file"), errors
