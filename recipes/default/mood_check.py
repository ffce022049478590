"""Give a built-in model its mood check (speakers.MoodCheck, the guard of adaptation where no collection
exists: a speaker's group alone, a live stream): the emotion directions of the speakers it trained on, and the
coefficients benchmarks/adaptation.py fitted on the leave-one-corpus-out groups of the licensed corpora.

    python benchmarks/adaptation.py --draws 3
    python recipes/default/mood_check.py default-4class [live-4class ...]

Writes src/segser/models/<name>/mood.npz.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from segser import corpora, labels
from segser.embedding import embed_manifest
from segser.model import load_torch_model, resolve_model_dir
from segser.settings import data_dir
from segser.speakers import MOOD_CHECK_FILE, MoodCheck, emotion_directions

ROOT = Path(__file__).resolve().parents[2]

ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="+")
ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "adaptation.json")
args = ap.parse_args()
coef = np.array(json.loads(args.results.read_text())["figures"]["mood_check"]["coef"])
for name in args.models:
    d, _ = resolve_model_dir(name)
    model = load_torch_model(d, name)
    if model.reference is None or model.speaker_norm:
        raise SystemExit(f"{name}: its head takes no reference-standardised input; no mood check applies")
    config = json.loads((d / "config.json").read_text())
    frames = []
    for c in config["corpora"]:
        m, _ = labels.apply(corpora.load(c["name"], data_dir() / c["name"], **c.get("options", {})), config["labels"])
        frames.append(m)
    manifest = pd.concat(frames, ignore_index=True)
    emb = embed_manifest(manifest, model.encoder, model.segmentation)
    voiced = emb.speech >= model.speech_gate
    y = np.array([model.classes.index(v) for v in manifest["label"].to_numpy()[emb.clip]])
    speakers = (manifest["corpus"].astype(str) + ":" + manifest["speaker"].astype(str)).to_numpy()[emb.clip]
    Z = (emb.X[voiced] - model.reference[0]) / model.reference[1]
    check = MoodCheck(emotion_directions(Z, y[voiced], speakers[voiced], len(model.classes)), coef)
    check.save(d / MOOD_CHECK_FILE)
    print(f"{name}: {check.directions.shape[1]} emotion directions from {int(voiced.sum())} voiced segments of "
          f"{manifest['speaker'].nunique()} speakers; coef {coef.round(3).tolist()} -> {d / MOOD_CHECK_FILE}")
