"""Give a built-in model its mood check (speakers.MoodCheck, the guard of adaptation where no collection
exists: a speaker's group alone, a live stream): the emotion directions of the speakers it trained on, and the
coefficients benchmarks/adaptation.py fitted on the leave-one-corpus-out groups of the licensed corpora.

    python benchmarks/adaptation.py --draws 3 [--labels shared6]
    python recipes/default/mood_check.py default-4class [live-4class default ...]

The coefficients come from the benchmark of the model's label set (adaptation.json for 4class,
adaptation-shared6.json for the six classes of ``default``) unless ``--results`` names a file.

Writes src/segser/models/<name>/mood.npz.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from segser.adaptation.mood import MOOD_CHECK_FILE, MoodCheck
from segser.model import load_torch_model, resolve_model_dir
from segser.training.adaptation_fit import emotion_directions
from segser.training.labels import LABEL_SETS
from segser.training.train import shipped_training_set

ROOT = Path(__file__).resolve().parents[2]

ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="+")
ap.add_argument("--results", type=Path, help="benchmarks/adaptation.py's result file (default: the model's label set's)")
args = ap.parse_args()


def results_for(classes) -> Path:
    label_set = next((k for k, (kept, _) in LABEL_SETS.items() if kept and list(kept) == list(classes)), None)
    if label_set not in ("4class", "shared6"):
        raise SystemExit(f"classes {list(classes)}: benchmarks/adaptation.py has no label set for them")
    return ROOT / "benchmarks" / "results" / ("adaptation.json" if label_set == "4class" else f"adaptation-{label_set}.json")


for name in args.models:
    d, _ = resolve_model_dir(name)
    model = load_torch_model(d, name)
    results = args.results or results_for(model.classes)
    try:
        coef = np.array(json.loads(results.read_text())["figures"]["mood_check"]["coef"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{results}: no mood check coefficients ({type(exc).__name__}: {exc}); run "
                         "benchmarks/adaptation.py first") from None
    if model.reference is None or model.speaker_norm:
        raise SystemExit(f"{name}: its head takes no reference-standardised input; no mood check applies")
    manifest, emb, y, speakers = shipped_training_set(model)
    voiced = emb.speech >= model.speech_gate
    Z = (emb.X[voiced] - model.reference[0]) / model.reference[1]
    check = MoodCheck(emotion_directions(Z, y[voiced], speakers[voiced], len(model.classes)), coef)
    check.save(d / MOOD_CHECK_FILE)
    print(f"{name}: {check.directions.shape[1]} emotion directions from {int(voiced.sum())} voiced segments of "
          f"{manifest['speaker'].nunique()} speakers; coef {coef.round(3).tolist()} ({results.name}) -> {d / MOOD_CHECK_FILE}")
