"""Renders the figures of the README and the documentation pages (docs/) from the committed result files, so
that every number there has a file and a command behind it; and the README's module map from the package tree.

A page marks each generated part:

    <!-- render: NAME -->
    ...generated text...
    <!-- /render -->

    python benchmarks/render.py           # rewrite the marked parts of README.md and docs/**/*.md
    python benchmarks/render.py --check   # exit 1 if any page differs from what the result files give

In docs/ pages, links to files of the repository (result files, cards) become plain names (the site holds only
docs/), and images point into docs/img/ relative to the page.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from segser.words.utterances import SPLIT_AT_SPEAKER

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"
MODELS = ROOT / "src" / "segser" / "models"
BLOCK = re.compile(r"(<!-- render: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /render -->)", re.S)


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def pm(s: dict) -> str:
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def source(name: str, extra: str = "") -> str:
    """The provenance line under a generated table: file, command, date, machine."""
    doc = load(name)
    bits = [f"[`benchmarks/results/{name}.json`](benchmarks/results/{name}.json)"]
    if doc.get("command"):
        bits.append(f"`{doc['command']}`")
    m = doc.get("machine")
    if m:
        bits.append(f"{doc.get('date') or m.get('date')}, {m['cpu']}, {m['cores']} cores")
    if doc.get("busy_warning"):
        bits.append(f"note: {doc['busy_warning']}")
    return "Source: " + "; ".join(bits) + (f". {extra}" if extra else ".")


def card(name: str) -> dict:
    return json.loads((MODELS / name / "card.json").read_text())


# --- one function per README section ------------------------------------------------------------

def suite_table(name: str, rows: list[tuple[str, str]], corpora=("emodb", "ravdess")) -> str:
    """Pipelines x corpora (UA, WA) from a `segser benchmark` results file; rows = (pipeline, label)."""
    doc = load(name)
    by = {(r["pipeline"], r["corpus"]): r for r in doc["results"]}
    head = "| pipeline | " + " | ".join(f"{c} UA | {c} WA" for c in corpora) + " |"
    lines = [head, "|---|" + "---|---|" * len(corpora)]
    for pipe, label in rows:
        cells = []
        for c in corpora:
            r = by.get((pipe, c))
            cells += [pm(r["summary"]["UA"]), pm(r["summary"]["WA"])] if r else ["", ""]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def standard() -> str:
    doc = load("standard")
    chance = {r["corpus"]: r["chance_UA"] for r in doc["results"]}
    rows = [("logmel-mlp (paper 001 baseline)", "logmel patch + 2x200 MLP (paper 001 baseline)"),
            ("yamnet-int8-segment200", "YAMNet (Coral int8, in PyTorch) + paper head N=200"),
            ("egemaps-svm", "openSMILE eGeMAPSv02 + SVM (anchor)"),
            ("whisper-tiny.en-all-segment200", "Whisper tiny.en encoder, all layers + paper head N=200"),
            ("whisper-tiny.en-all-layersum", "Whisper tiny.en, learned layer sum head"),
            ("egemaps-svm-spknorm", "eGeMAPS + SVM, per-speaker normalisation (speaker-adapted)"),
            ("whisper-tiny.en-all-segment200-spknorm", "Whisper tiny.en all layers + N=200, per-speaker normalisation "
                                                      "(speaker-adapted)")]
    return (suite_table("standard", rows) + f"\n\nChance UA: EmoDB {chance['emodb']:.3f}, RAVDESS {chance['ravdess']:.3f}. "
            + source("standard", "Reproduce: `segser benchmark --suite benchmarks/suites/standard.json --out runs/bench`"))


def whisper_base() -> str:
    rows = [("whisper-base-all-5s-segment200", "Whisper base, all layers, 5 s windows + N=200"),
            ("whisper-base-all-5s-meanstd-segment200", "the same with mean+std pooling")]
    t1 = suite_table("whisper-base-5s", rows)
    t2 = suite_table("whisper-tiny-layer3-5s",
                     [("whisper-tiny.en-layer3-5s-segment200", "Whisper tiny.en layer 3 alone, 5 s windows + N=200")])
    return (t1 + "\n" + "\n".join(t2.splitlines()[2:]) + "\n\n" + source("whisper-base-5s") + " "
            + source("whisper-tiny-layer3-5s"))


def transfer() -> str:
    rows = [("efficientnet-lite0-stft-1s-segment200", "EfficientNet-Lite0 (frozen), 1 s STFT jet images (002) + N=200"),
            ("efficientnet-lite0-logmel-clip-linear", "EfficientNet-Lite0 (frozen), whole-clip log-mel images (004) + linear"),
            ("mfcc40-tdnn-from-scratch", "MFCC-40 + TDNN trained from scratch (003's non-transfer comparison)")]
    return suite_table("transfer", rows) + "\n\n" + source("transfer")


def builtin_models() -> str:
    lines = ["| model | classes | in-corpus UA (pooled, speaker 5-fold) | WA | " + " | ".join(
        f"never-trained {c} UA" for c in ("ased", "savee", "tess")) + " | model card |", "|---|---|---|---|---|---|---|---|"]
    for name in ("default", "default-4class", "adapted-4class", "live-4class"):
        c = card(name)
        held = c.get("held_out_corpora", {}).get("per_corpus", {})
        cells = [f"{held[k]['UA']:.3f}" if k in held else "" for k in ("ased", "savee", "tess")]
        adapted = " (speaker-normalised head: always adapted)" if c["provenance"].get("speaker_norm") else ""
        if name == "live-4class":
            adapted = " (trailing windows: the live default)"
        lines.append(f"| `{name}`{adapted} | {', '.join(c['provenance']['classes'])} | {pm(c['summary']['UA'])} | "
                     f"{pm(c['summary']['WA'])} | "
                     + " | ".join(cells) + f" | [card.json](src/segser/models/{name}/card.json) |")
    c = card("default-4class")
    p = c["provenance"]
    held = c.get("held_out_corpora", {}).get("per_corpus", {})
    ece = "; ".join(f"{k} {v['ECE']:.3f} -> {v['ECE_calibrated']:.3f}" for k, v in held.items() if v.get("ECE_calibrated") is not None)
    ens = c.get("ensemble")
    heads = (f"{ens['members']} heads (temperatures {', '.join(f'{t:.2f}' for t in ens['temperatures'])}, each "
             "fitted on its own validation speakers), their calibrated logits averaged, then class offsets "
             + ", ".join(f"{k} {b:+.2f}" for k, b in ens["class_offsets"].items())
             + " (the prior correction)" if ens else f"temperature {c['temperature']:.2f} fitted on validation speakers")
    return ("\n".join(lines) + f"\n\nTrained on {' + '.join(p['corpora'])} ({p['n_clips']} clips of the 4 classes, "
            f"{p['n_speakers']} speakers), corpus-balanced loss, {heads}. ECE of `default-4class` on the corpora it "
            f"never trained on, before -> after calibration: {ece}. "
            f"Licence: {c['licence']} Source: `src/segser/models/*/card.json` (written by `recipes/default/ship.py`; "
            "the recipe line is in each card).")


def gain(a: dict, b: dict, target: float) -> str:
    """Mean held-out UA of result row ``a`` minus row ``b``, against a target in points."""
    d = 100 * (a["mean_held_out_UA"] - b["mean_held_out_UA"])
    return f"{d:+.1f} points (target +{target:g}: " + ("met" if d >= target else f"missed by {target - d:.1f}") + ")"


def below_floor(a: dict, anchor: dict, names) -> list[str]:
    """Held-out corpora where row ``a`` is under the anchor + 5 points (issue 17's floor)."""
    return [c for c in names if a["held_out"][c] < anchor["held_out"][c] + 0.05]


def cross_corpus() -> str:
    doc = load("cross-corpus")
    names = doc["corpora"]
    labels = {"egemaps-svm": "eGeMAPS + SVM (anchor)", "v2": "v2 recipe (the previous built-in models' recipe)",
              "v3": "v3 recipe (v2 + corpus balance + calibration)",
              "v3-shipped": "v3 recipe, EMOVO never trained on (the built-in models' training corpora)"}
    lines = ["| pipeline | " + " | ".join(names) + " | mean |", "|---|" + "---|" * (len(names) + 1)]
    rows = {r["pipeline"]: r for r in doc["results"]}
    for r in doc["results"]:
        lines.append(f"| {labels.get(r['pipeline'], r['pipeline'])} | " + " | ".join(f"{r['held_out'][c]:.3f}" for c in names)
                     + f" | **{r['mean_held_out_UA']:.3f}** |")
    out = "\n".join(lines)
    if {"v2", "v3", "egemaps-svm"} <= rows.keys():
        v2, v3, eg = rows["v2"], rows["v3"], rows["egemaps-svm"]
        out += (f"\n\nTargets (issue 17): v3 - v2 = {gain(v3, v2, 5)}; v3 - eGeMAPS = {gain(v3, eg, 15)}; held-out corpora "
                "below eGeMAPS + 5: " + (", ".join(f"{c} ({v3['held_out'][c]:.3f} vs {eg['held_out'][c] + 0.05:.3f})"
                                                   for c in below_floor(v3, eg, names)) or "none") + ".")
        ece = "; ".join(f"{c} {v3['ECE'][c]:.3f} -> {v3['ECE_calibrated'][c]:.3f}" for c in names if c in v3.get("ECE_calibrated", {}))
        before = sum(v3["ECE"][c] for c in names) / len(names)
        after = sum(v3["ECE_calibrated"].get(c, v3["ECE"][c]) for c in names) / len(names)
        out += (f" ECE of v3 per held-out corpus, before -> after temperature scaling (fitted on validation speakers of "
                f"the training corpora): {ece}; mean {before:.3f} -> {after:.3f}.")
    if any("pairwise" in r for r in doc["results"]):
        r = rows.get("v3") or doc["results"][-1]
        src = list(r["pairwise"])
        out += (f"\n\nPairwise, {r['pipeline']} trained on one corpus (rows) and tested on each other (UA):\n\n| trained on | "
                + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n")
        out += "\n".join(f"| {s} | " + " | ".join("" if c == s else f"{r['pairwise'][s][c]:.3f}" for c in names) + " |" for s in src)
    out += ("\n\n![held-out UA per corpus and pipeline](docs/img/cross-corpus.png)\n\n"
            f"Label set `{doc['results'][0]['label_set']}`; protocol `{doc['results'][0]['protocol']}` "
            f"({', '.join(doc['evaluation_only'])} never trained on: their licences forbid a shipped model); validation "
            "speakers from the training corpora only; seed 0. nEMO, ASED, EMOVO, SAVEE and TESS are OGG/Opus copies (~29 kbps). "
            + source("cross-corpus", "Reproduce: `segser benchmark --suite benchmarks/suites/cross-corpus.json --out runs/cross`"))
    return out


def cross_corpus_adapted() -> str:
    doc, base = load("cross-corpus-adapted"), load("cross-corpus")
    names = doc["corpora"]
    labels = {"egemaps-svm": "eGeMAPS + SVM (anchor, from the table above)",
              "egemaps-svm-speaker-norm": "eGeMAPS + SVM + speaker normalisation (adapted anchor)",
              "v2": "v2 recipe (from the table above)",
              "v2-speaker-norm": "v2 recipe + speaker normalisation",
              "v3": "v3 recipe (from the table above)",
              "v3-speaker-norm": "v3 recipe + speaker normalisation",
              "adapted-shipped": "v3 + speaker normalisation, EMOVO never trained on (`adapted-4class`'s training corpora)"}
    rows = {r["pipeline"]: r for r in base["results"]}
    rows.update({r["pipeline"]: r for r in doc["results"]})
    lines = ["| pipeline | " + " | ".join(names) + " | mean |", "|---|" + "---|" * (len(names) + 1)]
    for name in labels:
        if name in rows:
            r = rows[name]
            lines.append(f"| {labels[name]} | " + " | ".join(f"{r['held_out'][c]:.3f}" for c in names)
                         + f" | **{r['mean_held_out_UA']:.3f}** |")
    a = rows["v3-speaker-norm"]

    def against(anchor: str) -> str:
        return (f"minus {labels[anchor].split(' (')[0]}'s = {gain(a, rows[anchor], 15)}, held-out corpora below it + 5: "
                + (", ".join(f"{c} ({a['held_out'][c]:.3f})" for c in below_floor(a, rows[anchor], names)) or "none"))

    def over(base: str) -> str:
        return f"minus {labels[base].split(' (')[0]}'s = {gain(a, rows[base], 5)}"

    text = f"Issue 17's targets, for v3 + speaker normalisation: its mean {over('v2')}; " + against("egemaps-svm")
    adapted = [k for k in ("v2-speaker-norm", "egemaps-svm-speaker-norm") if k in rows]
    if adapted:
        text += "; like for like, against recipes adapted the same way: " + "; ".join(
            over(k) if k.startswith("v2") else against(k) for k in adapted)
    return ("\n".join(lines) + "\n\n" + text + ". Speaker-adapted rows: each test speaker's statistics come from all of "
            "that speaker's (unlabelled) clips; how little speech suffices is in the next table. Same protocol, label set, "
            "seed and copies as the matrix above. " + source("cross-corpus-adapted"))


def speaker_adaptation() -> str:
    f = load("speaker-adaptation")["figures"]
    names = list(f["corpora"])
    keys = list(f["mean"])
    lines = ["| each test speaker's statistics from | median s of speech | " + " | ".join(names) + " | mean |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for k in keys:
        cells, secs = [], []
        for c in names:
            row = f["corpora"][c]["rows"][k]
            cells.append(f"{row['UA']:.3f}" + (f" ± {row['UA_std_over_draws']:.3f}" if "UA_std_over_draws" in row else ""))
            if "median_segments" in row:
                secs.append(row["median_segments"] * f["corpora"][c]["seconds_per_segment"])
        sec = f"{sorted(secs)[len(secs) // 2]:.0f}" if secs else "(none used)"
        lines.append(f"| {k} | {sec} | " + " | ".join(cells) + f" | **{f['mean'][k]:.3f}** |")
    return ("\n".join(lines) + f"\n\nUA of the built-in `{f['model']}` (trained on {' + '.join(f['trained_on'])}) on "
            "corpora it never trained on; `default-4class` (the same corpora, no adaptation) on the same clips as the "
            "reference. Random clips: mean ± std over draws. Median seconds: per speaker, median over corpora. "
            + source("speaker-adaptation"))


def segment_evidence() -> str:
    f = load("segment-evidence")["figures"]
    lengths = [f"{L:g}" for L in f["lengths_s"]]
    lines = ["| real audio in the segment (s) | " + " | ".join(lengths) + " |", "|---|" + "---|" * len(lengths)]
    for kind, label in (("tail", "last L s of a clip, then padding (a tail segment): UA"),
                        ("centre", "L s from the middle of a clip: UA")):
        lines.append(f"| {label} | " + " | ".join(f"{f['by_length'][kind][L]['UA']:.3f}" for L in lengths) + " |")
    lines.append("| tail: mean top probability | " + " | ".join(
        f"{f['by_length']['tail'][L]['mean_top_probability']:.2f}" for L in lengths) + " |")
    n, g = f["noise"], f["gates"]
    gates = "; ".join(f"{k}: {100 * v['noise_segments_passed']:.1f} % of noise and {100 * v['speech_segments_passed']:.0f} % "
                      "of speech-corpus segments pass" for k, v in g.items())
    return ("\n".join(lines) + f"\n\n`{f['model']}` on {', '.join(f['corpora'])} (never trained on; {f['clips_per_corpus']} "
            f"clips each, 4 classes, chance 0.25). Real noise (`noise/test`, {n['files']} files, {n['segments']} segments of "
            f"1 s) without a gate: {100 * n['confident_over_0.5']:.0f} % of its segments get an emotion with probability over "
            f"0.5, {100 * n['confident_over_0.8']:.0f} % over 0.8. Speech-share gates: {gates} "
            f"({f['speech_segments']} segments of the speech corpora, whose clips hold leading and trailing silence). "
            + source("segment-evidence"))


def adaptation() -> str:
    doc = load("adaptation")
    f = doc["figures"]
    methods = f["methods"]
    base = methods["none (raw head)"]
    mood_folder = "one-emotion collection" in base  # a folder of recordings all in one mood
    lines = ["| method (head it feeds) | mixed speakers | one-emotion speakers | collection | "
             + ("one-emotion collection (mean recall) | " if mood_folder else "") + "one-emotion minus unadapted |",
             "|---|---|---|---|---|" + ("---|" if mood_folder else "")]
    for name, m in methods.items():
        d = 100 * (m["one-emotion"]["mean"] - base["one-emotion"]["mean"])
        lines.append(f"| {name} | {m['mixed']['mean']:.3f} | {m['one-emotion']['mean']:.3f} | {m['collection']['mean']:.3f} | "
                     + (f"{m['one-emotion collection']['mean']:.3f} | " if mood_folder else "") + f"{d:+.1f} |")
    names = f["corpora"]
    chosen = f.get("chosen", {})
    protos = ["mixed", "one-emotion", "collection"] + (["one-emotion collection"] if mood_folder else [])
    per = ["", "What segser's `--adapt` modes do, per held-out corpus (UA; " + " / ".join(protos) + "):", "",
           "| `--adapt` | method | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for mode, name in chosen.items():
        m = methods[name]
        per.append(f"| {mode} | {name} | " + " | ".join(" / ".join(f"{m[p]['per_corpus'][c]:.2f}" for p in protos)
                                                         for c in names) + " |")

    def chosen_for(*starts):
        return methods[next(v for k, v in chosen.items() if k.startswith(starts))]
    auto = chosen_for("auto with speakers given or found")
    coll = chosen_for("collection")

    def target(value, goal):
        return f"{value:.3f} (target {goal:.2f}: " + ("met" if value >= goal - 1e-9 else f"missed by {100 * (goal - value):.1f}") + ")"

    per += ["", "Issue 22's targets, on this matrix: unadapted mean " + target(base["mixed"]["mean"], 0.68)
            + "; the shipped rule (auto, speakers known) on mixed speakers " + target(auto["mixed"]["mean"], 0.82)
            + ", on one-emotion speakers " + target(auto["one-emotion"]["mean"], base["one-emotion"]["mean"] - 0.01)
            + " (unadapted minus 1 point); collection " + target(coll["collection"]["mean"], 0.75) + "."]
    lone = next((methods[v] for k, v in chosen.items() if k.startswith(("auto for one group alone", "auto for a group with nothing"))),
                None)
    if lone is not None:
        mc = f["mood_check"]
        per += ["", "A group with nothing to compare it with (one speaker's recordings, a live stream), guarded by the mood "
                f"check: mixed speakers {lone['mixed']['mean']:.3f} ({100 * (lone['mixed']['mean'] - base['mixed']['mean']):+.1f} "
                f"against unadapted), one-emotion speakers " + target(lone["one-emotion"]["mean"], base["one-emotion"]["mean"] - 0.01)
                + "; guarded by the commonest-emotion share alone, as before: "
                + f"{methods['guarded speaker moment matching, blended over 0.5-0.7, else none (raw head)']['one-emotion']['mean']:.3f}. "
                f"The mood check's coefficients (bias, log spread fraction, dominant share) fitted on all "
                f"{len(mc['fitted_on'])} licensed corpora's {mc['groups']} groups: "
                + ", ".join(f"{c:.2f}" for c in mc["coef"]) + "; in each fold above they were fitted without the held-out corpus."]
        if "auc_per_held_out_corpus" in mc:
            a = mc["auc_per_held_out_corpus"]
            per[-1] += (" How well it tells one-emotion groups from mixed ones (AUC per held-out corpus, mood check / share "
                        "alone): " + ", ".join(f"{c} {v['mood_check']:.2f} / {v['share']:.2f}" for c, v in a.items()) + ".")
        if mood_folder:
            share = methods["guarded speaker moment matching, blended over 0.5-0.7, else none (raw head)"]
            per += ["", "A folder of recordings without speakers (the collection), mixed / all in one mood (mean recall): "
                    f"unadapted {base['collection']['mean']:.3f} / {base['one-emotion collection']['mean']:.3f}; "
                    f"the plain collection {coll['collection']['mean']:.3f} / {coll['one-emotion collection']['mean']:.3f}; "
                    f"guarded by the mood check {lone['collection']['mean']:.3f} / {lone['one-emotion collection']['mean']:.3f}; "
                    f"by the share alone {share['collection']['mean']:.3f} / {share['one-emotion collection']['mean']:.3f}."]
    return ("\n".join(lines + per) + f"\n\nMeans over the {len(names)} held-out corpora ({', '.join(names)}; "
            f"{', '.join(f['evaluation_only'])} never trained on), 4 classes, the v3 recipe's heads trained per fold on "
            f"raw, per-speaker or per-corpus standardised embeddings; one-emotion: {f['draws']} draws; statistics from "
            f"segments with speech (gate {f['speech_gate']}). " + source("adaptation"))


def adaptation_shared6() -> str:
    """The built-in ``default``'s six classes: what its ``--adapt`` modes do (benchmarks/adaptation.py --labels shared6)."""
    doc = load("adaptation-shared6")
    f = doc["figures"]
    methods, names = f["methods"], f["corpora"]
    protos = ["mixed", "one-emotion", "collection", "one-emotion collection"]
    base = methods[f["chosen"]["none"]]
    lines = ["| `--adapt` (model `default`) | method | mixed speakers | one-emotion speakers | collection | "
             "one-emotion collection (mean recall) | one-emotion minus unadapted |", "|---|---|---|---|---|---|---|"]
    for mode, name in f["chosen"].items():
        m = methods[name]
        lines.append(f"| {mode.replace('default-4class', 'default')} | {name} | "
                     + " | ".join(f"{m[p]['mean']:.3f}" for p in protos)
                     + f" | {100 * (m['one-emotion']['mean'] - base['one-emotion']['mean']):+.1f} |")
    mc = f["mood_check"]
    auc = mc["auc_per_held_out_corpus"]
    return ("\n".join(lines) + f"\n\nMeans over the {len(names)} held-out corpora ({', '.join(names)}; "
            f"{', '.join(f['evaluation_only'])} never trained on), the six classes of `default` "
            "(angry, disgust, fear, happy, neutral, sad; nEMO and ASED have no disgust), chance 0.167; "
            f"one-emotion: {f['draws']} draws; statistics from segments with speech "
            f"(gate {f['speech_gate']}). Its mood check's coefficients (bias, log spread fraction, dominant share), fitted "
            f"on the {len(mc['fitted_on'])} licensed corpora's {mc['groups']} groups: "
            + ", ".join(f"{c:.2f}" for c in mc["coef"]) + "; AUC one mood against a mix per held-out corpus (mood check / "
            "share alone): " + ", ".join(f"{c} {v['mood_check']:.2f} / {v['share']:.2f}" for c, v in auc.items()) + ". "
            + source("adaptation-shared6"))


def adaptation_probes() -> str:
    """Ideas for issue 22's missed targets that were measured and not shipped (benchmarks/adaptation_probes.py)."""
    doc = load("adaptation-probes")
    f = doc["figures"]
    r = f["results"]
    protos = ["collection", "one-emotion collection", "one-emotion speakers, no speakers given"]
    lines = ["| a folder without speakers | mixed folder | folder in one mood (mean recall) | one-emotion speakers |",
             "|---|---|---|---|"]
    for name in r["collection"]:
        lines.append(f"| {name} | " + " | ".join(f"{r[p][name]['mean']:.3f}" for p in protos) + " |")
    ref = r["refinement"]
    lines += ["", "| adapted logits | mixed speakers | collection | one-emotion speakers |", "|---|---|---|---|"]
    for name in ref["mixed speakers"]:
        lines.append(f"| {name} | " + " | ".join(f"{ref[p][name]['mean']:.3f}" for p in
                                               ("mixed speakers", "collection", "one-emotion speakers")) + " |")
    lines += ["", "| unadapted head | " + " | ".join(f["corpora"]) + " | mean |", "|---|" + "---|" * (len(f["corpora"]) + 1)]
    for name, m in r["unadapted"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m['per_corpus'][c]:.3f}" for c in f["corpora"]) + f" | {m['mean']:.3f} |")
    found = "; ".join(f"{c} " + ", ".join(f"{t}: {v['voices']} ({v['ARI']:.2f})" for t, v in per.items())
                      + f" for {next(iter(per.values()))['speakers']} speakers" for c, per in f["clusters"].items())
    return ("\n".join(lines) + "\n\nVoices found per held-out corpus at each threshold (adjusted Rand index against the "
            f"speakers): {found}. Means over the {len(f['corpora'])} held-out corpora ({', '.join(f['evaluation_only'])} "
            "never trained on), 4 classes, the adaptation matrix's fold heads; one-emotion: 3 draws; the shipped mood "
            "check's coefficients. " + source("adaptation-probes"))

def trained_adaptation() -> str:
    """What `segser train` fits beside a model for --adapt auto, on corpora the run never trained on
    (benchmarks/trained_adaptation.py)."""
    doc = load("trained-adaptation")
    f = doc["figures"]
    cases, v = f["cases"], f["variants"]
    share, fitted = v["auto, no companions (share guard)"]["mean"], v["auto, mood check + adaptation heads (segser train)"]["mean"]
    lines = ["| model (`--adapt`) | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
    for name, row in v.items():
        lines.append(f"| {name} | " + " | ".join(f"{row['mean'][c]:.3f}" for c in cases) + " |")
    lines += ["", "What `segser train`'s companions change against the share guard alone (points): "
              + "; ".join(f"{c} {100 * (fitted[c] - share[c]):+.1f}" for c in cases) + "; against not adapting: "
              + "; ".join(f"{c} {100 * (fitted[c] - v['none']['mean'][c]):+.1f}" for c in cases) + "."]
    run, mood = f["run"], f["run"]["adaptation"]["mood_check"]
    g = mood["groups"]
    return ("\n".join(lines) + f"\n\nUA, means over {', '.join(f['held_out'])} (never trained on by the run), 4 classes; "
            f"one emotion: {f['draws']} draws; a folder in one mood: the mean over its emotions of the accuracy on a "
            f"folder of that emotion's clips. The run: `{run['recipe']}` ({' + '.join(run['trained_on'])}, "
            f"{run['protocol']}, seed {run['seed']}), trained by this segser; its mood check fitted on its folds' "
            f"{g['one_mood']} one-mood and {g['mixed']} mixed groups (coefficients "
            f"{', '.join(f'{c:.2f}' for c in mood['coef'])}; AUC on held-out folds {mood['auc_held_out_folds']:.2f}, "
            f"the dominant share alone {mood['auc_dominant_share']:.2f}). Its head is "
            + ("the same as" if run["same_head_as_default_4class"] else "a retraining of")
            + " default-4class's. " + source("trained-adaptation"))


def speech_gate() -> str:
    f = load("speech-gate")["figures"]
    names = f["corpora"]
    lines = ["| model | gate | " + " | ".join(names) + " | mean |", "|---|---|" + "---|" * (len(names) + 1)]
    for r in f["rows"].values():
        lines.append(f"| {r['model']} | {r['gate']:g} | " + " | ".join(f"{r['UA'][c]:.3f}" for c in names)
                     + f" | **{r['mean']:.3f}** |")
    return ("\n".join(lines) + "\n\nUA over 4 classes on corpora neither model trained on; segments under the gate take "
            "no part in the clip decision (gate 0: every segment votes, silence included). " + source("speech-gate"))


def conversations() -> str:
    f = load("conversations")["figures"]
    s = f["sample"]
    lines = ["| conversations | DER (collar 0.25 s) | DER (no collar) | DER (overlap counted) | speakers counted right | "
             "DER, number of speakers given | emotion UA per turn: found / true / no speakers | "
             "turns + emotions vs predict (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, c in f["corpora"].items():
        ua = c["emotion_UA_per_turn"]
        given = f"{100 * c['DER_count_given']:.1f} %" if "DER_count_given" in c else "-"
        lines.append(f"| {c['conversations']} built from {name} ({c['turns']} turns) | {100 * c['DER']['collar_0.25']:.1f} % | "
                     f"{100 * c['DER']['no_collar']:.1f} % | {100 * c['DER']['with_overlap']:.1f} % | "
                     f"{100 * c['speakers_counted_right']:.0f} % | {given} | "
                     f"{ua['found_speakers']:.3f} / {ua['true_speakers']:.3f} / "
                     f"{ua['no_speakers']:.3f} | {c['turns_and_emotions_seconds']:.0f} vs {c['predict_seconds']:.0f} |")
    return ("\n".join(lines) + f"\n\n`sample.wav` (real, two speakers, its published RTTM): {s['speakers_found']} speakers "
            f"found of {s['speakers_true']}; DER {100 * s['DER']['collar_0.25']:.1f} % (collar 0.25 s, overlap skipped), "
            f"{100 * s['DER']['no_collar']:.1f} % without collar, {100 * s['DER']['with_overlap']:.1f} % with overlap "
            f"counted. Turn threshold: the shipped {f['threshold_shipped']:g} for every row (DER on the RAVDESS dev "
            f"conversations at {len(f['dev'])} thresholds: " + ", ".join(f"{t} {100 * v:.1f} %" for t, v in f['dev'].items())
            + f"; lowest at {f['threshold']:g}). " + steps(f) + f"Model `{f['model']}`. " + long_run(f.get("long"))
            + source("conversations"))


def steps(f) -> str:
    """The step between speaker windows at the shipped threshold: dev DER and sample.wav's."""
    if "steps" not in f:
        return ""
    return (f"Step between speaker windows: the shipped {f['step_shipped']:g} s (at the shipped threshold, DER on the "
            "RAVDESS dev conversations / sample.wav with its speakers found: " + ", ".join(
                f"{k} s {100 * v['dev']:.1f} % / {100 * v['sample']['DER']['collar_0.25']:.1f} % "
                f"({v['sample']['speakers_found']})" for k, v in f["steps"].items()) + "). ")


def long_run(f) -> str:
    if not f:
        return ""
    a, b = f["predict"], f["predict --speakers auto"]
    return (f"One {f['audio_minutes']:.0f} minute conversation (ASED turns), fresh processes: `segser predict` "
            f"{a['wall_s']:.0f} s / {a['peak_rss_mb']} MB peak RSS, with `--speakers auto` {b['wall_s']:.0f} s / "
            f"{b['peak_rss_mb']} MB ({b['wall_s'] / a['wall_s']:.1f}x the time; target under 2x). ")


def in_corpus_pooled() -> str:
    v2 = load("in-corpus-pooled")["figures"]
    c = card("default-4class")
    pooled = " + ".join(load("in-corpus-pooled")["figures"]["corpora"])
    lines = [f"| recipe (4class, {pooled} pooled, speaker 5-fold) | UA | WA | " + " | ".join(
        f"{k} UA" for k in v2["per_corpus"]) + " |", "|---|---|---|" + "---|" * len(v2["per_corpus"])]
    lines.append("| v2 | " + f"{pm(v2['summary']['UA'])} | {pm(v2['summary']['WA'])} | "
                 + " | ".join(f"{v['UA']:.3f}" for v in v2["per_corpus"].values()) + " |")
    pc = c["per_corpus_pooled_over_folds"]
    lines.append("| `default-4class` as shipped (v5) | " + f"{pm(c['summary']['UA'])} | {pm(c['summary']['WA'])} | "
                 + " | ".join(f"{pc[k]['UA']:.3f}" if k in pc else "" for k in v2["per_corpus"]) + " |")
    d = 100 * (c["summary"]["UA"]["mean"] - v2["summary"]["UA"]["mean"])
    return ("\n".join(lines) + f"\n\nIn-corpus change, shipped - v2: {d:+.1f} points (target: no worse than -1). "
            + source("in-corpus-pooled") + " Shipped row: `src/segser/models/default-4class/card.json`.")


def noise() -> str:
    doc = load("robustness-emodb")["figures"]
    conds = ("clean", "40dB", "20dB", "15dB")
    lines = ["| training | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
    for name, f in doc["runs"].items():
        lines.append(f"| {name} (`{f['recipe']}`) | " + " | ".join(pm(f["UA"][c]) for c in conds) + " |")
    return ("\n".join(lines) + "\n\nEmoDB leave-one-speaker-out, UA mean ± std over speakers; noisy test sets from "
            "`noise/test` only, mix-up noise from `noise/train` only.\n\n"
            "![UA vs SNR, clean vs mix-up training](docs/img/robustness-emodb.png)\n\n" + source("robustness-emodb"))


def fastest_path() -> str:
    f = load("fastest_path")["figures"]
    paths, ref = f["paths"], f["paths"]["torch-fp32"]
    lines = ["| path | 1 h of speech | x real time | vs torch fp32 | share of fp32 ceiling | peak RSS | model size | "
             "worst UA loss | largest UA change | worst ECE change | accuracy bar |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in paths.items():
        lines.append(f"| {k}{' (default)' if k == f['default'] else ''} | {r['wall_s']:.1f} s | {r['x_realtime']:.0f}x | "
                     f"{ref['wall_s'] / r['wall_s']:.2f}x | {100 * r['share_of_fp32_ceiling']:.0f} % | "
                     f"{r['peak_rss_mb']:.0f} MB | {r['model_mb']:.1f} MB | {r['worst_UA_loss_points']:.2f} pt | "
                     f"{r['worst_UA_change_points']:.2f} pt | {r['worst_ECE_change']:.3f} | "
                     f"{'met' if r['meets_accuracy_bar'] else 'missed'} |")
    corpora = f["seen_corpora"] + f["held_out_corpora"]
    lines += ["", "UA change against torch fp32, per corpus (points):", "",
              "| path | " + " | ".join(corpora) + " |", "|---|" + "---|" * len(corpora)]
    for k, r in paths.items():
        if k == "torch-fp32":
            continue
        lines.append(f"| {k} | " + " | ".join(f"{r['change_vs_torch_fp32'][c]['UA_points']:+.2f}" for c in corpora) + " |")
    ceiling = ", ".join(f"{k} {v:.0f}" for k, v in f["gemm_ceiling_gflops"].items())
    skip, start = f["skip_non_speech"], f["start_up"]
    return ("\n".join(lines) + f"\n\nThe built-in `default` model, each path in a fresh process on the same hour of EmoDB and "
            f"RAVDESS speech (real clips back to back with their pauses). fp32 GEMM ceiling measured in the same run: "
            f"{ceiling} GFLOP/s; the encoder does {f['encoder_gflop_per_audio_second']:.2f} GFLOP per second of audio "
            f"(counted by torch). CPU features: {', '.join(f['cpu_features'])}. Accuracy: "
            f"{', '.join(f'{k} {v}' for k, v in f['clips_per_corpus'].items())} "
            f"clips (the default model trained on {', '.join(f['seen_corpora'])}: there only the change means anything); the bar: no "
            f"corpus's UA more than 0.5 points below torch fp32's and ECE within 0.02. Fastest path meeting it: **{f['fastest']}** "
            f"({ref['wall_s'] / paths[f['fastest']]['wall_s']:.2f}x torch fp32); default path: **{f['default']}** "
            f"({ref['wall_s'] / paths[f['default']]['wall_s']:.2f}x). Not encoding what holds no speech: "
            f"{skip['no_speech_segments']} of {skip['segments']} segments of that hour hold none; {skip['path']} takes "
            f"{skip['wall_s_gate_on']:.1f} s with the speech gate against {skip['wall_s_gate_off']:.1f} s without "
            f"({skip['gain']:.2f}x). One {start['clip_seconds']:.1f} s clip from the command line (`segser predict`, default "
            f"runtime): median **{start['median_s']:.2f} s** wall over 5 fresh processes. " + source("fastest_path"))


def frontend_vggish() -> str:
    f = load("frontend_vggish")["figures"]
    fe, best = f["frontend"], f["best"]
    ceiling = f["gemm_ceiling"][str(best["threads"])]["gflops"]
    return (f"VGGish log-mel frontend on {fe['audio_seconds']:.0f} s of EmoDB speech: {fe['segser_ms']:.1f} ms "
            f"({fe['segser_x_realtime']:.0f}x real time), librosa {fe['librosa_ms']:.1f} ms (librosa/segser = "
            f"{fe['ratio_librosa_over_segser']:.2f}). VGGish CNN, best lever: {best['variant']}, batch {best['batch']}, "
            f"{best['threads']} threads: {best['patches_per_s']:.0f} patches/s = {best['gflops']:.0f} GFLOP/s = "
            f"**{best['percent_of_ceiling']:.0f} %** of the {ceiling:.0f} GFLOP/s float32 GEMM ceiling measured in the same run. "
            + source("frontend_vggish"))


def whisper_speed() -> str:
    f = load("whisper_speed")["figures"]
    lines = ["| Whisper | window | x real time (2 s clips) | ms per clip | peak RSS |", "|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {r['context_s']:g} s | {r['x_realtime']:.0f}x (spread {100 * r['spread']:.0f} %) | "
              f"{r['ms_per_clip']:.0f} | {r['peak_rss_mb']:.0f} MB |" for r in f["rows"]]
    return ("\n".join(lines) + f"\n\nAll layers, {f['clips']} EmoDB clips, median of {f['repeat']} fresh processes. "
            + source("whisper_speed"))


def service_latency() -> str:
    f = load("service_latency")["figures"]
    out = (f"`segser serve --model {f['model']}` (uvicorn, runtime `{f.get('runtime', 'auto')}`), {f['files']} EmoDB files "
           f"({f['audio_s']:.0f} s of audio) posted one after another: p50 **{f['p50_ms']:.0f} ms**, p95 {f['p95_ms']:.0f} ms, "
           f"max {f['max_ms']:.0f} ms per request; {f['audio_s_per_s']:.1f} s of audio per wall second; start-up "
           f"{f['startup_s']:.1f} s; server peak RSS {f['server_peak_rss_mb']:.0f} MB.")
    if len(f.get("runtimes", {})) > 1:
        out += "\n\n| `--runtime` | p50 | p95 | s of audio per s | start-up | server peak RSS |\n|---|---|---|---|---|---|\n"
        out += "\n".join(f"| {rt} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['audio_s_per_s']:.1f} | "
                          f"{r['startup_s']:.1f} s | {r['server_peak_rss_mb']:.0f} MB |" for rt, r in f["runtimes"].items())
        out += "\n\n"
    else:
        out += " "
    return out + source("service_latency")


def stream_latency(name: str = "stream_latency") -> str:
    f = load(name)["figures"]
    lines = ["| concurrent real-time streams | segments | after segment end p50 / p95 | processing p50 / p95 | keeps up |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['streams']} | {r['segments']} | {r['p50_after_segment_ms']:.0f} / {r['p95_after_segment_ms']:.0f} ms | "
              f"{r['p50_processing_ms']:.0f} / {r['p95_processing_ms']:.0f} ms | {'yes' if r['keeps_up'] else 'no'} |"
              for r in f["rounds"]]
    if f.get("context") == "trailing":
        how = (f"{f['window_seconds']:g} s trailing windows: each 1 s segment is encoded with the window that ends where "
               "it ends, so it waits only for its own audio; a tail shorter than 0.25 s is dropped, so nothing is held back; "
               "streams share the encoder, windows asked for together encoded in one call")
    else:
        how = (f"{f['window_seconds']:g} s tiled encoder windows: a 1 s segment waits for the audio its window needs, so the "
               "delay after a segment's end is bounded by the window, while the processing delay is the machine's")
    start = ("streams starting evenly over one second (independent users)" if f.get("staggered") else
             "all streams starting together, so their segments end at the same moments (the worst case)")
    return ("\n".join(lines) + f"\n\nModel `{f['model']}` ({how}); {f['seconds_per_stream']:.0f} s of speech per stream "
            f"in 20 ms frames, {start}. This machine keeps up with **{f['sustained_streams']}** real-time streams"
            f"{' (the most tried)' if all(r['keeps_up'] for r in f['rounds']) else ''}; server peak RSS "
            f"{f['server_peak_rss_mb']:.0f} MB" + (f"; `segser serve` answers /health {f['server_start_s']:.1f} s after it "
            f"is started, and a stream is ready {f['rounds'][0]['stream_ready_p50_ms']:.0f} ms after its WebSocket opens"
            if "server_start_s" in f else "") + ". " + source(name))


def stream_latency_live() -> str:
    return stream_latency("stream_latency-live") + "\n\n" + stream_latency("stream_latency-live-staggered")


def live_context() -> str:
    """Tiled against trailing windows: in-corpus (EmoDB, RAVDESS) and the cross-corpus matrix."""
    inc, cross = load("live-context-in-corpus"), load("live-context")
    by = {(r["pipeline"], r["corpus"]): r["summary"]["UA"] for r in inc["results"]}
    rows = {r["pipeline"]: r for r in cross["results"]}
    names = cross["corpora"]
    lines = ["| encoder context | EmoDB UA | RAVDESS UA | " + " | ".join(names) + " | cross-corpus mean |",
             "|---|---|---|" + "---|" * (len(names) + 1)]
    for pipe, label in (("tiled-5s", "tiled 5 s windows (today's models)"), ("trailing-5s", "trailing 5 s windows")):
        lines.append(f"| {label} | {pm(by[(pipe, 'emodb')])} | {pm(by[(pipe, 'ravdess')])} | "
                     + " | ".join(f"{rows[pipe]['held_out'][c]:.3f}" for c in names) + f" | **{rows[pipe]['mean_held_out_UA']:.3f}** |")
    d_in = [100 * (by[("trailing-5s", c)]["mean"] - by[("tiled-5s", c)]["mean"]) for c in ("emodb", "ravdess")]
    d_cross = 100 * (rows["trailing-5s"]["mean_held_out_UA"] - rows["tiled-5s"]["mean_held_out_UA"])
    return ("\n".join(lines) + f"\n\nTrailing minus tiled: EmoDB {d_in[0]:+.1f}, RAVDESS {d_in[1]:+.1f}, cross-corpus mean "
            f"{d_cross:+.1f} points (the bar for the live default: within 1 point on each). The v3 recipe (the built-in "
            "models'), 4 classes, 1 s segments, speaker-independent 5-fold in-corpus; leave-one-corpus-out across the "
            f"seven corpora ({', '.join(cross['evaluation_only'])} never trained on); seed 0. "
            + source("live-context-in-corpus") + " " + source("live-context"))


def multilingual() -> str:
    """Whisper base (multilingual) against tiny.en (English only) in the cross-corpus matrix (issue 22)."""
    doc = load("multilingual")
    rows = {r["pipeline"]: r for r in doc["results"]}
    names = doc["corpora"]
    speed = {(r["size"], r["context_s"]): r for r in load("whisper_speed")["figures"]["rows"]}
    lines = ["| encoder | " + " | ".join(names) + " | mean | ms per 2 s clip |", "|---|" + "---|" * (len(names) + 2)]
    for pipe, size in (("whisper-tiny.en-5s", "tiny.en"), ("whisper-base-5s", "base")):
        r = rows[pipe]
        lines.append(f"| Whisper {size} | " + " | ".join(f"{r['held_out'][c]:.3f}" for c in names)
                     + f" | **{r['mean_held_out_UA']:.3f}** | {speed[(size, 5.0)]['ms_per_clip']:.0f} |")
    tiny, base = rows["whisper-tiny.en-5s"], rows["whisper-base-5s"]
    gain = {c: 100 * (base["held_out"][c] - tiny["held_out"][c]) for c in names}
    return ("\n".join(lines) + "\n\nBase minus tiny.en: " + ", ".join(f"{c} {v:+.1f}" for c, v in gain.items())
            + f" points; mean {100 * (base['mean_held_out_UA'] - tiny['mean_held_out_UA']):+.1f} (issue 22's target for the "
            f"unadapted mean: 0.68). The v3 recipe (all layers, 5 s windows, 1 s segments, N = 200 head, corpus balance, "
            f"calibration), 4 classes, leave-one-corpus-out across the seven corpora ({', '.join(doc['evaluation_only'])} "
            "never trained on), no adaptation; seed 0. Time per clip: `benchmarks/whisper_speed.py` (torch, 2 s EmoDB "
            "clips). " + source("multilingual"))


def fewer_layers() -> str:
    """A smaller encoder (issue 25): the default's tiny.en tapped at a shallower layer, so fewer blocks run."""
    doc = load("fewer-layers")
    rows = {r["pipeline"]: r for r in doc["results"]}
    names = doc["corpora"]
    lines = ["| encoder | blocks run | " + " | ".join(names) + " | mean |", "|---|---|" + "---|" * (len(names) + 1)]
    ref = rows["whisper-tiny.en-5s"]
    for pipe, what, blocks in (("whisper-tiny.en-5s", "all layers (the default's recipe)", 4),
                               ("whisper-tiny.en-layer3-5s", "layer 3 alone", 3),
                               ("whisper-tiny.en-layer2-5s", "layer 2 alone", 2)):
        r = rows[pipe]
        lines.append(f"| tiny.en, {what} | {blocks} of 4 | " + " | ".join(f"{r['held_out'][c]:.3f}" for c in names)
                     + f" | **{r['mean_held_out_UA']:.3f}** |")
    worst = {pipe: min(100 * (rows[pipe]["held_out"][c] - ref["held_out"][c]) for c in names)
             for pipe in ("whisper-tiny.en-layer3-5s", "whisper-tiny.en-layer2-5s")}
    return ("\n".join(lines) + "\n\nLargest loss against all layers: layer 3 " + f"{worst['whisper-tiny.en-layer3-5s']:+.1f}, "
            f"layer 2 {worst['whisper-tiny.en-layer2-5s']:+.1f} points. The v3 recipe otherwise (5 s windows, 1 s "
            "segments, N = 200 head, corpus balance, calibration), 4 classes, leave-one-corpus-out across the seven "
            f"corpora ({', '.join(doc['evaluation_only'])} never trained on), no adaptation; seed 0. "
            + source("fewer-layers"))


def live_adaptation() -> str:
    f = load("live_adaptation")["figures"]
    c = f["conditions"]
    lines = ["| condition | mixed streams | one-emotion streams |", "|---|---|---|"]
    for name, v in c["mixed"].items():
        lines.append(f"| {name} | {v['mean']:.3f} | {c['one-emotion'][name]['mean']:.3f} |")
    live, off, none = (c["mixed"]["live, guarded (adapt=speaker)"], c["mixed"]["offline, guarded"], c["mixed"]["none"])
    one_live, one_none = c["one-emotion"]["live, guarded (adapt=speaker)"], c["one-emotion"]["none"]
    counts = "; ".join(f"{k} {v['mixed']} mixed / {v['one-emotion']} one-emotion streams, "
                       f"{v['scored_clips']['mixed']} / {v['scored_clips']['one-emotion']} clips scored"
                       for k, v in f["streams"].items())
    return ("\n".join(lines) + f"\n\nUA of the clips that start after {f['after_seconds']:.0f} s of a speaker's speech "
            f"(model `{f['model']}`, never trained on {', '.join(f['held_out'])}); means over the corpora with at least "
            f"{f['min_scored_clips']} scored clips (mixed: {', '.join(c['mixed']['none']['mean_over'])}; one emotion: "
            f"{', '.join(c['one-emotion']['none']['mean_over'])}). Live against offline on the same audio: "
            f"{100 * (live['mean'] - off['mean']):+.1f} points (target: within 2); against no adaptation: mixed "
            f"{100 * (live['mean'] - none['mean']):+.1f}, one emotion {100 * (one_live['mean'] - one_none['mean']):+.1f} "
            f"(target: no worse). Streams: {counts}. " + source("live_adaptation"))


def ray_throughput() -> str:
    f = load("ray_throughput")["figures"]
    lines = ["| path | workers | s of audio per wall s |", "|---|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {r['workers']} | {r['audio_s_per_s']:.1f} |" for k, r in f["paths"].items()]
    z = f["sizing"]
    return ("\n".join(lines) + f"\n\n{f['files']} real recordings ({f['audio_minutes']:.1f} min). Sizing from the measured "
            f"{z['per_core_audio_s_per_s']:.1f} s of audio per s per core: {z['audio_hours']:,} h of speech = "
            f"**{z['core_hours']:,.0f} core-hours**: {z['cores_for_one_day']:.0f} cores for one day, or "
            f"{z['hours_on_512_cores']:.1f} h on 512 cores. " + source("ray_throughput"))


def reliability() -> str:
    f = load("reliability")["figures"]
    head = (f"**{f['passed']} of {f['total']}** hostile and careless probes pass (the `reliability` tests in "
            "`tests/reliability/`: a real `segser serve`, WebSocket streams, the command line and Ray; each expects its "
            "status, no traceback, no server path in an answer, under 1 GB)."
            + (" Known to fail: " + "; ".join(f"`{p}`" for p in f["known_failing"]) + "." if f["known_failing"] else "")
            + (" Failing: " + "; ".join(f"`{p}`" for p in f["failed"]) + "." if f["failed"] else ""))
    rows = ["| probe under load | wall | server peak RSS | /health p99 |", "|---|---|---|---|"]
    for name, v in f["load"].items():
        rows.append(f"| `{name.split('::')[-1]}` | {v['seconds']:.0f} s | "
                    + (f"{v['server_peak_rss_mb']:.0f} MB" if "server_peak_rss_mb" in v else "-") + " | "
                    + (f"{v['health_p99_ms']:.0f} ms" if "health_p99_ms" in v else "-") + " |")
    longest = max(f["probes"], key=lambda p: p["seconds"])
    return (head + "\n\n" + "\n".join(rows) + f"\n\nThe longest probe: `{longest['probe'].split('::')[-1]}`, "
            f"{longest['seconds']:.0f} s" + (f", peak {longest['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in longest else "")
            + ". " + source("reliability"))


def training_corpora() -> str:
    f = load("training-corpora")["figures"]
    names = ("nemo", "emovo", "ased", "savee", "tess")
    lines = ["| recipe | trained on | seeds | " + " | ".join(names) + " | mean ASED/SAVEE/TESS ± std over seeds |",
             "|---|---|---|" + "---|" * len(names) + "---|"]
    for r in f["rows"]:
        cells = [f"{r['per_corpus_mean'][c]:.3f}" if c in r["per_corpus_mean"] else "(trained)" for c in names]
        lines.append(f"| {r['recipe']} | {' + '.join(r['train'])} | {len(r['seeds'])} | " + " | ".join(cells)
                     + f" | **{r['mean_unseen']:.3f} ± {r['std_unseen']:.3f}** |")
    return ("\n".join(lines) + f"\n\nUA on each corpus the candidate did not train on, mean over seeds (label set "
            f"`{f['label_set']}`, corpus-split protocol, the recipes of the cross-corpus suite). "
            + source("training-corpora"))


def shipped_vs_previous() -> str:
    old = load("v2-shipped-heldout")["figures"]["conditions"]["clean"]["per_corpus"]
    v3 = load("v3-shipped-heldout")["figures"]
    v4 = load("v4-shipped-heldout")["figures"]
    new = card("default-4class")
    columns = [old, v3["conditions"]["clean"]["per_corpus"], v4["conditions"]["clean"]["per_corpus"],
               new.get("held_out_corpora", {}).get("per_corpus", {})]
    trained = new["provenance"]["corpora"]
    lines = ["| corpus (never trained on unless marked) | v2 (EmoDB + RAVDESS) | v3 (+ nEMO, corpus balance, calibration) | "
             "v4 (v3 + tail rule + speech gate) | v5 `default-4class` (v4 + five heads + prior correction) |",
             "|---|---|---|---|---|"]
    for c in ("nemo", "emovo", "ased", "savee", "tess"):
        cells = [f"{col[c]['UA']:.3f}" if c in col else ("trained on" if i and c in trained else "")
                 for i, col in enumerate(columns)]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    never = ("ased", "savee", "tess")
    means = [f"**{sum(col[c]['UA'] for c in never) / 3:.3f}**" if all(c in col for c in never) else "" for col in columns]
    lines.append("| mean ASED/SAVEE/TESS | " + " | ".join(means) + " |")
    lines.append(f"| in-corpus (pooled, speaker 5-fold) | | {pm(v3['summary']['UA'])} | {pm(v4['summary']['UA'])} | "
                 f"{pm(new['summary']['UA'])} |")
    return ("\n".join(lines) + "\n\nUA over angry, happy, neutral, sad; ECE in the model cards. v2 column: "
            + source("v2-shipped-heldout")[len("Source: "):] + " v3 column: " + source("v3-shipped-heldout")[len("Source: "):]
            + " v4 column: " + source("v4-shipped-heldout")[len("Source: "):]
            + " v5 column: `src/segser/models/default-4class/card.json`.")


# the package in pipeline order: what a newcomer reads first
PIPELINE_ORDER = ("settings", "errors", "options", "weights", "io", "segmentation", "encoders", "heads", "model",
                  "adaptation", "diarization", "words", "results", "pipeline", "serving", "runtime", "training", "models",
                  "cli")


def module_map() -> str:
    """The package's tree in pipeline order: each module or package with the first sentence of its docstring."""
    import ast

    src = ROOT / "src" / "segser"

    def summary(path: Path) -> str:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        first = " ".join(doc.split("\n\n")[0].split()).split(". ")[0].rstrip(".")
        return first.split(": ")[0] if len(first) > 100 else first

    lines = ["```", "src/segser/"]
    for name in PIPELINE_ORDER:
        pkg = src / name
        if pkg.is_dir() and (pkg / "__init__.py").exists():
            modules = sorted(m.stem for m in pkg.glob("*.py") if m.stem != "__init__") + sorted(
                d.name + "/" for d in pkg.iterdir() if d.is_dir() and (d / "__init__.py").exists())
            lines.append(f"  {name + '/':<15} {summary(pkg / '__init__.py')}")
            lines.append(f"  {'':<15}   {', '.join(modules)}")
        elif pkg.is_dir():
            lines.append(f"  {name + '/':<15} the built-in models: {', '.join(sorted(d.name for d in pkg.iterdir() if d.is_dir()))}")
        else:
            lines.append(f"  {name + '.py':<15} {summary(src / f'{name}.py')}")
    missing = sorted(({p.stem for p in src.glob("*.py")} | {d.name for d in src.iterdir() if d.is_dir()})
                     - set(PIPELINE_ORDER) - {"__init__", "__pycache__"})
    if missing:
        raise SystemExit(f"module map: {', '.join(missing)} not in PIPELINE_ORDER")
    return "\n".join(lines + ["```", "", "Generated from the package's docstrings by `python benchmarks/render.py`."])


def headline() -> str:
    """The README's few figures: what the built-in models do on speech they never heard, a conversation's speakers,
    the words, the speed and the probes."""
    rows = ["| what | figure | measured on |", "|---|---|---|"]
    for name in ("default", "default-4class"):
        c = card(name)
        held = c["held_out_corpora"]["per_corpus"]
        never = [k for k in ("ased", "savee", "tess") if k in held]
        mean = sum(held[k]["UA"] for k in never) / len(never)
        classes = round(1 / c["chance"]["UA"])
        rows.append(f"| `{name}` ({classes} classes), unadapted UA on corpora it never trained on | {mean:.3f} (chance "
                    f"{c['chance']['UA']:.3f}) | {', '.join(never)} (Opus copies); [card](src/segser/models/{name}/card.json) |")
    conv = load("conversations")["figures"]["sample"]
    rows.append(f"| speakers of a real two-speaker call | {conv['speakers_found']} of {conv['speakers_true']}, DER "
                f"{100 * conv['DER']['collar_0.25']:.1f} % | `sample.wav` and its RTTM; `benchmarks/results/conversations.json` |")
    if (RESULTS / "transcripts.json").exists():
        wer = load("transcripts")["figures"]["wer"]
        rows.append(f"| word error rate, offline | TESS {100 * wer['tess']['WER']:.1f} % (tiny.en), nEMO "
                    f"{100 * wer['nemo']['WER']:.1f} % (base, Polish), EmoDB {100 * wer['emodb']['WER']:.1f} % (base, German) | "
                    f"{wer['tess']['clips']} + {wer['nemo']['clips']} Opus clips, 7 unaltered EmoDB files; "
                    "`benchmarks/results/transcripts.json` |")
        conv = load("transcripts")["figures"]["conversations"]
        rows.append("| emotion per turn, a row per utterance against per 1 s window (speakers found) | " + ", ".join(
            f"{c.upper()} {v['turn_UA']['utterances, found speakers']:.3f} vs {v['turn_UA']['windows, found speakers']:.3f}"
            for c, v in conv.items()) + " UA; label changes per minute of speech " + ", ".join(
            f"{v['label_changes_per_minute']['utterances']:.0f} vs {v['label_changes_per_minute']['windows']:.0f}"
            for v in conv.values()) + " | built two-speaker conversations of real Opus clips; "
            "`benchmarks/results/transcripts.json` |")
    fast = load("fastest_path")["figures"]
    best = fast["paths"][fast["default"]]
    rows.append(f"| one hour of speech, default runtime | {best['wall_s']:.0f} s ({best['x_realtime']:.0f}x real time), "
                f"{best['peak_rss_mb']:.0f} MB; one clip from the command line {fast['start_up']['median_s']:.2f} s | "
                "2 cores; `benchmarks/results/fastest_path.json` |")
    rel = load("reliability")["figures"]
    rows.append(f"| hostile and careless probes | {rel['passed']} of {rel['total']} pass | "
                "`benchmarks/results/reliability.json` |")
    return "\n".join(rows)


def clip_confidence() -> str:
    """Coverage and accuracy of clip decisions kept at a minimum of m times chance (benchmarks/clip_confidence.py)."""
    f = load("clip-confidence")["figures"]
    corpora = f["corpora"]
    out = []
    for name, m in f["models"].items():
        out += [f"**`{name}`** ({len(m['classes'])} classes; clips: "
                + ", ".join(f"{c} {m['clips'][c]}" for c in corpora) + "; accuracy of every decision: "
                + ", ".join(f"{c} {m['accuracy_all'][c]:.3f}" for c in corpora) + ")", "",
                "| minimum (x chance) | probability | " + " | ".join(f"{c}: kept, accuracy" for c in corpora)
                + " | mean kept | mean accuracy kept | accuracy of the dropped |", "|---" * (5 + len(corpora)) + "|"]
        for mult, row in m["rows"].items():
            dropped = [row[c]["accuracy_dropped"] for c in corpora if row[c]["accuracy_dropped"] is not None]
            cells = [f"{100 * row[c]['coverage']:.0f} %, {row[c]['accuracy_kept']:.3f}" for c in corpora]
            out.append(f"| {mult} | {row['floor']:.3f} | " + " | ".join(cells) + f" | {100 * row['mean_coverage']:.0f} % | "
                       f"{row['mean_accuracy_kept']:.3f} | {sum(dropped) / len(dropped):.3f} |" if dropped else
                       f"| {mult} | {row['floor']:.3f} | " + " | ".join(cells) + f" | {100 * row['mean_coverage']:.0f} % | "
                       f"{row['mean_accuracy_kept']:.3f} | |")
        out.append("")
    return "\n".join(out) + ("Each clip alone, unadapted, the default rule (softmax of the mean logit at the model's "
                             "temperature); Opus-compressed copies of ASED, SAVEE and TESS, which no built-in model trained on. "
                             + source("clip-confidence"))


def transcripts() -> str:
    """Words and feelings (benchmarks/transcripts.py): WER, emotion per utterance against per window, stability,
    an hour of conversation."""
    f = load("transcripts")["figures"]
    w = f["wer"]
    out = ["| recordings | recogniser | clips | words | word error rate |", "|---|---|---|---|---|"]
    for name, label in (("tess", "TESS (Opus copy), carrier phrase and target word"),
                        ("nemo", "nEMO (Opus copy), Polish, normalised transcripts"),
                        ("emodb", "EmoDB, the 7 unaltered files, German, the corpus's sentences")):
        out.append(f"| {label} | {w[name]['asr']} | {w[name]['clips']} | {w[name]['words']} | {100 * w[name]['WER']:.1f} % |")
    out += ["", "Emotion per reference turn on the two-speaker conversations built from real clips (4 classes, "
            f"`{f['model']}`, UA over turns; the rows' emotion with the speakers found and with the true speakers, each "
            "adapted per speaker as shipped, and unadapted):", "",
            "| rows | " + " | ".join(f"{c} ({f['conversations'][c]['turns']} turns)" for c in f["conversations"]) + " |",
            "|---|" + "---|" * len(f["conversations"])]
    names = list(next(iter(f["conversations"].values()))["turn_UA"])
    for n in names:
        out.append(f"| {n} | " + " | ".join(f"{f['conversations'][c]['turn_UA'][n]:.3f}" for c in f["conversations"]) + " |")
    out += ["", "| how steady the timeline is (label changes per minute of speech) | windows | utterances |", "|---|---|---|",
            f"| sample.wav (real call, speakers found) | {f['sample']['windows']:.1f} | {f['sample']['utterances']:.1f} |"]
    for c, v in f["conversations"].items():
        out.append(f"| {c} conversations | {v['label_changes_per_minute']['windows']:.1f} | "
                   f"{v['label_changes_per_minute']['utterances']:.1f} |")
    cuts = list(next(iter(f["conversations"].values()))["turn_UA_by_cut"])
    shipped = "cut at speaker changes" if SPLIT_AT_SPEAKER else "the speaker of most of it"
    out += ["", f"How utterances are cut (turn UA, speakers found, adapted per speaker; shipped: {shipped}, "
            "with a row per segment of the speech the recogniser left without words):", "",
            "| utterances | " + " | ".join(f["conversations"]) + " |", "|---|" + "---|" * len(f["conversations"])]
    for n in cuts:
        out.append(f"| {n} | " + " | ".join(f"{f['conversations'][c]['turn_UA_by_cut'][n]:.3f}" for c in f["conversations"]) + " |")
    out += ["", "Which speaker an utterance names (the share of the words' time said by the speaker their utterance names, "
            "found speakers matched to the true ones): " + "; ".join(
                f"{c}: the speaker of most of it {v['word_time_with_the_true_speaker']['majority']:.3f}, cut at speaker "
                f"changes {v['word_time_with_the_true_speaker']['split at changes']:.3f}" for c, v in f["conversations"].items())
            + "."]
    if "temperatures" in f:
        out += ["", "| 3 minutes through tiny.en, fresh decoding at each temperature that fails Whisper's tests "
                "| audio | wall | words kept |",
                "|---|---|---|---|"]
        for k, v in f["temperatures"].items():
            out.append(f"| {k.replace('ased', 'ASED (Amharic)').replace('savee', 'SAVEE (English)')} temperatures | "
                       f"{v['audio_s']:.0f} s | {v['wall_s']:.0f} s | {v['words']} |")
    if "long" in f:
        lg = f["long"]
        out += ["", f"| {lg['audio_minutes']:.0f} minutes of English conversation (SAVEE turns), fresh processes | wall | "
                "x real time | peak RSS |", "|---|---|---|---|"]
        for k, v in lg.items():
            if isinstance(v, dict):
                command = "segser " + k if k.startswith("predict") else "segser predict " + k
                out.append(f"| `{command}` | {v['wall_s']:.0f} s | {lg['audio_minutes'] * 60 / v['wall_s']:.0f}x | "
                           f"{v['peak_rss_mb']} MB |")
    return "\n".join(out) + "\n\n" + source("transcripts")


def default_drop() -> str:
    """The built-in models on corpora they never trained on, version by version, per class (benchmarks/default_drop.py)."""
    f = load("default-drop")["figures"]
    out = []
    for builtin, rows in f["models"].items():
        classes = sorted({c for v in rows.values() for per in v.values() for c in per["predicted_share"]})
        out += [f"| `{builtin}`, inference gate | corpus | UA | " + " | ".join(f"recall {c}" for c in classes)
                + " | lowest recall | most decided class (share) |", "|---|---|---|" + "---|" * len(classes) + "---|---|"]
        for name, per in rows.items():
            for corpus, v in per.items():
                recall, share = v["recall"], v["predicted_share"]
                top = max(share, key=share.get)
                out.append(f"| {name} | {corpus} | {v['UA']:.3f} | "
                           + " | ".join(f"{recall[c]:.2f}" if c in recall else "-" for c in classes)
                           + f" | {min(recall.values()):.2f} | {top} ({share[top]:.2f}) |")
        out.append("")
    commits = ", ".join(f"{k} {c}" for k, c in f["versions"].items() if c)
    return ("\n".join(out) + f"\nEach clip alone, unadapted; earlier versions are the built-in models of their commits "
            f"({commits}), v5 the models shipped now. " + source("default-drop"))


def candidates_table(name: str) -> list[str]:
    """One result file of benchmarks/default_candidates.py as a table."""
    f = load(name)["figures"]
    never, matrix, seconds = f["never_trained"], bool(f["matrix"]), f.get("seconds_per_clip")
    out = [f"Label set `{f['label_set']}`, trained on {' + '.join(f['trained_on'])}, seeds {f['seeds'][0]}-{f['seeds'][-1]}:",
           "", "| candidate | " + " | ".join(f"{c} UA" for c in never) + " | **mean** | lowest class recall ("
           + ", ".join(never) + ")" + (" | leave-one-corpus-out mean (7 corpora)" if matrix else "")
           + (" | encoder time per clip" if seconds else "") + " |",
           "|---|" + "---|" * len(never) + "---|---|" + ("---|" if matrix else "") + ("---|" if seconds else "")]
    for cand, row in f["unseen"].items():
        cells = " | ".join(f"{row[c]['UA']:.3f}" + (f" ± {row[c]['UA_std']:.3f}" if row[c]["UA_std"] else "") for c in never)
        low = ", ".join(f"{row['lowest_recall'][c]:.2f}" for c in never)
        extra = (f" | {f['matrix'][cand]['mean']:.3f}" if cand in f["matrix"] else " |" if matrix else "") + (
            f" | {1000 * row['seconds_per_clip']:.0f} ms" if seconds else "")
        out.append(f"| {cand} | {cells} | **{row['mean']:.3f}** | {low}{extra} |")
    return out + ["", source(name)]


def default_candidates() -> str:
    """What the built-in defaults could ship, on never-trained corpora and the leave-one-corpus-out matrix
    (benchmarks/default_candidates.py)."""
    out = []
    for name in ("default-candidates", "default-candidates-shared6"):
        if (RESULTS / f"{name}.json").exists():
            out += candidates_table(name) + [""]
    return "\n".join(out)


def default_candidates_fusion() -> str:
    """Late fusion of encoders that install offline (benchmarks/default_candidates.py --fusion)."""
    return "\n".join(candidates_table("default-candidates-fusion"))


def default_shared6_candidates() -> str:
    """The six-class v5 candidates, which did not ship."""
    f = load("default-shared6-v5-candidates")["figures"]
    plain, prior = f["five heads"]["per_corpus"], f["five heads + prior correction"]["per_corpus"]
    never = ("ased", "savee", "tess")
    out = ["| corpus | v4 (shipped) | five heads | five heads + prior correction | disgust recall with the correction |",
           "|---|---|---|---|---|"]
    v4 = card("default")["held_out_corpora"]["per_corpus"]
    for c in never:
        out.append(f"| {c} | {v4[c]['UA']:.3f} | {plain[c]['UA']:.3f} | {prior[c]['UA']:.3f} | "
                   + (f"{prior[c]['recall']['disgust']:.2f}" if "disgust" in prior[c]["recall"] else "-") + " |")
    means = [sum(x[c]["UA"] for c in never) / 3 for x in (v4, plain, prior)]
    out.append("| mean | " + " | ".join(f"**{m:.3f}**" for m in means) + " | |")
    adapt = f["adaptation, UA"]
    out += ["", "| default adaptation (`--adapt auto`, speakers given) | " + " | ".join(adapt) + " |",
            "|---|" + "---|" * len(adapt)]
    for row in next(iter(adapt.values())):
        out.append(f"| {row} | " + " | ".join(f"{v[row]:.3f}" for v in adapt.values()) + " |")
    offsets = ", ".join(f"{k} {v:+.2f}" for k, v in f["five heads + prior correction"]["offsets"].items())
    return "\n".join(out) + f"\n\nThe correction's offsets: {offsets}. " + source("default-shared6-v5-candidates")


def long_recordings() -> str:
    """Peak memory against a recording's length, and voices found as a call repeats (benchmarks/long_recordings.py)."""
    f = load("long-recordings")["figures"]
    out = ["| `segser predict` (default model and runtime, adapted as its own group) | wall | peak RSS |", "|---|---|---|"]
    for label, v in f["predict"].items():
        out.append(f"| the real call repeated to {label} ({v['segments']} segments) | {v['wall_s']:.0f} s | {v['peak_rss_mb']} MB |")
    m = f["meeting"]
    out.append(f"| a {m['hours']:g} h meeting (ASED conversations), `--speakers auto`, `default-4class` | {m['wall_s']:.0f} s | "
               f"{m['peak_rss_mb']} MB |")
    out += ["", "| `--speakers auto` on | voices found |", "|---|---|"]
    for label, v in f["voices"].items():
        out.append(f"| {label} | {v['speakers_found']} |")
    first, *_, last = f["predict"].values()
    return ("\n".join(out) + f"\n\nThe longest recording's peak is {100 * (last['peak_rss_mb'] / first['peak_rss_mb'] - 1):+.1f} % "
            "of the 10-minute one's. The call is `sample.wav` (two voices). " + source("long-recordings"))


SECTIONS = {
    "long-recordings": long_recordings,
    "default-drop": default_drop,
    "default-candidates": default_candidates,
    "default-candidates-fusion": default_candidates_fusion,
    "default-shared6-candidates": default_shared6_candidates,
    "transcripts": transcripts,
    "clip-confidence": clip_confidence,
    "headline": headline,
    "module-map": module_map,
    "builtin-models": builtin_models,
    "cross-corpus": cross_corpus,
    "cross-corpus-adapted": cross_corpus_adapted,
    "speaker-adaptation": speaker_adaptation,
    "in-corpus-pooled": in_corpus_pooled,
    "segment-evidence": segment_evidence,
    "adaptation": adaptation,
    "adaptation-shared6": adaptation_shared6,
    "adaptation-probes": adaptation_probes,
    "trained-adaptation": trained_adaptation,
    "speech-gate": speech_gate,
    "conversations": conversations,
    "training-corpora": training_corpora,
    "shipped-vs-previous": shipped_vs_previous,
    "noise": noise,
    "fastest-path": fastest_path,
    "frontend-vggish": frontend_vggish,
    "whisper-speed": whisper_speed,
    "service-latency": service_latency,
    "stream-latency": stream_latency,
    "stream-latency-live": stream_latency_live,
    "live-context": live_context,
    "multilingual": multilingual,
    "fewer-layers": fewer_layers,
    "live-adaptation": live_adaptation,
    "ray-throughput": ray_throughput,
    "reliability": reliability,
    "standard": standard,
    "whisper-base": whisper_base,
    "transfer": transfer,
}


def render(text: str, page: Path) -> str:
    def replace(m):
        name = m.group("name")
        if name not in SECTIONS:
            raise SystemExit(f"{page}: unknown render section {name!r}")
        body = SECTIONS[name]().rstrip()
        if DOCS in page.parents:
            body = for_site(body, page)
        return m.group(1) + body + "\n" + m.group(4)

    return BLOCK.sub(replace, text)


def for_site(body: str, page: Path) -> str:
    """Repository links as plain names, image paths relative to the page."""
    up = "../" * (len(page.relative_to(DOCS).parts) - 1)
    body = re.sub(r"!\[([^\]]*)\]\(docs/img/", lambda m: f"![{m.group(1)}]({up}img/", body)
    return re.sub(r"(?<!!)\[([^\]]+)\]\((?:benchmarks|src|recipes|deploy)/[^)]+\)", r"\1", body)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="exit 1 if a page is not what the result files give")
    args = ap.parse_args()
    stale = []
    for page in pages():
        text = page.read_text()
        new = render(text, page)
        if new == text:
            continue
        if args.check:
            import difflib

            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), str(page), "rendered"))
            stale.append(page.relative_to(ROOT))
        else:
            page.write_text(new)
            print(f"rendered {len(BLOCK.findall(text))} sections of {page.relative_to(ROOT)}")
    if stale:
        print(f"{', '.join(map(str, stale))} differ from the result files: run python benchmarks/render.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
