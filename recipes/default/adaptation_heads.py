"""Give a built-in model its adaptation heads (speakers.AdaptationHeads): a head trained on per-speaker
standardised embeddings and one on per-corpus standardised embeddings, of the model's own training corpora, with
its own recipe (one training speaker in nine held out for early stopping and the temperature). `--adapt speaker`,
`collection` and `auto` then feed a group's z-scores to them instead of moment-matching into the unadapted head
(benchmarks/adaptation.py: speaker z into the speaker-normalised head 0.795 mixed-speaker UA against 0.759; the
collection's z into the corpus-normalised one 0.718 against 0.708).

    python recipes/default/adaptation_heads.py default-4class [live-4class ...]

Writes src/segser/models/<name>/adaptation_heads.npz.
"""
import argparse
import json

from segser.adaptation.heads import ADAPTATION_HEADS_FILE
from segser.model import load_torch_model, resolve_model_dir
from segser.training.adaptation_fit import heads_from_torch
from segser.training.config import TrainConfig
from segser.training.train import fit_adaptation_heads, shipped_training_set

ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="+")
args = ap.parse_args()
for name in args.models:
    d, _ = resolve_model_dir(name)
    model = load_torch_model(d, name)
    if model.reference is None or model.speaker_norm:
        raise SystemExit(f"{name}: its head takes no reference-standardised input; adaptation heads do not apply")
    cfg = TrainConfig.from_dict(json.loads((d / "config.json").read_text()))
    manifest, emb, y, speakers = shipped_training_set(model)
    voiced = emb.speech >= model.speech_gate
    corpus = manifest["corpus"].astype(str).to_numpy()[emb.clip]
    heads = fit_adaptation_heads(cfg, emb.X, y, voiced, speakers, corpus, len(model.classes))
    for kind, (_, temperature) in heads.items():
        print(f"{name}: {kind} head on {int(voiced.sum())} voiced segments, temperature {temperature:.3f}", flush=True)
    heads_from_torch(heads).save(d / ADAPTATION_HEADS_FILE)
    what = {"file": ADAPTATION_HEADS_FILE, "recipe": f"python recipes/default/adaptation_heads.py {name}",
            "trained_on": sorted(set(corpus)), "voiced_segments": int(voiced.sum()), "seed": cfg.seed,
            "temperature": {kind: round(float(t), 4) for kind, (_, t) in heads.items()}}
    card = json.loads((d / "card.json").read_text())
    (d / "card.json").write_text(json.dumps(card | {"adaptation_heads": what}, indent=2) + "\n")
    readme = (d / "README.md").read_text().split("\n## Adaptation heads")[0].rstrip("\n")
    (d / "README.md").write_text(
        readme + "\n\n## Adaptation heads\n\n"
        f"`{ADAPTATION_HEADS_FILE}`: two more heads of the same recipe on the same corpora ({int(voiced.sum())} voiced "
        "segments), one trained on per-speaker standardised embeddings, one on per-corpus standardised ones; "
        "`--adapt speaker|collection|auto` feed a group's z-scores to them (README: Adaptation). Temperatures "
        + ", ".join(f"{k} {v:.3f}" for k, v in what["temperature"].items()) + f". Made by `{what['recipe']}`.\n")
    print(f"{name}: {', '.join(heads)} heads -> {d / ADAPTATION_HEADS_FILE}")
