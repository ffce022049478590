"""Renders the README's figures from the committed result files, so that every
number there has a file and a command behind it.

The README marks each generated part:

    <!-- render: NAME -->
    ...generated text...
    <!-- /render -->

    python benchmarks/render.py           # rewrite the marked parts of README.md
    python benchmarks/render.py --check   # exit 1 if README.md differs from the result files
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
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
        bits.append(f"{doc['date']}, {m['cpu']}, {m['cores']} cores")
    if doc.get("busy_warning"):
        bits.append(f"note: {doc['busy_warning']}")
    return "Source: " + "; ".join(bits) + (f". {extra}" if extra else ".")


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


SECTIONS = {
    "standard": standard,
    "whisper-base": whisper_base,
    "transfer": transfer,
}


def render(text: str) -> str:
    def replace(m):
        name = m.group("name")
        if name not in SECTIONS:
            raise SystemExit(f"README.md: unknown render section {name!r}")
        return m.group(1) + SECTIONS[name]().rstrip() + "\n" + m.group(4)

    return BLOCK.sub(replace, text)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the result files give")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    text = args.readme.read_text()
    new = render(text)
    if args.check:
        if new != text:
            import difflib

            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), "README.md", "rendered"))
            print("README.md differs from the result files: run python benchmarks/render.py", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    print(f"rendered {len(BLOCK.findall(text))} sections of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
