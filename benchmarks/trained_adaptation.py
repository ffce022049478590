"""A model you train yourself: is `--adapt auto` safe on speech it never heard?

`segser train` fits, beside the final model, a mood check (its emotion directions from the training speakers,
its coefficients from the folds' test speakers: each as a mix, and their clips of each emotion as one mood) and
adaptation heads. This runs the built-in recipe (recipes/default/default-4class.json: EmoDB, RAVDESS and nEMO,
speaker 5-fold; the run is trained once into --run if missing) on the corpora it never trained on (EMOVO, ASED,
SAVEE, TESS) through predict's own adaptation code (segser.adaptation.policy: plan_for, adapt_rows) under four
cases: speakers given (mixed, and each speaker keeping one emotion), one voice alone (a speaker's clips as the
only input, mixed or one emotion) and a folder (every clip, no speakers; mixed, or all clips of one emotion).
Compared: no adaptation; the run without its companions (the guard by the dominant share alone, what a trained
run had before); the mood check alone; the mood check and the adaptation heads (what `segser train` writes); and
the built-in default-4class, the same recipe whose companions were fitted on the leave-one-corpus-out benchmark.

    python benchmarks/trained_adaptation.py [--run runs/trained-4class] [--draws 3]

Writes benchmarks/results/trained-adaptation.json.
"""
import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptation import load_all, one_emotion_subsets  # noqa: E402
from common import save  # noqa: E402

from segser.adaptation.policy import adapt_rows, plan_for  # noqa: E402
from segser.model import load_torch_model, resolve_model_dir  # noqa: E402
from segser.training.config import TrainConfig  # noqa: E402
from segser.training.data import Embeddings  # noqa: E402
from segser.training.evaluation import evaluate_logits  # noqa: E402
from segser.training.train import run as train_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "default" / "default-4class.json"
HELD_OUT = ("emovo", "ased", "savee", "tess")
CASES = ("speakers given, mixed", "speakers given, one emotion", "one voice alone, mixed",
         "one voice alone, one emotion", "folder, mixed", "folder in one mood (mean recall)")


def adapted(model, emb: Embeddings, clips, groups: dict | None):
    """Logits of ``clips``' segments as `segser predict --adapt auto` gives them: ``groups`` ({key: clips}) the
    speakers given (None: a folder without speakers); the batch's statistics are the collection."""
    sub = emb.select(clips)
    plan = plan_for(model, "auto", inputs=len(clips), speakers=None if groups is None else {})
    keys = np.zeros(len(sub.X), dtype=object)
    for i, c in enumerate((groups or {}).values()):
        keys[np.isin(sub.clip, c)] = i
    lg, notes, _ = adapt_rows(model, plan, sub.X, voiced=sub.speech >= model.speech_gate, groups=keys,
                              seconds=(sub.end - sub.start) * sub.speech)
    modes = {}
    for note in notes.values():
        modes[note.label] = modes.get(note.label, 0) + 1
    return lg, sub, modes


def ua(model, manifest, lg, sub) -> float:
    return evaluate_logits(lg, sub, manifest, model.classes, "mean_logits", speech_gate=model.speech_gate)[0]["UA"]


def by_speaker(manifest, clips) -> dict:
    spk = manifest["speaker"].to_numpy()
    return {s: clips[spk[clips] == s] for s in np.unique(spk[clips])}


def score(model, manifest, emb, held, draws) -> dict:
    clips = np.flatnonzero(manifest["corpus"].to_numpy() == held)
    label = manifest["label"].to_numpy()
    subsets = one_emotion_subsets(manifest, clips, draws, list(model.classes))
    out, modes = {}, {}

    def case(name, batches):
        """UA over the clips of all ``batches`` [(clips, groups)], each predicted as one batch."""
        parts = [adapted(model, emb, c, g) for c, g in batches]
        for _, _, mo in parts:
            for k, v in mo.items():
                modes.setdefault(name, {}).setdefault(k, 0)
                modes[name][k] += v
        lg = np.concatenate([p[0] for p in parts])
        sub = Embeddings.concat([p[1] for p in parts])
        return ua(model, manifest, lg, sub)

    out["speakers given, mixed"] = case("speakers given, mixed", [(clips, by_speaker(manifest, clips))])
    out["speakers given, one emotion"] = float(np.mean([case("speakers given, one emotion", [(s, by_speaker(manifest, s))])
                                                        for s in subsets]))
    out["one voice alone, mixed"] = case("one voice alone, mixed", [(c, {"all": c}) for c in by_speaker(manifest, clips).values()])
    out["one voice alone, one emotion"] = float(np.mean([
        case("one voice alone, one emotion", [(c, {"all": c}) for c in by_speaker(manifest, s).values()]) for s in subsets]))
    out["folder, mixed"] = case("folder, mixed", [(clips, None)])
    out["folder in one mood (mean recall)"] = float(np.mean([case("folder in one mood (mean recall)", [(clips[label[clips] == c], None)])
                                                            for c in model.classes if np.any(label[clips] == c)]))
    return {"ua": {k: round(v, 4) for k, v in out.items()}, "modes": modes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "trained-4class")
    ap.add_argument("--draws", type=int, default=3, help="draws of the one-emotion protocol")
    args = ap.parse_args()
    if not (args.run / "model.pt").exists():
        print(f"training {RECIPE.relative_to(ROOT)} into {args.run}", flush=True)
        train_run(TrainConfig.from_file(RECIPE), args.run, progress=False)
    metrics = json.loads((args.run / "metrics.json").read_text())
    trained = load_torch_model(args.run, "the run")
    if trained.mood is None or trained.adaptation is None:
        raise SystemExit(f"{args.run}: no mood check or adaptation heads; train it with this segser")
    builtin_dir, _ = resolve_model_dir("default-4class")
    builtin = load_torch_model(builtin_dir, "default-4class")
    same_head = (args.run / "model.pt").read_bytes() == (builtin_dir / "model.pt").read_bytes()
    variants = {
        "none": dataclasses.replace(trained, mood=None, adaptation=None),
        "auto, no companions (share guard)": dataclasses.replace(trained, mood=None, adaptation=None),
        "auto, mood check from the run's folds": dataclasses.replace(trained, adaptation=None),
        "auto, mood check + adaptation heads (segser train)": trained,
        "auto, built-in default-4class (companions from the cross-corpus benchmark)": builtin,
    }
    manifest, emb = load_all("4class", HELD_OUT, trained.encoder, trained.segmentation)
    figures = {}
    for name, model in variants.items():
        figures[name] = {}
        for held in HELD_OUT:
            if name == "none":  # each clip on its own: the same in every case but the folder in one mood (mean recall)
                clips = np.flatnonzero(manifest["corpus"].to_numpy() == held)
                label = manifest["label"].to_numpy()

                def plain(c):
                    sub = emb.select(c)
                    return ua(model, manifest, model.logits(sub.X), sub)
                recall = np.mean([plain(clips[label[clips] == c]) for c in model.classes if np.any(label[clips] == c)])
                figures[name][held] = {"ua": {**dict.fromkeys(CASES[:5], round(plain(clips), 4)),
                                              CASES[5]: round(float(recall), 4)}}
            else:
                figures[name][held] = score(model, manifest, emb, held, args.draws)
            print(name, held, figures[name][held]["ua"], flush=True)
        figures[name]["mean"] = {c: round(float(np.mean([figures[name][h]["ua"][c] for h in HELD_OUT])), 4) for c in CASES}
        print(name, "mean", figures[name]["mean"], flush=True)
    save("trained-adaptation", {
        "run": {"recipe": str(RECIPE.relative_to(ROOT)), "trained_on": metrics["provenance"]["corpora"],
                "protocol": metrics["provenance"]["protocol"], "seed": metrics["provenance"]["seed"],
                "adaptation": metrics.get("adaptation"), "same_head_as_default_4class": same_head},
        "held_out": list(HELD_OUT), "draws": args.draws, "label_set": "4class", "cases": list(CASES),
        "variants": figures})


if __name__ == "__main__":
    main()
