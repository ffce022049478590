"""``segser`` command line: thin over the Python API."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def _kv(items) -> dict:
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _data_args(p):
    p.add_argument("--corpus", action="append", default=[], help="corpus name (emodb, ravdess, cremad, tess, savee, iemocap, csv, folders); repeat with --root")
    p.add_argument("--root", action="append", default=[], help="corpus root (or CSV file for --corpus csv), one per --corpus")
    p.add_argument("--csv", help="shorthand for --corpus csv --root FILE (columns path,label[,speaker])")
    p.add_argument("--labels", help="label set: all, 4class, shared6, AHSN, AESN, or 'angry,happy,sad,neutral,excited=happy'")


def _corpora(args) -> list[dict]:
    names, roots = list(args.corpus), list(args.root)
    if args.csv:
        names.append("csv")
        roots.append(args.csv)
    if len(names) != len(roots):
        raise SystemExit("segser: give one --root per --corpus")
    return [{"name": n, "root": r} for n, r in zip(names, roots)]


def cmd_train(args) -> int:
    from .segments import Segmentation
    from .train import TrainConfig, format_summary, run

    base = json.loads(Path(args.config).read_text()) if args.config else {}
    cfg = TrainConfig.from_dict(base) if base else TrainConfig()
    if args.corpus or args.csv:
        cfg.corpora = _corpora(args)
    for attr in ("labels", "protocol", "backbone", "head", "lr", "weight_decay", "batch_size", "patience", "seed", "aggregation"):
        v = getattr(args, attr)
        if v is not None:
            setattr(cfg, attr, v)
    if args.epochs is not None:
        cfg.max_epochs = args.epochs
    if args.backbone_opt:
        cfg.backbone_options = {**cfg.backbone_options, **_kv(args.backbone_opt)}
    if args.head_opt:
        cfg.head_options = {**cfg.head_options, **_kv(args.head_opt)}
    if args.hidden is not None:
        cfg.head_options = {**cfg.head_options, "hidden": args.hidden}
    if args.segment is not None or args.hop is not None or args.vad:
        s = cfg.segmentation
        length = args.segment if args.segment is not None else s.length
        cfg.segmentation = Segmentation(length=length, hop=args.hop if args.hop is not None else length,
                                        method="vad" if args.vad else s.method)
    if args.class_weights:
        cfg.class_weights = True
    if args.speaker_norm:
        cfg.speaker_norm = True
    if args.speaker_vectors:
        cfg.speaker_vectors = True
    if args.folds:
        cfg.folds = [int(f) for f in args.folds.split(",")]
    if args.no_final:
        cfg.final_model = False
    result = run(cfg, args.out, progress=not args.quiet)
    print(format_summary(result))
    print(f"run directory: {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_run, format_evaluation

    result = evaluate_run(args.run, _corpora(args), labels=args.labels, out=args.out, rule=args.aggregation,
                          noise=args.noise, snrs=args.snr, seed=args.seed)
    print(format_evaluation(result))
    return 0


def cmd_predict(args) -> int:
    import pandas as pd

    from .inference import (OUTPUT_FORMATS, Model, load_model, predict, results_json, segmentation_override,
                            segments_table, write_predictions)

    if args.out and Path(args.out).suffix.lower() not in OUTPUT_FORMATS:
        print(f"segser: error: {args.out}: unknown output format; use {', '.join(OUTPUT_FORMATS)}", file=sys.stderr)
        return 2
    inputs = list(args.inputs)
    model_ref = args.model
    if model_ref is None and len(inputs) > 1 and (Path(inputs[0]) / "model.pt").exists():
        model_ref = inputs.pop(0)  # segser predict RUN FILE...
    model: Model = load_model(model_ref)
    seg = segmentation_override(model, segment=args.segment, hop=args.hop, vad=args.vad)
    timeline, decisions, errors = predict(inputs, model, rule=args.aggregation, progress=not args.quiet, segmentation=seg)
    if args.plot and len(decisions):
        from .audio import load
        from .plots import plot_timeline

        for i, f in enumerate(decisions.index):
            out = Path(args.plot)
            if len(decisions) > 1:
                out = out.with_name(f"{out.stem}_{i:03d}_{Path(f).stem}{out.suffix}")
            x = load(f, sample_rate=16000)
            d = decisions.loc[f]
            plot_timeline(x, 16000, timeline.loc[f].reset_index(), model.classes, out,
                          title=f"{Path(f).name}: {d['label']} ({d['rule']})")
    if args.out:
        write_predictions(args.out, model, timeline, decisions, errors)
        print(f"wrote {args.out} ({len(decisions)} files, {len(timeline)} segments)", file=sys.stderr)
    if args.json:
        print(json.dumps(results_json(model, timeline, decisions, errors), indent=2))
    elif args.csv:
        segments_table(timeline, decisions).to_csv(sys.stdout, index=False, float_format="%.4f")
    else:
        with pd.option_context("display.width", 160, "display.max_rows", 200):
            for f, d in decisions.iterrows():
                print(f"== {f}  ({d['duration']:.2f} s, {d['n_segments']} segments)")
                t = timeline.loc[f].reset_index()
                print(f"   {'start':>7} {'end':>7}  {'emotion':<9} score   " + " ".join(f"{c[:7]:>7}" for c in model.classes))
                for _, r in t.iterrows():
                    print(f"   {r['start']:7.2f} {r['end']:7.2f}  {r['label']:<9} {r['score']:.2f}    "
                          + " ".join(f"{r['p_' + c]:7.2f}" for c in model.classes))
                print(f"   clip: {d['label']} (score {d['score']:.2f}, rule {d['rule']})"
                      + (f"  [{d['notes']}]" if d["notes"] else ""))
    for k, msg in errors.items():
        print(f"segser: skipped {msg}", file=sys.stderr)
    return 0 if len(decisions) else 1


def cmd_benchmark(args) -> int:
    from .benchmark import load_suite, run_suite

    suite = load_suite(args.suite)
    folds = [int(f) for f in args.folds.split(",")] if args.folds else None
    payload = run_suite(suite, args.out, progress=not args.quiet, folds=folds)
    print((Path(args.out) / "report.md").read_text())
    return 0 if payload["results"] else 1


def cmd_corpus(args) -> int:
    from . import corpora, labels as labelsets

    df = corpora.load(args.name, args.root)
    if args.labels:
        df, _ = labelsets.apply(df, args.labels)
    print(f"{args.name} at {args.root}")
    print(corpora.summary(df))
    if args.out:
        from .fileio import write_text

        write_text(Path(args.out), df.to_csv(index=False))
        print(f"manifest written to {args.out}")
    return 0


def cmd_weights(args) -> int:
    from .weights import availability

    rows = availability()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        status = f"found  {r['found']}" if r["found"] else ("online only: " + r["url"] if r["url"] else "MISSING")
        print(f"{r['name']:<20} {status}\n{'':<20} {r['description']}; override with ${r['env']}")
    return 0


def cmd_serve(args) -> int:
    from .service import serve

    serve(args.model, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="segser", description="Segment-level speech emotion recognition with transfer learning")
    p.add_argument("--version", action="version", version=f"segser {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="cross-validate a head on a backbone and write a run directory")
    _data_args(t)
    t.add_argument("--config", help="JSON config (see recipes/); command-line options override it")
    t.add_argument("--protocol", help="loso, loso-session, speaker-kfold:K, groups:1-4,5-8,..., kfold:K, random (default: the corpus's speaker-independent protocol)")
    t.add_argument("--backbone", help="logmel, vggish, whisper")
    t.add_argument("--backbone-opt", action="append", metavar="KEY=VALUE", help="e.g. size=tiny.en layer=3 context=30")
    t.add_argument("--head", help="segment (paper 001, N hidden), mlp (baseline), linear, layersum")
    t.add_argument("--head-opt", action="append", metavar="KEY=VALUE")
    t.add_argument("--hidden", type=int, help="hidden units N of the segment head (paper: 200)")
    t.add_argument("--segment", type=float, help="segment length in seconds (default 1.0)")
    t.add_argument("--hop", type=float, help="segment hop in seconds (1.0 non-overlapping, 0.5 overlapping)")
    t.add_argument("--vad", action="store_true", help="voice-activity segments instead of fixed windows")
    t.add_argument("--lr", type=float)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--epochs", type=int, help="maximum epochs")
    t.add_argument("--patience", type=int, help="early-stopping patience (epochs)")
    t.add_argument("--class-weights", action="store_true", help="class-weighted cross-entropy (paper 004)")
    t.add_argument("--speaker-norm", action="store_true", help="per-speaker feature normalisation (needs several clips per speaker at test time)")
    t.add_argument("--speaker-vectors", action="store_true", help="append each speaker's mean embedding (003's i-vector role)")
    t.add_argument("--aggregation", choices=["mean_logits", "majority", "unique_majority", "summed_posteriors"])
    t.add_argument("--seed", type=int)
    t.add_argument("--folds", help="run only these fold indices, e.g. 0,1")
    t.add_argument("--no-final", action="store_true", help="skip training the final model on all clips")
    t.add_argument("--out", required=True, help="run directory to write")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a trained run's model on other data")
    e.add_argument("run", help="run directory (or built-in model name)")
    _data_args(e)
    e.add_argument("--aggregation", default="mean_logits", choices=["mean_logits", "majority", "unique_majority", "summed_posteriors"])
    e.add_argument("--noise", help="folder of noise recordings for noisy test sets")
    e.add_argument("--snr", type=float, nargs="*", default=[], help="SNRs in dB for the noisy test sets")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", help="write evaluation.json here")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="emotion timeline and clip decision for audio files or folders")
    pr.add_argument("inputs", nargs="+", help="audio files or folders (optionally a run directory first)")
    pr.add_argument("--model", help="run directory or built-in model name (default: the built-in default model)")
    pr.add_argument("--aggregation", default="mean_logits", choices=["mean_logits", "majority", "unique_majority", "summed_posteriors"])
    pr.add_argument("--segment", type=float, help="segment length (s), overriding the model's")
    pr.add_argument("--hop", type=float, help="segment hop (s)")
    pr.add_argument("--vad", action="store_true", help="segments follow speech (Silero VAD); silence gets no emotion")
    fmt = pr.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="segment timeline as CSV")
    pr.add_argument("--plot", help="PNG path for the timeline plot")
    pr.add_argument("--out", help="also write the results (atomically): .json (as --json), .csv (segments with the "
                                  "clip label) or .txt (Audacity label track: start, end, emotion)")
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=cmd_predict)

    b = sub.add_parser("benchmark", help="run a suite of pipelines x corpora; write results.json and report.md")
    b.add_argument("--suite", required=True, help="suite JSON (see benchmarks/suites/)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--folds", help="only these fold indices (smoke runs)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_benchmark)

    s = sub.add_parser("serve", help="HTTP service: POST /predict an audio file, get its timeline and decision")
    s.add_argument("--model", action="append", help="run directory or built-in model name; repeat to serve several (default: default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--max-upload-mb", type=float, default=200.0)
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("weights", help="every pretrained file segser knows and where it is found offline")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_weights)

    c = sub.add_parser("corpus", help="summarise a corpus and write its manifest")
    c.add_argument("name", help="emodb, ravdess, cremad, tess, savee, iemocap, csv, folders")
    c.add_argument("root")
    c.add_argument("--labels")
    c.add_argument("--out", help="manifest CSV to write")
    c.set_defaults(func=cmd_corpus)
    return p


def main(argv=None) -> int:
    from .audio import AudioError
    from .corpora import CorpusError
    from .inference import ModelError
    from .labels import LabelError
    from .protocols import ProtocolError
    from .weights import WeightsNotFound

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (AudioError, CorpusError, ModelError, LabelError, ProtocolError, WeightsNotFound, FileNotFoundError) as exc:
        print(f"segser: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
