"""Diarization error rate of found turns against a reference, with ``pyannote.metrics`` (the ``test`` extra):
what the conversations benchmark reports and the tests check.

>>> der(read_rttm("sample.rttm"), turns.turns)["collar_0.25"]  # doctest: +SKIP
0.088
"""
from __future__ import annotations

import warnings
from pathlib import Path

from segser.results.types import Turn


def read_rttm(path) -> list[tuple[float, float, str]]:
    """``(start, end, speaker)`` of each ``SPEAKER`` line of an RTTM file."""
    out = []
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def der(reference, hypothesis: list[Turn]) -> dict[str, float]:
    """DER of ``hypothesis`` turns against ``reference`` ``(start, end, speaker, ...)`` tuples: with a 0.25 s collar
    and overlap skipped (``collar_0.25``, the usual figure), without a collar, and with overlap counted."""
    from pyannote.core import Annotation, Segment  # the test extra
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, (a, b, sp, *_) in enumerate(reference):
        ref[Segment(a, b), i] = sp
    for i, t in enumerate(hypothesis):
        hyp[Segment(t.start, t.end), i] = t.speaker
    with warnings.catch_warnings():  # the scored extent is the union of both, as pyannote says each time
        warnings.simplefilter("ignore", UserWarning)
        return {"collar_0.25": DiarizationErrorRate(collar=0.25, skip_overlap=True)(ref, hyp),
                "no_collar": DiarizationErrorRate(collar=0.0, skip_overlap=True)(ref, hyp),
                "with_overlap": DiarizationErrorRate(collar=0.25, skip_overlap=False)(ref, hyp)}
