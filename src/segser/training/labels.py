"""Canonical emotion names across corpora, and label sets (subsets or mappings)."""
from __future__ import annotations

import pandas as pd

from segser.errors import LabelError

CANONICAL = ("angry", "happy", "sad", "neutral", "fear", "disgust", "surprise", "calm", "boredom",
             "excited", "frustrated", "other")

# name -> (kept classes in order, mapping applied first)
LABEL_SETS: dict[str, tuple[tuple[str, ...] | None, dict[str, str]]] = {
    "all": (None, {}),
    # Paper 001: IEMOCAP 4 classes, excited merged into happy.
    "4class": (("angry", "happy", "neutral", "sad"), {"excited": "happy"}),
    # Classes shared by EmoDB and RAVDESS (and CREMA-D, TESS, SAVEE).
    "shared6": (("angry", "disgust", "fear", "happy", "neutral", "sad"), {}),
    # Paper 002 improvised IEMOCAP subsets.
    "AHSN": (("angry", "happy", "neutral", "sad"), {}),
    "AESN": (("angry", "excited", "neutral", "sad"), {}),
}




def parse(spec: str | None) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """A label-set spec: a name from :data:`LABEL_SETS`, or a comma list of
    classes with optional ``from=to`` mappings, e.g. ``"angry,happy,sad,neutral,excited=happy"``."""
    if spec is None or spec == "":
        return LABEL_SETS["all"]
    if spec in LABEL_SETS:
        return LABEL_SETS[spec]
    keep, mapping = [], {}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if "=" in item:
            a, b = (t.strip() for t in item.split("=", 1))
            mapping[a] = b
        else:
            keep.append(item)
    for name in list(keep) + list(mapping) + list(mapping.values()):
        if name not in CANONICAL:
            raise LabelError(f"unknown label {name!r} in label set {spec!r}; canonical labels: {', '.join(CANONICAL)}")
    return (tuple(keep) if keep else None), mapping


def apply(manifest: pd.DataFrame, spec: str | None, *, require_all: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Map and filter a manifest's ``label`` column; returns (manifest, classes).
    ``require_all``: every class of the set must occur in the data (training);
    otherwise the classes present are kept (evaluation on a corpus that lacks some)."""
    keep, mapping = parse(spec)
    df = manifest.copy()
    df["label"] = df["label"].replace(mapping)
    if keep is not None:
        absent = [k for k in keep if k not in set(df["label"])]
        if len(absent) == len(keep):
            raise LabelError(f"none of the classes {', '.join(keep)} occur in the data (labels: "
                             f"{', '.join(sorted(set(df['label'])))})")
        if require_all and absent:
            raise LabelError(f"the label set {spec!r} asks for {', '.join(absent)}, which the data does not have "
                             f"(labels: {', '.join(sorted(set(df['label'])))}); leave them out of the label set")
        df = df[df["label"].isin(keep)]
        classes = [k for k in keep if k in set(df["label"])]
    else:
        classes = sorted(set(df["label"]))
    return df.reset_index(drop=True), classes
