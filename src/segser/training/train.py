"""Cross-validated training of a head on backbone embeddings.

``run(config, out_dir)`` is a short sequence of steps: read the data, embed it
(cached), cross-validate (fit, evaluate per fold), report, train the final
model. It writes a self-contained run directory, swapped in whole when the run
succeeds: config.json, metrics.json (per fold, mean +- std, per corpus, chance,
provenance), predictions.csv (one row per test clip), segments.csv, plots and
model.pt (the final head, trained on every clip with validation speakers
carved out), with mood.npz and adaptation_heads.npz beside it (what makes
``--adapt auto`` safe on it), enough to reload, re-evaluate and predict.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from segser.adaptation.heads import ADAPTATION_HEADS_FILE
from segser.adaptation.mood import MOOD_CHECK_FILE, MoodCheck, dominant_share
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS
from segser.adaptation.statistics import speaker_normalise
from segser.encoders.backbones import create as create_backbone
from segser.errors import ConfigError, LabelError
from segser.heads import HeadEnsemble
from segser.io.files import RunDirectory, write_json, write_text
from segser.io.progress import progress_bar
from segser.model import TorchHead
from segser.results.plots import plot_confusion, plot_learning_curves, plot_recall_bars, plot_roc
from segser.settings import __version__, data_dir
from segser.training import corpora, finetune, protocols
from segser.training import labels as labelsets
from segser.training.adaptation_fit import append_speaker_vectors, emotion_directions, fit_mood_coefficients, heads_from_torch
from segser.training.augment import NoiseBank
from segser.training.config import TrainConfig
from segser.training.data import ENGINE_VERSION, Embeddings, NoiseMix, embed_manifest
from segser.training.evaluation import (
    ROBUSTNESS_KEYS,
    clip_probabilities,
    evaluate_logits,
    expected_calibration_error,
    label_indices,
    per_corpus,
    summarise,
)
from segser.training.loop import (
    fit_calibrated_head,
    fit_class_offsets,
    fit_head,
    fit_temperature,
    logits_of,
    save_head,
)
from segser.training.metrics import confusion, per_class_report

# --- data ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    manifest: pd.DataFrame
    classes: list[str]
    protocol: str


def load_data(cfg: TrainConfig) -> Data:
    """The manifest over the config's corpora and label set, and the protocol."""
    if not cfg.corpora:
        raise LabelError("no data: give at least one corpus (name and root) or a CSV")
    frames = [corpora.load(c.name, c.root, **c.options) for c in cfg.corpora]
    manifest, classes = labelsets.apply(pd.concat(frames, ignore_index=True), cfg.labels, require_all=True)
    if len(classes) < 2:
        raise LabelError(f"only one class ({', '.join(classes)}) in the data: a classifier needs at least two")
    protocol = cfg.protocol or corpora.default_protocol([c.name for c in cfg.corpora], manifest)
    return Data(manifest, classes, protocol)


def shipped_training_set(model) -> tuple[pd.DataFrame, Embeddings, np.ndarray, np.ndarray]:
    """A built-in model's training clips (the corpora and label set of its config.json, under the data setting),
    their segment embeddings by the model's own encoder, and each segment's class index and corpus:speaker: what
    its companions (mood check, adaptation heads) are fitted on."""

    config = json.loads((model.source / "config.json").read_text())
    frames = [labelsets.apply(corpora.load(c["name"], data_dir() / c["name"], **c.get("options", {})), config["labels"])[0]
              for c in config["corpora"]]
    manifest = pd.concat(frames, ignore_index=True)
    emb = embed_manifest(manifest, model.encoder, model.segmentation)
    y = np.array([model.classes.index(v) for v in manifest["label"].to_numpy()[emb.clip]])
    return manifest, emb, y, speaker_keys(manifest)[emb.clip]


def speaker_keys(manifest: pd.DataFrame) -> np.ndarray:
    """Each clip's speaker as corpus:speaker (two corpora may both have a speaker "03")."""
    return (manifest["corpus"].astype(str) + ":" + manifest["speaker"].astype(str)).to_numpy()


# --- features ------------------------------------------------------------------------------------

def adapt(cfg: TrainConfig, emb: Embeddings, manifest: pd.DataFrame) -> Embeddings:
    """The embeddings with the config's speaker adaptation applied (a new object)."""
    X, spk = emb.X, manifest["speaker"].to_numpy()[emb.clip]
    if cfg.speaker_norm:  # statistics from each speaker's segments with speech, as predict takes them
        X = speaker_normalise(X, spk, emb.speech >= cfg.speech_gate)
    if cfg.speaker_vectors:
        X = append_speaker_vectors(X, spk)
    return emb if X is emb.X else emb.with_features(X)


@dataclass
class Features:
    clean: Embeddings
    noisy_train: list[Embeddings] = field(default_factory=list)  # noisy copies of every clip
    noisy_test: dict[str, Embeddings] = field(default_factory=dict)  # condition -> noisy test set
    seconds: float = 0.0


def noise_mixes(cfg: TrainConfig, sample_rate: int = 16000) -> list[NoiseMix]:
    """The noisy training copies (train noise only), then the noisy test sets (test noise only)."""
    if cfg.noise is None:
        return []

    nz = cfg.noise
    train_bank = NoiseBank.from_dir(nz.dir, split="train", sample_rate=sample_rate)
    test_bank = NoiseBank.from_dir(nz.dir, split="test", sample_rate=sample_rate)
    if set(train_bank.files) & set(test_bank.files):
        raise LabelError(f"{nz.dir}: train and test noise overlap; give a folder with train/ and test/")
    return ([NoiseMix.training_copy(train_bank, nz.snrs, seed=cfg.seed, copy=c) for c in range(nz.copies)]
            + [NoiseMix.test_set(test_bank, snr, seed=cfg.seed) for snr in nz.test_snrs])


def embed_data(cfg: TrainConfig, data: Data, backbone, *, progress: bool) -> Features:
    t0 = time.time()
    m = data.manifest
    embed = lambda mix=None: adapt(cfg, embed_manifest(m, backbone, cfg.segmentation, progress=progress, noise=mix), m)

    def embed_rows(mix, rows: np.ndarray) -> Embeddings:
        if len(rows) == len(m):
            return embed(mix)
        e = embed_manifest(m.iloc[rows].reset_index(drop=True), backbone, cfg.segmentation, progress=progress, noise=mix)
        e = Embeddings(e.X, rows[e.clip], e.start, e.end, e.speech, {int(rows[i]): msg for i, msg in e.errors.items()})
        return adapt(cfg, e, m)
    feats = Features(embed())
    mixes = noise_mixes(cfg, backbone.sample_rate)
    copies = cfg.noise.copies if cfg.noise else 0
    trained = np.flatnonzero(~protocols.never_trained(data.protocol, m))  # noisy copies only where some fold trains
    feats.noisy_train = [embed_rows(mix, trained) for mix in mixes[:copies]]
    feats.noisy_test = {f"{mix.snrs[0]:g}dB": embed(mix) for mix in mixes[copies:]}
    feats.seconds = time.time() - t0
    return feats


# --- one fold ------------------------------------------------------------------------------------

def training_set(feats: Features, clips: np.ndarray, y_of_clip: np.ndarray, speech_gate: float = 0.0):
    """Segments (X, y, clip index) of ``clips`` with speech, with their noisy copies when there are any."""
    parts = [e.select(clips).voiced(speech_gate) for e in [feats.clean, *feats.noisy_train]]
    return (np.concatenate([p.X for p in parts]), np.concatenate([y_of_clip[p.clip] for p in parts]),
            np.concatenate([p.clip for p in parts]))


def fit_fold_head(cfg: TrainConfig, data: Data, feats: Features, train_clips, val_clips, y_of_clip, backbone):
    """A head trained on ``train_clips`` (early stopping on ``val_clips``), and its
    temperature fitted on the validation segments when the config calibrates. With ``cfg.ensemble`` > 1, that many
    heads (seeds ``cfg.seed``, ``cfg.seed`` + 1, ...; after the first, validation speakers drawn afresh from the
    same clips) as one :class:`~segser.heads.modules.HeadEnsemble`, calibrated member by member (temperature 1);
    with ``cfg.prior_correction``, its class offsets fitted on the same clips (:func:`prior_offsets`)."""
    model, hist, temperature = fit_member(cfg, data, feats, train_clips, val_clips, y_of_clip, backbone)
    if cfg.ensemble == 1 and not cfg.prior_correction:
        return model, hist, temperature
    members, temperatures = [model], [temperature]
    pool = np.sort(np.concatenate([train_clips, val_clips]))
    for k in range(1, cfg.ensemble):
        split = protocols.final_split(data.manifest.loc[pool].reset_index(drop=True), data.protocol, seed=cfg.seed + k)
        member, _, t = fit_member(cfg.replace(seed=cfg.seed + k), data, feats, pool[split.train], pool[split.val],
                                  y_of_clip, backbone)
        members.append(member)
        temperatures.append(t)
    offsets = prior_offsets(cfg, data, feats, pool, y_of_clip, backbone) if cfg.prior_correction else None
    return HeadEnsemble(members, temperatures, offsets).eval(), hist, 1.0


def prior_offsets(cfg: TrainConfig, data: Data, feats: Features, clips, y_of_clip, backbone) -> np.ndarray:
    """The class offsets of ``clips`` (:func:`~segser.training.loop.fit_class_offsets`): each of their corpora held
    out in turn and scored, clip by clip (mean logit of its segments with speech), by heads of this recipe trained on
    the others."""
    corpus = data.manifest["corpus"].to_numpy()
    names = list(dict.fromkeys(corpus[clips]))
    if len(names) < 2:
        raise ConfigError(f"prior_correction needs at least two training corpora; this training set has {names[0]}")
    parts = []
    for name in names:
        rest, held = clips[corpus[clips] != name], clips[corpus[clips] == name]
        split = protocols.final_split(data.manifest.loc[rest].reset_index(drop=True), data.protocol, seed=cfg.seed)
        head, _, temperature = fit_fold_head(cfg.replace(prior_correction=False), data, feats, rest[split.train],
                                             rest[split.val], y_of_clip, backbone)
        test = feats.clean.select(held).voiced(cfg.speech_gate)
        seg = logits_of(head, test.X) / temperature  # calibrated, as the members are in the ensemble
        kept, inverse = np.unique(test.clip, return_inverse=True)
        z = np.zeros((len(kept), seg.shape[1]))
        np.add.at(z, inverse, seg)
        parts.append((y_of_clip[kept], z / np.bincount(inverse)[:, None]))
    return fit_class_offsets(parts)


def fit_member(cfg: TrainConfig, data: Data, feats: Features, train_clips, val_clips, y_of_clip, backbone):
    X_tr, y_tr, c_tr = training_set(feats, train_clips, y_of_clip, cfg.speech_gate)
    if not len(X_tr):
        raise LabelError(f"no training segment has speech (at least {cfg.speech_gate:g} of it, Silero VAD); for data "
                         "that is not speech, train with speech_gate 0 (--speech-gate 0)")
    X_va, y_va, c_va = training_set(Features(feats.clean), val_clips, y_of_clip, cfg.speech_gate)
    corpus = data.manifest["corpus"].to_numpy()
    model, hist = fit_head(X_tr, y_tr, X_va, y_va, len(data.classes), cfg, groups=(corpus[c_tr], corpus[c_va]),
                           layer_dim=getattr(backbone, "width", None))
    temperature = fit_temperature(logits_of(model, X_va), y_va) if cfg.calibrate and cfg.head != "svm" else 1.0
    return model, hist, temperature


@dataclass
class FoldResult:
    metrics: dict
    predictions: pd.DataFrame
    segments: pd.DataFrame
    history: list
    mood_groups: list = field(default_factory=list)  # (one mood?, spread, dominant share) of its test speakers


def run_fold(cfg: TrainConfig, data: Data, feats: Features, fold, y_of_clip: np.ndarray, backbone, waves=None) -> FoldResult:
    clean, classes, manifest = feats.clean, data.classes, data.manifest
    test = clean.select(fold.test)
    before = None  # with a warm-started fine-tuning: the same fold's frozen head's metrics
    temperature = 1.0
    if cfg.finetune is None:
        model, hist, temperature = fit_fold_head(cfg, data, feats, fold.train, fold.val, y_of_clip, backbone)
        lg = logits_of(model, test.X)
    else:
        model, hist, lg, before = finetune.run_fold(cfg, backbone, waves, clean, fold, y_of_clip, classes, manifest)
    metrics, preds = evaluate_logits(lg, test, manifest, classes, cfg.aggregation, speech_gate=cfg.speech_gate)
    y_clip = label_indices(preds["label"], classes)
    metrics["ECE"] = expected_calibration_error(preds[[f"p_{c}" for c in classes]].to_numpy(), y_clip)
    if cfg.calibrate:
        calibrated = clip_probabilities(lg, test, temperature, speech_gate=cfg.speech_gate)
        for i, c in enumerate(classes):
            preds[f"pc_{c}"] = calibrated[:, i]
        metrics.update({"temperature": temperature, "ECE_calibrated": expected_calibration_error(calibrated, y_clip)})
    if before is not None:
        metrics.update({f"{k}_before_finetune": before[k] for k in ("UA", "WA")})
    for cond, noisy in feats.noisy_test.items():
        sub = noisy.select(fold.test)
        nm, _ = evaluate_logits(logits_of(model, sub.X), sub, manifest, classes, cfg.aggregation,
                                speech_gate=cfg.speech_gate)
        metrics.update({f"{k}@{cond}": v for k, v in nm.items() if k in ROBUSTNESS_KEYS})
    metrics.update({"fold": fold.name, "epochs": len(hist), "best_epoch": int(np.argmin([h["val_loss"] for h in hist]) + 1)})
    preds.insert(0, "fold", fold.name)
    segments = pd.DataFrame({"fold": fold.name, "path": manifest["path"].to_numpy()[test.clip], "start": test.start,
                             "end": test.end, "label": manifest["label"].to_numpy()[test.clip],
                             "prediction": np.array(classes)[lg.argmax(1)]})
    fits_check = cfg.final_model and cfg.mood_check and companions_apply(cfg)  # the folds' groups fit the final model's
    groups = fold_mood_groups(cfg, data, feats, fold, model, y_of_clip) if fits_check else []
    return FoldResult(metrics, preds, segments, hist, groups)


# --- what makes adaptation safe on the final model (README: Adaptation) ---------------------------

def companions_apply(cfg: TrainConfig) -> bool:
    """Whether the recipe's head takes reference-standardised embeddings, which a mood check and adaptation heads
    work in (a speaker-normalised head adapts with every group's own statistics already)."""
    return (cfg.finetune is None and cfg.head != "svm" and not cfg.speaker_norm and not cfg.speaker_vectors
            and cfg.embedding_norm == "none")


def head_reference(module) -> tuple[np.ndarray, np.ndarray] | None:

    return TorchHead(module).reference()


def fold_mood_groups(cfg: TrainConfig, data: Data, feats: Features, fold, model, y_of_clip: np.ndarray) -> list:
    """What a mood check learns from: each test speaker of the fold as a group that mixes emotions, and their
    clips of each emotion as groups of one mood; per group whether it holds one mood, its spread along the
    emotion directions of the fold's training speakers, and the share of its commonest emotion under the fold's
    head (which never heard them)."""
    ref = head_reference(model)
    if ref is None:
        return []
    spk, n = speaker_keys(data.manifest), len(data.classes)
    test = feats.clean.select(fold.test).voiced(cfg.speech_gate)
    y, who = y_of_clip[test.clip], spk[test.clip]
    groups = []
    for s in np.unique(who):
        mine = who == s
        kinds = [(False, mine)] if len(np.unique(y[mine])) > 1 else []
        groups += [(one, m) for one, m in kinds + [(True, mine & (y == c)) for c in range(n)]
                   if m.sum() >= MIN_SPEAKER_SEGMENTS]
    if not groups:
        return []
    train = feats.clean.select(fold.train).voiced(cfg.speech_gate)
    check = MoodCheck(emotion_directions((train.X - ref[0]) / ref[1], y_of_clip[train.clip], spk[train.clip], n),
                      np.zeros(3))
    Z, logits = (test.X - ref[0]) / ref[1], logits_of(model, test.X)
    return [(fold.name, one, check.spread(Z[m]), dominant_share(logits[m])) for one, m in groups]


MIN_MOOD_GROUPS = 4  # of each kind, for a mood check to be fitted at all


def fit_adaptation_heads(cfg: TrainConfig, X: np.ndarray, y: np.ndarray, voiced: np.ndarray, speakers: np.ndarray,
                         corpus: np.ndarray, n_classes: int) -> dict:
    """Heads of the config's recipe on per-speaker and on per-corpus standardised embeddings (statistics from the
    segments with speech; they train on those): {"speaker" | "collection": (EmotionHead, temperature)}."""
    heads = {}
    for kind, groups in (("speaker", speakers), ("collection", corpus)):
        Z = speaker_normalise(X, groups, voiced)[voiced]
        heads[kind] = fit_calibrated_head(Z, y[voiced], corpus[voiced], speakers[voiced], n_classes, cfg)
    return heads


def write_companions(out: Path, cfg: TrainConfig, data: Data, feats: Features, y_of_clip: np.ndarray, final,
                     clips: np.ndarray, results: list[FoldResult]) -> dict:
    """The final model's mood check (directions from its training ``clips``, coefficients from the folds'
    groups) and adaptation heads (trained on those clips), where the recipe allows them; what was fitted or why
    not, for metrics.json."""
    ref = head_reference(final)
    if not companions_apply(cfg) or ref is None:
        return {"fitted": False, "reason": "the head takes no standardised embeddings (speaker_norm, speaker vectors, "
                                          "per-layer normalisation, svm or fine-tuning)"}
    report = {}
    ok = feats.clean.select(clips)
    voiced = ok.speech >= cfg.speech_gate
    y, speakers = y_of_clip[ok.clip], speaker_keys(data.manifest)[ok.clip]
    corpus = data.manifest["corpus"].astype(str).to_numpy()[ok.clip]
    if cfg.mood_check:
        rows = [r for res in results for r in res.mood_groups]
        one = np.array([r[1] for r in rows], bool)
        counts = {"one_mood": int(one.sum()), "mixed": int((~one).sum())}
        if min(counts.values()) < MIN_MOOD_GROUPS:
            report["mood_check"] = {"fitted": False, "groups": counts,
                                    "reason": f"the folds' test speakers give fewer than {MIN_MOOD_GROUPS} groups of "
                                              f"each kind with {MIN_SPEAKER_SEGMENTS} segments of speech"}
        else:
            coef = fit_mood_coefficients(one, [r[2] for r in rows], [r[3] for r in rows])
            Z = (ok.X[voiced] - ref[0]) / ref[1]
            MoodCheck(emotion_directions(Z, y[voiced], speakers[voiced], len(data.classes)), coef).save(out / MOOD_CHECK_FILE)
            report["mood_check"] = {"fitted": True, "file": MOOD_CHECK_FILE, "groups": counts,
                                    "coef": [round(float(c), 4) for c in coef],
                                    "features": ["bias", "log spread fraction", "dominant share"],
                                    **held_out_fold_auc(rows)}
    if cfg.adaptation_heads:
        heads = fit_adaptation_heads(cfg, ok.X, y, voiced, speakers, corpus, len(data.classes))
        heads_from_torch(heads).save(out / ADAPTATION_HEADS_FILE)
        report["adaptation_heads"] = {"fitted": True, "file": ADAPTATION_HEADS_FILE, "voiced_segments": int(voiced.sum()),
                                      "temperature": {k: round(float(t), 4) for k, (_, t) in heads.items()}}
    return report


def held_out_fold_auc(rows: list) -> dict:
    """How well a mood check tells one mood from a mix on a fold's speakers when fitted on the other folds' (AUC,
    pooled over folds), beside the dominant share alone."""
    from sklearn.metrics import roc_auc_score

    folds = sorted({r[0] for r in rows})
    scores, truth, shares = [], [], []
    for f in folds:
        rest = [r for r in rows if r[0] != f]
        mine = [r for r in rows if r[0] == f]
        if len({r[1] for r in rest}) < 2:
            continue
        check = MoodCheck(np.zeros((1, 1)), fit_mood_coefficients(*(np.array([r[i] for r in rest]) for i in (1, 2, 3))))
        scores += [check.probability(r[2], r[3]) for r in mine]
        truth += [r[1] for r in mine]
        shares += [r[3] for r in mine]
    if len(set(truth)) < 2:
        return {}
    return {"auc_held_out_folds": round(float(roc_auc_score(truth, scores)), 3),
            "auc_dominant_share": round(float(roc_auc_score(truth, shares)), 3)}


# --- report --------------------------------------------------------------------------------------

def provenance(cfg: TrainConfig, data: Data) -> dict:
    m = data.manifest
    return {
        "corpora": [c.name for c in cfg.corpora], "roots": [str(c.root) for c in cfg.corpora],
        "label_set": cfg.labels or "all", "classes": data.classes, "protocol": data.protocol,
        "speaker_independent": protocols.speaker_independent(data.protocol), "seed": cfg.seed,
        "n_clips": int(len(m)), "n_speakers": int(m["speaker"].nunique()),
        "segser_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "speaker_norm": cfg.speaker_norm, "speaker_vectors": cfg.speaker_vectors, "aggregation": cfg.aggregation,
        "speech_gate": cfg.speech_gate, "engine": ENGINE_VERSION,
        "audio_seconds": round(float(m["duration"].sum()), 1),
    }


def write_report(out: Path, cfg: TrainConfig, data: Data, feats: Features, results: list[FoldResult], t0: float) -> dict:

    classes, manifest = data.classes, data.manifest
    preds = pd.concat([r.predictions for r in results], ignore_index=True)
    y_all, yhat_all = label_indices(preds["label"], classes), label_indices(preds["prediction"], classes)
    counts = manifest.loc[np.unique(feats.clean.clip), "label"].value_counts()
    result = {
        "provenance": provenance(cfg, data),
        "summary": summarise([r.metrics for r in results]),
        "chance": {"UA": 1.0 / len(classes), "WA": float(counts.max() / counts.sum())},
        "folds": [r.metrics for r in results],
        "per_class": per_class_report(y_all, yhat_all, classes),
        "per_corpus": per_corpus(preds, classes),
        "unreadable": {manifest.loc[i, "path"]: e for i, e in feats.clean.errors.items()},
        "seconds": {"embedding": round(feats.seconds, 1), "total": round(time.time() - t0, 1)},
    }
    write_text(out / "predictions.csv", preds.to_csv(index=False))
    write_text(out / "segments.csv", pd.concat([r.segments for r in results]).to_csv(index=False))
    where = f"{'+'.join(result['provenance']['corpora'])} {data.protocol}"
    plot_confusion(confusion(y_all, np.where(yhat_all < 0, 0, yhat_all), len(classes)), classes, out / "confusion.png",
                   title=f"{where} (clip, {cfg.aggregation})")
    plot_learning_curves([(r.metrics["fold"], r.history) for r in results], out / "learning_curve.png")
    plot_recall_bars(result["per_class"], classes, out / "recall.png", title=f"{where}: per-class recall (clips, all folds)")
    plot_roc(y_all, preds[[f"p_{c}" for c in classes]].to_numpy(), classes, out / "roc.png",
             title=f"{where}: one-vs-rest ROC (clip scores, all folds)")
    return result


def train_final(out: Path, cfg: TrainConfig, data: Data, feats: Features, y_of_clip: np.ndarray, backbone):
    """The shipped head: every clip the protocol may train on, validation carved out as in a fold; returns the
    head and those clips."""
    ok = np.unique(feats.clean.clip)
    final = protocols.final_split(data.manifest.loc[ok].reset_index(drop=True), data.protocol, seed=cfg.seed)
    model, _, temperature = fit_fold_head(cfg, data, feats, ok[final.train], ok[final.val], y_of_clip, backbone)
    save_head(out / "model.pt", model, classes=data.classes, head_name=cfg.head, head_options=cfg.head_options,
              in_dim=int(model.mean.numel()), temperature=temperature)
    return model, np.sort(np.concatenate([ok[final.train], ok[final.val]]))


# --- the run -------------------------------------------------------------------------------------

def run(cfg: TrainConfig, out_dir, *, progress: bool = True, backbone=None, overwrite: bool = False) -> dict:
    """Cross-validate ``cfg`` and write the run directory; returns metrics.json's content."""
    t0 = time.time()
    with RunDirectory(out_dir, overwrite=overwrite) as out:
        data = load_data(cfg)
        write_json(out / "config.json", {**cfg.to_dict(), "protocol": data.protocol})
        backbone = backbone or create_backbone(cfg.backbone, **cfg.backbone_options)
        waves = None
        if cfg.finetune is not None:
            clean, waves = finetune.prepare(cfg, data.manifest, backbone, progress=progress)
            feats = Features(clean)
        else:
            feats = embed_data(cfg, data, backbone, progress=progress)
        ok = np.unique(feats.clean.clip)  # fold indices refer to rows of manifest.loc[ok]
        folds = protocols.make_folds(data.manifest.loc[ok].reset_index(drop=True), data.protocol, seed=cfg.seed)
        y_of_clip = label_indices(data.manifest["label"], data.classes)
        selected = [f for i, f in enumerate(folds) if cfg.folds is None or i in cfg.folds]
        if not selected:
            raise LabelError(f"--folds {','.join(map(str, cfg.folds))}: the protocol has folds 0..{len(folds) - 1}")
        results = [run_fold(cfg, data, feats, protocols.Fold(f.name, ok[f.train], ok[f.val], ok[f.test]), y_of_clip,
                            backbone, waves) for f in progress_bar(selected, desc="folds", enabled=progress)]
        result = write_report(out, cfg, data, feats, results, t0)
        if cfg.final_model and cfg.head != "svm" and cfg.finetune is None:
            final, clips = train_final(out, cfg, data, feats, y_of_clip, backbone)
            if cfg.mood_check or cfg.adaptation_heads:
                result["adaptation"] = write_companions(out, cfg, data, feats, y_of_clip, final, clips, results)
        result["seconds"]["total"] = round(time.time() - t0, 1)
        write_json(out / "metrics.json", result)
    return result


def format_summary(result: dict) -> str:
    p = result["provenance"]
    lines = [f"{'+'.join(p['corpora'])} | labels {p['label_set']} ({len(p['classes'])} classes) | protocol {p['protocol']}"
             f"{'' if p['speaker_independent'] else ' (NOT speaker-independent)'} | seed {p['seed']}"
             f"{' | speaker-normalised' if p['speaker_norm'] else ''}"
             f"{' | speaker vectors' if p.get('speaker_vectors') else ''}"]
    for k in ("UA", "WA", "macro_f1", "SA", "ACA", "SCA", "ALCA", "BCA", "AUC", "UA_before_finetune"):
        if k in result["summary"]:
            s = result["summary"][k]
            lines.append(f"  {k:9s} {s['mean']:.3f} +- {s['std']:.3f}  ({s['n_folds']} folds)"
                         + ("  (the same folds' frozen head)" if k == "UA_before_finetune" else ""))
    for k, s in result["summary"].items():
        if "@" in k and k.split("@")[0] in ("UA", "WA", "weighted_f1"):
            lines.append(f"  {k:14s} {s['mean']:.3f} +- {s['std']:.3f}  (noisy test set)")
    lines.append(f"  chance    UA {result['chance']['UA']:.3f}  WA {result['chance']['WA']:.3f}")
    lines.append("  per fold  " + ", ".join(f"{f['fold']}: UA {f['UA']:.3f}" for f in result["folds"]))
    if len(result.get("per_corpus", {})) > 1:
        lines.append("  per corpus (pooled) " + ", ".join(f"{c}: UA {v['UA']:.3f}" for c, v in result["per_corpus"].items()))
    if result["unreadable"]:
        lines.append(f"  unreadable files skipped: {len(result['unreadable'])}")
    if "adaptation" in result:
        lines.append("  adaptation " + describe_companions(result["adaptation"]))
    return "\n".join(lines)


def describe_companions(report: dict) -> str:
    if report.get("fitted") is False:
        return f"companions not fitted: {report['reason']}"
    parts = []
    mood = report.get("mood_check")
    if mood is not None:
        g = mood["groups"]
        parts.append(f"mood check on {g['one_mood']} one-mood and {g['mixed']} mixed groups"
                     + (f" (AUC {mood['auc_held_out_folds']:.2f} on held-out folds, the share alone "
                        f"{mood['auc_dominant_share']:.2f})" if "auc_held_out_folds" in mood else "")
                     if mood["fitted"] else f"no mood check ({mood['reason']})")
    if "adaptation_heads" in report:
        parts.append("adaptation heads (speaker, collection)")
    return "; ".join(parts)
