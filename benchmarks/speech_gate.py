"""What the speech gate costs in accuracy: models evaluated on the corpora they never trained on (4 classes)
with segments under each gate taken out of the clip decision (0: every segment votes, silence included).

    python benchmarks/speech_gate.py MODEL=NAME_OR_RUN [MODEL=NAME_OR_RUN ...]

e.g. ``v3=default-4class v4=runs/v4-4class`` (the built-in model before and after the tail rule and the
gate). Writes benchmarks/results/speech-gate.json.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from segser.model import load_model  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training.config import CorpusSpec  # noqa: E402
from segser.training.evaluation import evaluate_model  # noqa: E402

CORPORA = ("emovo", "ased", "savee", "tess")
GATES = (0.0, 0.1, 0.2)


def main():
    models = dict(arg.split("=", 1) for arg in sys.argv[1:]) or {"built-in": "default-4class"}
    data = [CorpusSpec(c, str(data_dir() / c)) for c in CORPORA]
    rows = {}
    for label, ref in models.items():
        model = load_model(ref, runtime="torch")
        for gate in GATES:
            r = evaluate_model(model, data, labels="4class", progress=False, speech_gate=gate)
            pc = r["conditions"]["clean"]["per_corpus"]
            rows[f"{label} gate {gate:g}"] = {"model": label, "trained_with_gate": model.speech_gate, "gate": gate,
                                              "UA": {c: pc[c]["UA"] for c in CORPORA},
                                              "mean": sum(pc[c]["UA"] for c in CORPORA) / len(CORPORA)}
            print(label, gate, {c: round(pc[c]["UA"], 3) for c in CORPORA}, flush=True)
    save("speech-gate", {"corpora": list(CORPORA), "label_set": "4class", "models": models, "rows": rows})


if __name__ == "__main__":
    main()
