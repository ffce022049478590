"""``segser`` command line: thin over the Python API.

Each training, evaluation, plotting or serving command imports its own machinery (scikit-learn, torch,
matplotlib, FastAPI) when it runs, so ``segser predict`` starts in a fraction of a second. A
:class:`~segser.errors.SegserError` (bad input, option, data or model) is
printed as one line and exits with status 2; ``--debug`` shows the traceback.
``predict`` exits with 1 when any input failed (the others are still done).
"""
from __future__ import annotations

import argparse
import json
import pkgutil
import sys
from pathlib import Path

from segser.adaptation.policy import ADAPT_MODES
from segser.diarization.turns import TurnOptions
from segser.encoders.backbones import REGISTRY, backbone_class, create
from segser.errors import ConfigError, SegserError, check_number, display_path
from segser.heads import HEADS, parse_head_options
from segser.io.audio import info
from segser.io.files import write_text
from segser.model import LIVE_MODEL, load_model
from segser.options import parse_pairs
from segser.pipeline import CLIP_CHANCE_MULTIPLE, Pipeline, PredictOptions, expand_inputs
from segser.results.aggregate import RULES
from segser.results.timeline import SPEECH_GATE
from segser.results.writers import CSVOutput, JSONOutput, TableOutput, check_writable, output_for
from segser.runtime import RUNTIMES
from segser.runtime.cluster import predict_to_parquet
from segser.runtime.onnx import PRECISIONS
from segser.segmentation.config import Segmentation
from segser.serving import listen as live_input
from segser.serving.limits import MAX_ACTIVE, MAX_WAITING
from segser.serving.stream import Stream
from segser.settings import __version__
from segser.weights import availability
from segser.words.transcribe import WordOptions


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535 (got {port})")
    return port


def _corpus_names() -> list[str]:
    """The corpus recipes (one module each), listed without importing them: the parser is built on every run."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent / "training" / "corpora")])
                  if m.name not in ("base", "generic"))


def _data_args(p):
    names = ", ".join([*_corpus_names(), "csv", "folders"])
    p.add_argument("--corpus", action="append", default=[], help=f"corpus name ({names}); repeat, one --root each")
    p.add_argument("--root", action="append", default=[], help="corpus root (or CSV file for --corpus csv), one per --corpus")
    p.add_argument("--csv", help="shorthand for --corpus csv --root FILE (columns path,label[,speaker])")
    p.add_argument("--labels", help="label set: all, 4class, shared6, AHSN, AESN, or 'angry,happy,sad,neutral,excited=happy'")


def _corpora(args):
    from segser.training.config import CorpusSpec

    names, roots = list(args.corpus), list(args.root)
    if args.csv:
        names.append("csv")
        roots.append(args.csv)
    if len(names) != len(roots):
        raise ConfigError("give one --root per --corpus")
    return tuple(CorpusSpec(n, r) for n, r in zip(names, roots))


def cmd_train(args) -> int:
    from segser.training.config import TrainConfig
    from segser.training.train import format_summary, run

    cfg = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    changes = {k: getattr(args, k) for k in ("labels", "protocol", "backbone", "head", "lr", "weight_decay", "batch_size",
                                             "patience", "seed", "aggregation") if getattr(args, k) is not None}
    if args.corpus or args.csv:
        changes["corpora"] = _corpora(args)
    if args.epochs is not None:
        changes["max_epochs"] = args.epochs
    backbone = changes.get("backbone", cfg.backbone)
    options = {} if "backbone" in changes and backbone != cfg.backbone else dict(cfg.backbone_options)
    if args.backbone_opt:
        options.update(parse_pairs(backbone_class(backbone).config_type, args.backbone_opt, where=f"--backbone-opt ({backbone})"))
    changes["backbone_options"] = options
    head = changes.get("head", cfg.head)
    head_options = {} if "head" in changes and head != cfg.head else dict(cfg.head_options)
    head_options.update(parse_head_options(head, args.head_opt))
    if args.hidden is not None:
        head_options["hidden"] = args.hidden
    changes["head_options"] = head_options
    if args.segment is not None or args.hop is not None or args.vad:
        changes["segmentation"] = cfg.segmentation.with_overrides(length=args.segment, hop=args.hop, vad=args.vad)
    if args.speech_gate is not None:
        changes["speech_gate"] = args.speech_gate
    for flag in ("class_weights", "speaker_norm", "speaker_vectors"):
        if getattr(args, flag):
            changes[flag] = True
    if args.folds:
        try:
            changes["folds"] = tuple(int(f) for f in args.folds.split(","))
        except ValueError:
            raise ConfigError(f"--folds must be fold indices like 0,1 (got {args.folds!r})") from None
    if args.no_final:
        changes["final_model"] = False
    for flag in ("mood_check", "adaptation_heads"):
        if getattr(args, f"no_{flag}"):
            changes[flag] = False
    cfg = TrainConfig.from_dict({**cfg.to_dict(), **{k: v for k, v in changes.items()}}) if changes else cfg
    if args.ray is not None:
        _embed_on_ray(cfg, args.ray or None, args.workers)
    result = run(cfg, args.out, progress=not args.quiet, overwrite=args.overwrite)
    print(format_summary(result))
    print(f"run directory: {args.out}")
    return 0


def _embed_on_ray(cfg, address, workers) -> None:
    """Fill the embedding cache from Ray workers (clean, and noisy copies if configured)."""
    from segser.training.ray_embed import embed_on_cluster
    from segser.training.train import load_data, noise_mixes

    data = load_data(cfg)
    for mix in [None, *noise_mixes(cfg)]:
        s = embed_on_cluster(data.manifest, cfg.backbone, cfg.backbone_options, cfg.segmentation, noise=mix,
                             address=address, workers=workers)
        print(f"embedded {s['clips']} clips on Ray ({s['segments']} segments, {s['errors']} unusable) in {s['seconds']:.0f} s",
              file=sys.stderr)


def cmd_embed(args) -> int:
    import pandas as pd

    from segser.training import corpora
    from segser.training import labels as labelsets
    from segser.training.data import embed_manifest
    from segser.training.ray_embed import embed_on_cluster, embeddings_to_parquet

    specs = _corpora(args)
    if not specs:
        raise ConfigError("give at least one --corpus and --root (or --csv)")
    options = parse_pairs(backbone_class(args.backbone).config_type, args.backbone_opt, where=f"--backbone-opt ({args.backbone})")

    seg = Segmentation().with_overrides(length=args.segment, hop=args.hop, vad=args.vad)
    manifest = pd.concat([corpora.load(c.name, c.root) for c in specs], ignore_index=True)
    manifest, classes = labelsets.apply(manifest, args.labels)
    if args.ray is not None:
        embed_on_cluster(manifest, args.backbone, options, seg, address=args.ray or None, workers=args.workers)
    bb = create(args.backbone, **options)
    emb = embed_manifest(manifest, bb, seg, progress=not args.quiet)
    out = embeddings_to_parquet(manifest, emb, args.out, classes=classes, describe=bb.describe())
    print(f"{len(emb.X)} segment embeddings of {len(manifest) - len(emb.errors)} clips ({emb.X.shape[1]}-d) in {out}")
    return 0


def cmd_evaluate(args) -> int:
    from segser.training.evaluation import evaluate_model, format_evaluation

    result = evaluate_model(args.run, list(_corpora(args)), labels=args.labels, out=args.out, rule=args.aggregation,
                            noise=args.noise, snrs=args.snr, seed=args.seed, progress=not args.quiet, adapt=args.adapt)
    print(format_evaluation(result))
    return 0


def prediction_options(args) -> PredictOptions:
    """The one :class:`~segser.pipeline.PredictOptions` of predict and listen, from their shared options."""
    return PredictOptions(segment=args.segment, hop=args.hop, vad=args.vad, rule=args.aggregation,
                          min_score=args.min_score, clip_min_score=args.clip_min_score, speech_gate=args.speech_gate,
                          adapt=getattr(args, "adapt", "none"))


def speaker_options(args) -> tuple[object, TurnOptions | None]:
    """``--speakers`` and, with ``auto``, the turn options (a number of speakers given without it is an error)."""
    if args.speakers != "auto":
        if args.num_speakers is not None or args.max_speakers is not None:
            raise ConfigError("--num-speakers and --max-speakers go with --speakers auto")
        return args.speakers, None
    given = {k: v for k, v in (("num_speakers", args.num_speakers), ("max_speakers", args.max_speakers)) if v is not None}
    return "auto", TurnOptions(**given)


def word_options(args) -> WordOptions | None:
    """``--transcribe`` and its options (which are errors without it)."""
    given = {k: getattr(args, k) for k in ("language", "asr", "segments") if getattr(args, k) is not None}
    if not args.transcribe:
        if given:
            raise ConfigError(f"--{next(iter(given))} goes with --transcribe")
        return None
    return WordOptions(**given)


def cmd_predict(args) -> int:
    inputs = list(args.inputs)
    model_ref = args.model
    if model_ref is None and len(inputs) > 1 and Path(inputs[0]).is_dir() and (
            (Path(inputs[0]) / "model.pt").exists() or (Path(inputs[0]) / "export.json").exists()):
        model_ref = inputs.pop(0)  # segser predict RUN FILE...
    options = prediction_options(args)
    speakers, turns = speaker_options(args)
    words = word_options(args)
    if args.ray is not None:
        return _predict_on_ray(args, inputs, model_ref, options, speakers, turns, words)
    if args.plot:
        check_writable(args.plot, "plot")
    pipeline = Pipeline(model_ref, options, speakers=speakers, turns=turns, transcribe=words or False, runtime=args.runtime,
                        precision=args.precision, envelope=bool(args.plot))
    several = len(expand_inputs(inputs)[0]) > 1
    classes, name = pipeline.classes, pipeline.model.name
    outputs = [output_for(args.out, classes, model_name=name, several=several)] if args.out else []
    shown = JSONOutput if args.json else CSVOutput if args.csv else TableOutput
    outputs.append(shown(classes, model_name=name, several=several))
    failed = ok = 0
    try:
        for result in pipeline.run(inputs, progress=not args.quiet):
            for o in outputs:
                o.add(result)
            if not result.ok:
                failed += 1
                print(f"segser: skipped {result.error}", file=sys.stderr)
                continue
            ok += 1
            if args.plot:
                _plot(args.plot, result, classes, several, ok - 1)
    except BaseException:
        for o in outputs:
            o.abort()
        raise
    for o in outputs:
        if not o.close():
            print(f"segser: {display_path(o.path)} not written: no input could be used", file=sys.stderr)
    if args.out and outputs[0].n_ok:
        print(f"wrote {args.out} ({ok} files, {failed} failed, {outputs[0].n_segments} segments)", file=sys.stderr)
    return 1 if failed or not ok else 0


def _predict_on_ray(args, inputs, model_ref, options, speakers, turns, words) -> int:
    if not args.out or Path(args.out).suffix:
        raise ConfigError("with --ray, --out names the folder of the Parquet dataset (segments/, decisions/, errors/)")
    if args.plot or args.json or args.csv:
        raise ConfigError("with --ray the results go to --out only (no --plot, --json or --csv)")
    summary = predict_to_parquet(inputs, args.out, model=model_ref, address=args.ray or None, workers=args.workers,
                                 runtime=args.runtime, options=options, speakers=speakers, turn_options=turns,
                                 words=words)
    for error in summary["failures"].values():
        print(f"segser: failed {error}", file=sys.stderr)
    print(f"this run: {summary['processed']} files predicted ({summary['skipped_done']} already done), "
          f"{summary['segments']} segments, {summary['errors']} failed; the folder {args.out} now holds "
          f"{summary['done_in_folder']} done and {summary['failed_in_folder']} failed of the {summary['files']} inputs"
          + (f", {summary['missing_in_folder']} missing" if summary["missing_in_folder"] else ""), file=sys.stderr)
    if summary["superseded_batches"]:
        print(f"{summary['superseded_batches']} batches not written: a later run took over {args.out}; "
              "rerun to finish", file=sys.stderr)
    return 1 if summary["failed_in_folder"] or summary["missing_in_folder"] or summary["superseded_batches"] else 0


def _plot(path, result, classes, several: bool, index: int) -> None:
    from segser.results.plots import plot_timeline

    out = Path(path)
    if several:
        out = out.with_name(f"{out.stem}_{index:03d}_{Path(result.file).stem}{out.suffix}")
    d = result.decision
    plot_timeline(result.envelope, result.segments, classes, out, title=f"{Path(result.file).name}: {d.label} ({d.rule})",
                  turns=result.turns)


def cmd_benchmark(args) -> int:
    from segser.training.benchmark import load_suite, run_suite

    suite = load_suite(args.suite)
    folds = None
    if args.folds:
        try:
            folds = tuple(int(f) for f in args.folds.split(","))
        except ValueError:
            raise ConfigError(f"--folds must be fold indices like 0,1 (got {args.folds!r})") from None
    payload = run_suite(suite, args.out, progress=not args.quiet, folds=folds)
    print((Path(args.out) / "report.md").read_text())
    return 0 if payload["results"] else 1


def cmd_corpus(args) -> int:
    from segser.training import corpora
    from segser.training import labels as labelsets

    df = corpora.load(args.name, args.root)
    if args.labels:
        df, _ = labelsets.apply(df, args.labels)
    print(f"{args.name} at {args.root}")
    print(corpora.summary(df))
    if args.out:

        write_text(Path(args.out), df.to_csv(index=False))
        print(f"manifest written to {args.out}")
    return 0


def cmd_weights(args) -> int:

    rows = availability()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        status = f"found  {r['found']}" if r["found"] else ("online only: " + r["url"] if r["url"] else "MISSING")
        print(f"{r['name']:<20} {status}\n{'':<20} {r['description']}; override with ${r['env']}")
    return 0


def cmd_listen(args) -> int:
    options = prediction_options(args)
    if args.file:
        meta = info(args.file)
        blocks = live_input.file_blocks(args.file, speed=live_input.check_speed(args.speed))
        rate, channels = meta.sample_rate, meta.channels
    else:
        rate = int(check_number("--rate", args.rate, lo=8000, hi=384_000, integer=True))
        channels = int(check_number("--channels", args.channels, lo=1, hi=64, integer=True))
        blocks = (live_input.stdin_blocks(rate, channels, args.format) if args.stdin
                  else live_input.microphone(rate, channels))
    model = load_model(args.model or LIVE_MODEL, runtime=args.runtime)
    live = Stream(model, sample_rate=rate, channels=channels, options=options)
    decision = live_input.listen(blocks, live, out=args.out, echo=lambda line: print(line, flush=True))
    if not decision.n_segments:
        print(f"segser: no segment: {live.seconds:.2f} s of audio came in, too little for one", file=sys.stderr)
        return 1
    return 0


def cmd_export(args) -> int:
    from segser.runtime.export import export

    out = export(load_model(args.model, runtime="torch"), args.out, int8=not args.no_int8, overwrite=args.overwrite)
    print(f"exported {args.model} to {out} (run it with: segser predict --model {out} FILE; onnxruntime, no torch)")
    return 0


def cmd_serve(args) -> int:
    from segser.serving.service import serve  # FastAPI: the service extra

    serve(args.model, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, max_audio_s=args.max_audio_s,
          max_active=args.max_active, max_waiting=args.max_waiting, runtime=args.runtime)
    return 0


def _runtime_args(p, *, precision: bool = True) -> None:

    p.add_argument("--runtime", default="auto", choices=RUNTIMES,
                   help="torch, onnx (onnxruntime: an exported model, or a run exported once into the cache) or auto")
    if precision:
        p.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="ONNX runtime: fp32, int8 (8-bit weights) or auto (the default path, see README)")


def _timeline_args(p, *, adapt: bool = True) -> None:
    """The options of a timeline (PredictOptions), declared once for predict and listen."""

    p.add_argument("--aggregation", default="mean_logits", choices=list(RULES), help="clip decision rule")
    p.add_argument("--segment", type=float, help="segment length (s), overriding the model's")
    p.add_argument("--hop", type=float, help="segment hop (s)")
    p.add_argument("--vad", action="store_true", help="segments follow speech (Silero VAD) instead of fixed windows")
    p.add_argument("--min-score", type=float, default=0.0,
                   help="label a segment (and the clip) 'uncertain' when its top probability is below this")
    p.add_argument("--clip-min-score", type=float,
                   help=f"label the clip decision 'uncertain' when its probability is below this (default "
                        f"{CLIP_CHANCE_MULTIPLE:g} x chance: 1 / number of classes)")
    p.add_argument("--speech-gate", type=float,
                   help=f"label a segment 'no speech' (no emotion, no vote) when less than this share of it is speech "
                        f"(default: the model's own, {SPEECH_GATE} for the built-in models; 0 turns the gate off)")
    if adapt:
        p.add_argument("--adapt", default="auto", choices=ADAPT_MODES,
                       help="adapt embeddings to the inputs: none (each file alone), speaker (per --speakers group), "
                            "collection (all inputs as one group) or auto (the safe rule; see README)")


def _add_train(sub) -> None:

    t = sub.add_parser("train", help="cross-validate a head on a backbone and write a run directory")
    _data_args(t)
    t.add_argument("--config", help="JSON config (see recipes/); command-line options override it")
    t.add_argument("--protocol", help="loso, loso-session, speaker-kfold:K, groups:1-4,5-8,..., kfold:K, random, "
                                      "leave-one-corpus-out[:EVAL_ONLY,...], corpus-split:TRAIN,...->TEST,... "
                                      "(default: the corpus's speaker-independent protocol)")
    t.add_argument("--backbone", help=", ".join(REGISTRY))
    t.add_argument("--backbone-opt", action="append", metavar="KEY=VALUE", help="backbone option, e.g. size=tiny.en layer=all context=5")
    t.add_argument("--head", help=", ".join(HEADS))
    t.add_argument("--head-opt", action="append", metavar="KEY=VALUE", help="head option, e.g. dropout=0.1")
    t.add_argument("--hidden", type=int, help="hidden units N of the segment head (paper: 200)")
    t.add_argument("--segment", type=float, help="segment length in seconds (default 1.0)")
    t.add_argument("--hop", type=float, help="segment hop in seconds (1.0 non-overlapping, 0.5 overlapping)")
    t.add_argument("--vad", action="store_true", help="voice-activity segments instead of fixed windows")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--weight-decay", type=float, help="weight decay")
    t.add_argument("--batch-size", type=int, help="mini-batch size")
    t.add_argument("--epochs", type=int, help="maximum epochs")
    t.add_argument("--patience", type=int, help="early-stopping patience (epochs)")
    t.add_argument("--class-weights", action="store_true", help="class-weighted cross-entropy (paper 004)")
    t.add_argument("--speaker-norm", action="store_true",
                   help="per-speaker feature normalisation (needs several clips per speaker at test time)")
    t.add_argument("--speaker-vectors", action="store_true", help="append each speaker's mean embedding (003's i-vector role)")
    t.add_argument("--aggregation", choices=list(RULES), help="clip decision rule")
    t.add_argument("--speech-gate", type=float, help="segments with less speech than this share (Silero VAD) neither "
                                                      "train nor vote (default 0.2; 0 for data that is not speech)")
    t.add_argument("--seed", type=int, help="random seed (recorded in the run)")
    t.add_argument("--folds", help="run only these fold indices, e.g. 0,1")
    t.add_argument("--no-final", action="store_true", help="skip training the final model on all clips")
    t.add_argument("--no-mood-check", action="store_true",
                   help="fit no mood check beside the final model (--adapt auto then guards by the dominant share alone)")
    t.add_argument("--no-adaptation-heads", action="store_true",
                   help="train no heads for speaker- and corpus-standardised input beside the final model")
    t.add_argument("--out", required=True, help="run directory to write (written whole at the end)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory (only when the run succeeds)")
    _ray_args(t, "compute the embedding cache on a Ray cluster first (local instance without ADDRESS)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)


def _ray_args(p, what: str) -> None:
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help=what)
    p.add_argument("--workers", type=int, help="Ray: workers (default: one per CPU)")


def _add_embed(sub) -> None:

    em = sub.add_parser("embed", help="segment embeddings of corpora as Parquet (for training elsewhere)")
    _data_args(em)
    em.add_argument("--backbone", default="whisper", help=", ".join(REGISTRY))
    em.add_argument("--backbone-opt", action="append", metavar="KEY=VALUE", help="backbone option")
    em.add_argument("--segment", type=float, help="segment length in seconds")
    em.add_argument("--hop", type=float, help="segment hop in seconds")
    em.add_argument("--vad", action="store_true", help="voice-activity segments")
    _ray_args(em, "compute on a Ray cluster")
    em.add_argument("--out", required=True, help="Parquet folder (one partition per corpus)")
    em.add_argument("--quiet", action="store_true", help="no progress bars")
    em.set_defaults(func=cmd_embed)


def _add_evaluate(sub) -> None:

    e = sub.add_parser("evaluate", help="evaluate a trained run's model on other data")
    e.add_argument("run", help="run directory (or built-in model name)")
    _data_args(e)
    e.add_argument("--aggregation", default="mean_logits", choices=list(RULES), help="clip decision rule")
    e.add_argument("--adapt", choices=("none", "speaker", "collection", "auto"),
                   help="statistics per corpus speaker, per corpus, none, or auto (as predict --adapt auto with each "
                        "corpus one batch and its speakers given) (default: speaker for a speaker-normalised model, "
                        "else none)")
    e.add_argument("--noise", help="folder of noise recordings (its test/ split) for noisy test sets")
    e.add_argument("--snr", type=float, nargs="*", default=[], help="SNRs in dB for the noisy test sets")
    e.add_argument("--seed", type=int, default=0, help="seed of the noisy test sets")
    e.add_argument("--out", help="write evaluation.json here")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_evaluate)


def _add_predict(sub) -> None:
    pr = sub.add_parser("predict", help="emotion timeline and clip decision for audio files or folders")
    pr.add_argument("inputs", nargs="+", help="audio files or folders (optionally a run directory first)")
    pr.add_argument("--model", help="run directory, exported model or built-in model name (default: default)")
    _runtime_args(pr)
    _timeline_args(pr)
    pr.add_argument("--speakers", metavar="auto|all|file|TABLE.csv",
                    help="who speaks: auto (find the speakers of each recording: turns, a speaker column and "
                         "adaptation per found speaker), all (every input is one speaker), file (each recording its "
                         "own) or a CSV with columns file,speaker")
    pr.add_argument("--num-speakers", type=int, help="with --speakers auto: how many speakers there are")
    pr.add_argument("--max-speakers", type=int, help="with --speakers auto: at most this many (default 8)")
    pr.add_argument("--transcribe", action="store_true",
                    help="the words said (Whisper, offline): a row per utterance with its text, emotion and speaker")
    pr.add_argument("--language", help="with --transcribe: auto (detected; English for tiny.en) or a code: en, de, pl, ...")
    pr.add_argument("--asr", choices=("auto", "tiny.en", "base"),
                    help="with --transcribe: the recogniser: tiny.en (English, fastest), base (99 languages) or auto "
                         "(tiny.en for --language en, else base)")
    pr.add_argument("--segments", choices=("utterances", "windows"),
                    help="with --transcribe: a row per utterance (default) or per fixed window with the words it overlaps")
    fmt = pr.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="segment timeline as CSV")
    pr.add_argument("--plot", help="PNG path for the timeline plot")
    pr.add_argument("--out", help="also write the results (atomically): .json (as --json), .csv (segments with the "
                                  "clip label), .txt (Audacity label track), .rttm (speaker turns, with --speakers auto), "
                                  ".TextGrid (Praat: a tier of emotions per speaker, words and utterances), .srt or .vtt "
                                  "(captions: speaker, emotion and text per utterance, with --transcribe)")
    _ray_args(pr, "run on a Ray cluster (a local Ray instance without ADDRESS); --out is then a Parquet folder, "
                  "and rerunning the same command resumes")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr.set_defaults(func=cmd_predict)


def _add_serving(sub) -> None:
    s = sub.add_parser("serve", help="HTTP service: POST /predict an audio file, get its timeline and decision")
    s.add_argument("--model", action="append", help="run directory or built-in model name; repeat to serve several "
                        "(default: default for uploads and live-4class for streams)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=_port, default=8000, help="port to listen on")
    s.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted (MB)")
    s.add_argument("--max-audio-s", type=float, default=600.0, help="longest recording accepted per request (s)")
    s.add_argument("--max-active", type=int, default=MAX_ACTIVE, help="uploads in work at once (more wait)")
    s.add_argument("--max-waiting", type=int, default=MAX_WAITING,
                   help="uploads that may wait for a slot; past that the service answers 503 with Retry-After")
    _runtime_args(s, precision=False)
    s.set_defaults(func=cmd_serve)

    li = sub.add_parser("listen", help="live emotion timeline from the microphone, a file in real time, or stdin PCM")
    src = li.add_mutually_exclusive_group()
    src.add_argument("--file", help="play this file at real-time speed instead of the microphone")
    src.add_argument("--stdin", action="store_true", help="raw PCM on standard input (see --rate, --channels, --format)")
    li.add_argument("--rate", type=int, default=16000, help="sample rate of the microphone or stdin PCM (Hz)")
    li.add_argument("--channels", type=int, default=1, help="channels of the microphone or stdin PCM")
    li.add_argument("--format", default="s16le", choices=["s16le", "f32le"], help="stdin PCM sample format")
    li.add_argument("--speed", type=float, default=1.0, help="--file pace: 1 = real time, 0 = as fast as possible")
    li.add_argument("--model", help="run directory, exported model or built-in model name (default: live-4class, "
                                    "whose results come as soon as each segment ends)")
    _runtime_args(li, precision=False)
    _timeline_args(li, adapt=False)
    li.add_argument("--adapt", default="auto", choices=("none", "speaker", "auto"),
                    help="speaker: adapt to the voice as it is heard (the guarded rule, from 10 segments of speech on; "
                         "each line says how many seconds it has heard); auto: the same when the model has a mood "
                         "check (live-4class, default-4class), else not adapted; none: not adapted (README: live adaptation)")
    li.add_argument("--out", help="append each segment as it comes: .csv, .jsonl or .txt (Audacity labels)")
    li.set_defaults(func=cmd_listen)


def _add_tools(sub) -> None:
    b = sub.add_parser("benchmark", help="run a suite of pipelines x corpora; write results.json and report.md")
    b.add_argument("--suite", required=True, help="suite JSON (see benchmarks/suites/)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--folds", help="only these fold indices (smoke runs)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_benchmark)

    x = sub.add_parser("export", help="a trained model as ONNX graphs that run without PyTorch")
    x.add_argument("model", help="run directory or built-in model name")
    x.add_argument("--out", required=True, help="folder to write (written whole at the end)")
    x.add_argument("--no-int8", action="store_true", help="skip the 8-bit quantised encoder")
    x.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out (nothing else)")
    x.set_defaults(func=cmd_export)

    w = sub.add_parser("weights", help="every pretrained file segser knows and where it is found offline")
    w.add_argument("--json", action="store_true", help="machine-readable output")
    w.set_defaults(func=cmd_weights)

    c = sub.add_parser("corpus", help="summarise a corpus and write its manifest")
    c.add_argument("name", help="corpus loader name")
    c.add_argument("root", help="corpus folder")
    c.add_argument("--labels", help="label set")
    c.add_argument("--out", help="manifest CSV to write")
    c.set_defaults(func=cmd_corpus)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="segser", description="Segment-level speech emotion recognition with transfer learning")
    p.add_argument("--version", action="version", version=f"segser {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_embed, _add_evaluate, _add_predict, _add_serving, _add_tools):
        add(sub)
    return p


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SegserError as exc:
        if args.debug:
            raise
        print(f"segser: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"segser: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segser: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if args.debug:
            raise
        print(f"segser: internal error ({type(exc).__name__}: {str(exc)[:200]}); rerun with --debug for the traceback",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
