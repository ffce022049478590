"""Training and cross-validated evaluation of a head on backbone embeddings.

``run(config, out_dir)`` writes a self-contained run directory:
config.json, metrics.json (per fold, mean +- std, chance, provenance),
predictions.csv (one row per test clip), segments.csv, confusion.png,
learning_curve.png and model.pt (the final head, trained on every clip with
validation speakers carved out) — enough to reload, re-evaluate and predict.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, backbones, corpora, heads, labels as labelsets, protocols
from .aggregate import clip_scores, decide
from .fileio import atomic_path, write_text
from .metrics import classification_metrics, confusion, per_class_report, roc_auc, segment_clip_metrics
from .segments import Segmentation
from .store import Embeddings, embed_manifest


@dataclass
class TrainConfig:
    corpora: list[dict] = field(default_factory=list)  # [{"name": "emodb", "root": "../shared/data/emodb"}]
    labels: str | None = None
    protocol: str | None = None  # None: the corpus's speaker-independent default
    backbone: str = "logmel"
    backbone_options: dict = field(default_factory=dict)
    segmentation: Segmentation = field(default_factory=Segmentation)
    head: str = "segment"
    head_options: dict = field(default_factory=dict)
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9, as paper 002)
    lr_decay: float = 1.0  # multiply the learning rate by this ...
    lr_decay_every: int = 1  # ... every this many epochs (002: 0.2)
    batch_size: int = 32
    max_epochs: int = 200
    patience: int = 15
    class_weights: bool = False
    speaker_norm: bool = False
    speaker_vectors: bool = False  # append each speaker's mean embedding (003's i-vector role)
    aggregation: str = "mean_logits"
    seed: int = 0
    folds: list[int] | None = None  # run only these fold indices (smoke tests)
    # Paper 002 noise mix-up: {"dir": noise root with train/ and test/, "snrs": [15, 20, 40],
    # "copies": 1 noisy copy per training clip, "test_snrs": [15, 20, 40] noisy test sets per fold}
    noise: dict | None = None
    # End-to-end fine-tuning (see finetune.py): {"blocks": N or null for all, "backbone_lr": 1e-5, "epochs": E}
    finetune: dict | None = None
    final_model: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["segmentation"] = Segmentation(**d.get("segmentation", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


class EmotionHead(nn.Module):
    """Feature standardisation (training statistics) followed by a classifier head."""

    def __init__(self, in_dim: int, n_classes: int, head: str = "segment", **head_options):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.head = heads.create(head, in_dim, n_classes, **head_options)

    def forward(self, x):
        return self.head((x - self.mean) / self.std)


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def speaker_normalise(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Per-speaker z-normalisation from each speaker's own (unlabelled) segments."""
    out = np.empty_like(X)
    for s in np.unique(speakers):
        m = speakers == s
        out[m] = (X[m] - X[m].mean(0)) / (X[m].std(0) + 1e-5)
    return out


def append_speaker_vectors(X: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each segment's features plus its speaker's mean features over all that
    speaker's (unlabelled) segments: a speaker vector in the role of 003's i-vectors."""
    means = {s: X[speakers == s].mean(0) for s in np.unique(speakers)}
    return np.concatenate([X, np.stack([means[s] for s in speakers])], axis=1)


class EarlyStopping:
    """Keeps the state of the epoch with the lowest validation loss and says
    when ``patience`` epochs have passed without improvement."""

    def __init__(self, patience: int):
        self.patience, self.best, self.bad, self.state = patience, np.inf, 0, None

    def step(self, val_loss: float, model: nn.Module) -> bool:
        if val_loss < self.best - 1e-6:
            self.best, self.bad = val_loss, 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience


def train_one_epoch(model: nn.Module, opt, loss_fn, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                    gen: torch.Generator, *, min_batch: int = 1) -> float:
    """One shuffled pass of mini-batches; returns the mean training loss."""
    order = torch.randperm(len(X), generator=gen)
    total = 0.0
    for i in range(0, len(order), batch_size):
        b = order[i: i + batch_size]
        if len(b) < min_batch:
            continue
        opt.zero_grad()
        loss = loss_fn(model(X[b]), y[b])
        loss.backward()
        opt.step()
        total += loss.item() * len(b)
    return total / len(X)


def mean_loss(model: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> float:
    with torch.no_grad():
        return sum(loss_fn(model(X[i: i + batch]), y[i: i + batch]).item() * len(y[i: i + batch])
                   for i in range(0, len(X), batch)) / len(X)


def fit_epochs(model: nn.Module, opt, loss_fn, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
               *, epochs: int, patience: int, batch_size: int, seed: int, schedule=None, min_batch: int = 1,
               val_batch: int = 4096, keep_eval: nn.Module | None = None, progress: bool = False):
    """The training loop shared by heads and fine-tuning: shuffled mini-batches,
    early stopping on validation loss, best epoch restored. ``keep_eval`` is a
    submodule kept in eval mode (frozen batch-norm statistics)."""
    Xt, yt = (torch.from_numpy(a) for a in train)
    Xv, yv = (torch.from_numpy(a) for a in val)
    gen = torch.Generator().manual_seed(seed)
    stopper, history = EarlyStopping(patience), []
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress, leave=False):
        model.train()
        if keep_eval is not None:
            keep_eval.eval()
        train_loss = train_one_epoch(model, opt, loss_fn, Xt, yt, batch_size, gen, min_batch=min_batch)
        if schedule is not None:
            schedule.step()
        model.eval()
        val_loss = mean_loss(model, loss_fn, Xv, yv, batch=val_batch) if len(Xv) else train_loss
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
        if stopper.step(val_loss, model):
            break
    model.load_state_dict(stopper.state)
    model.eval()
    return model, history


def class_weight_tensor(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Paper 004's class weights w_j = N / N_j, normalised to mean 1."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = len(y) / np.maximum(counts, 1)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def fit_head(X_tr, y_tr, X_va, y_va, n_classes: int, cfg: TrainConfig, *, progress: bool = False):
    """Adam, mini-batches, early stopping on validation loss, best epoch restored.
    ``head="svm"`` fits scikit-learn's SVM on train + validation instead."""
    seed_everything(cfg.seed)
    if cfg.head == "svm":
        svm = heads.SVMHead(**cfg.head_options, class_weight="balanced" if cfg.class_weights else None)
        return svm.fit(np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va])), [{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0}]
    model = EmotionHead(X_tr.shape[1], n_classes, cfg.head, **cfg.head_options)
    if not getattr(model.head, "raw_input", False):
        model.mean.copy_(torch.from_numpy(X_tr.mean(0)))
        model.std.copy_(torch.from_numpy(X_tr.std(0) + 1e-5))
    loss_fn = nn.CrossEntropyLoss(weight=class_weight_tensor(y_tr, n_classes) if cfg.class_weights else None)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r} (adam, sgd)")
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)
    return fit_epochs(model, opt, loss_fn, (X_tr, y_tr), (X_va, y_va), epochs=cfg.max_epochs, patience=cfg.patience,
                      batch_size=cfg.batch_size, seed=cfg.seed, schedule=schedule, progress=progress,
                      min_batch=2 if cfg.head == "mlp" else 1)  # batch norm (mlp head) needs two samples


def logits_of(model: nn.Module, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(X[i: i + batch])) for i in range(0, max(len(X), 1), batch)]).numpy()


def clip_predictions(logits: np.ndarray, emb: Embeddings, manifest: pd.DataFrame, classes: list[str],
                     aggregation: str) -> pd.DataFrame:
    rows = []
    for c in np.unique(emb.clip):
        m = emb.clip == c
        lg = logits[m]
        scores = clip_scores(lg)
        row = {"clip": int(c), "path": manifest.loc[c, "path"], "corpus": manifest.loc[c, "corpus"],
               "speaker": manifest.loc[c, "speaker"], "label": manifest.loc[c, "label"], "n_segments": int(m.sum())}
        for rule in ("mean_logits", "majority", "unique_majority", "summed_posteriors"):
            k = decide(lg, rule)
            row[f"pred_{rule}"] = classes[k] if k >= 0 else ""
        row["prediction"] = row[f"pred_{aggregation}"]
        row.update({f"p_{k}": float(s) for k, s in zip(classes, scores)})
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_logits(logits, emb: Embeddings, manifest: pd.DataFrame, classes: list[str], aggregation: str):
    """Every metric for one test set: segment/clip metrics of 001, UA/WA/F1, AUC."""
    y_seg = manifest["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()[emb.clip]
    out = segment_clip_metrics(logits, y_seg, emb.clip)
    preds = clip_predictions(logits, emb, manifest, classes, aggregation)
    idx = {c: i for i, c in enumerate(classes)}
    y = preds["label"].map(idx).to_numpy()
    yhat = preds["prediction"].map(lambda s: idx.get(s, -1)).to_numpy()
    out.update(classification_metrics(y, yhat, len(classes)))
    out["AUC"] = roc_auc(y, preds[[f"p_{c}" for c in classes]].to_numpy())
    out["n_clips"] = int(len(preds))
    out["n_segments"] = int(len(emb.clip))
    return out, preds


def summarise(fold_metrics: list[dict]) -> dict:
    keys = [k for k in fold_metrics[0] if isinstance(fold_metrics[0][k], float)]
    out = {}
    for k in keys:
        vals = [m[k] for m in fold_metrics if m.get(k) is not None]
        if vals:
            out[k] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n_folds": len(vals)}
    return out


ROBUSTNESS_KEYS = ("UA", "WA", "weighted_precision", "weighted_recall", "weighted_f1", "ALCA", "SA")


def noisy_embeddings(cfg: TrainConfig, manifest, backbone, *, progress: bool):
    """Noisy training copies (train noise only) and noisy test sets (test noise only)."""
    if not cfg.noise:
        return [], {}
    from .augment import NoiseBank

    nz = cfg.noise
    root = Path(nz["dir"])
    sr = backbone.sample_rate
    snrs = [float(s) for s in nz.get("snrs", [15, 20, 40])]
    train_bank = NoiseBank.from_dir(root, split="train", sample_rate=sr)
    test_bank = NoiseBank.from_dir(root, split="test", sample_rate=sr)
    if set(train_bank.files) & set(test_bank.files):
        raise ValueError(f"{root}: train and test noise overlap; give a folder with train/ and test/")
    seg = cfg.segmentation
    bank_id = hashlib.sha1("|".join(sorted(map(str, train_bank.files + test_bank.files))).encode()).hexdigest()[:10]
    noisy_train = []
    for copy in range(int(nz.get("copies", 1))):
        def mix(x, digest, copy=copy):
            rng = np.random.default_rng([cfg.seed, int(digest[:12], 16), copy])
            return train_bank.mix(x, float(rng.choice(snrs)), rng)
        tag = f"train-noise-{bank_id}-{'_'.join(map(str, snrs))}-s{cfg.seed}-c{copy}"
        noisy_train.append(embed_manifest(manifest, backbone, seg, transform=mix, tag=tag, progress=progress))
    noisy_test = {}
    for snr in nz.get("test_snrs", []):
        def mix(x, digest, snr=float(snr)):
            rng = np.random.default_rng([cfg.seed, int(digest[:12], 16), 1000 + int(round(snr * 10))])
            return test_bank.mix(x, snr, rng)
        tag = f"test-noise-{bank_id}-{float(snr):g}-s{cfg.seed}"
        noisy_test[f"{float(snr):g}dB"] = embed_manifest(manifest, backbone, seg, transform=mix, tag=tag, progress=progress)
    return noisy_train, noisy_test


def with_noisy_copies(X, y, noisy_train, train_clips, manifest, classes):
    """Training segments plus the noisy copies of the SAME training clips."""
    if not noisy_train:
        return X, y
    label_idx = manifest["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    parts_X, parts_y = [X], [y]
    for e in noisy_train:
        sub = e.select(train_clips)
        parts_X.append(sub.X)
        parts_y.append(label_idx[sub.clip])
    return np.concatenate(parts_X), np.concatenate(parts_y)


def write_json_atomic(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str))


def save_model(path: Path, model: EmotionHead, cfg: TrainConfig, classes: list[str], in_dim: int) -> None:
    # Saved through a file handle so the archive's inner names do not depend on the
    # temporary file name: the same training gives a byte-identical model.pt.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({"state_dict": model.state_dict(), "in_dim": in_dim, "classes": classes, "head": cfg.head,
                    "head_options": cfg.head_options, "segser_version": __version__}, f)


def load_manifest(cfg: TrainConfig) -> tuple[pd.DataFrame, list[str]]:
    if not cfg.corpora:
        raise ValueError("no data: give at least one corpus (name and root) or a CSV")
    frames = [corpora.load(c["name"], c["root"], **c.get("options", {})) for c in cfg.corpora]
    manifest = pd.concat(frames, ignore_index=True)
    manifest, classes = labelsets.apply(manifest, cfg.labels)
    return manifest, classes


def provenance(cfg: TrainConfig, manifest: pd.DataFrame, classes, protocol: str) -> dict:
    return {
        "corpora": [c["name"] for c in cfg.corpora], "roots": [str(c["root"]) for c in cfg.corpora],
        "label_set": cfg.labels or "all", "classes": classes, "protocol": protocol,
        "speaker_independent": protocols.speaker_independent(protocol), "seed": cfg.seed,
        "n_clips": int(len(manifest)), "n_speakers": int(manifest["speaker"].nunique()),
        "segser_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "speaker_norm": cfg.speaker_norm, "speaker_vectors": cfg.speaker_vectors, "aggregation": cfg.aggregation,
        "audio_seconds": round(float(manifest["duration"].sum()), 1),
    }


def run(cfg: TrainConfig, out_dir, *, progress: bool = True, backbone=None) -> dict:
    """Cross-validate ``cfg`` and write the run directory; returns metrics.json's content."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    manifest, classes = load_manifest(cfg)
    protocol = cfg.protocol or corpora.default_protocol([c["name"] for c in cfg.corpora], manifest)
    write_json_atomic(out / "config.json", {**cfg.to_dict(), "protocol": protocol})
    backbone = backbone or backbones.create(cfg.backbone, **cfg.backbone_options)
    if cfg.finetune is not None:
        if cfg.speaker_norm or cfg.speaker_vectors or cfg.noise or cfg.head == "svm":
            raise ValueError("fine-tuning does not combine with speaker_norm, speaker_vectors, noise or the svm head")
        from .finetune import segment_waveforms

        waves, emb = segment_waveforms(manifest, backbone, cfg.segmentation, progress=progress,
                                       in_context=bool(cfg.finetune.get("in_context")))
        if cfg.finetune.get("warm_start"):  # frozen embeddings for a head trained first (linear probe, then fine-tune)
            frozen = embed_manifest(manifest, backbone, cfg.segmentation, progress=progress)
            if not (np.array_equal(frozen.clip, emb.clip) and np.allclose(frozen.start, emb.start)):
                raise ValueError("warm_start: frozen embeddings and fine-tuning segments do not line up")
            emb.X = frozen.X
    else:
        emb = embed_manifest(manifest, backbone, cfg.segmentation, progress=progress)
    t_embed = time.time() - t0
    ok = np.unique(emb.clip)
    X = emb.X
    if cfg.speaker_norm:
        X = speaker_normalise(X, manifest["speaker"].to_numpy()[emb.clip])
    y_seg = manifest["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()[emb.clip]
    if cfg.speaker_vectors:
        X = append_speaker_vectors(X, manifest["speaker"].to_numpy()[emb.clip])
    noisy_train, noisy_test = noisy_embeddings(cfg, manifest, backbone, progress=progress)
    spk = manifest["speaker"].to_numpy()
    for e in [*noisy_train, *noisy_test.values()]:
        if cfg.speaker_norm:
            e.X = speaker_normalise(e.X, spk[e.clip])
        if cfg.speaker_vectors:
            e.X = append_speaker_vectors(e.X, spk[e.clip])
    folds = protocols.make_folds(manifest.loc[ok].reset_index(drop=True), protocol, seed=cfg.seed)
    ok_map = ok  # fold indices refer to rows of manifest.loc[ok]
    fold_metrics, all_preds, curves, seg_rows = [], [], [], []
    selected = [f for i, f in enumerate(folds) if cfg.folds is None or i in cfg.folds]
    for fold in tqdm(selected, desc="folds", disable=not progress):
        tr, va, te = (ok_map[f] for f in (fold.train, fold.val, fold.test))
        mtr, mva, mte = (np.isin(emb.clip, s) for s in (tr, va, te))
        sub = Embeddings(X[mte], emb.clip[mte], emb.start[mte], emb.end[mte])
        before = None  # with a warm-started fine-tuning: the same fold's frozen head's metrics
        if cfg.finetune is not None:
            from . import finetune

            head = EmotionHead(backbone.dim, len(classes), cfg.head, **cfg.head_options)
            if cfg.finetune.get("warm_start"):
                head, _ = fit_head(X[mtr], y_seg[mtr], X[mva], y_seg[mva], len(classes), cfg)
                before, _ = evaluate_logits(logits_of(head, sub.X), sub, manifest, classes, cfg.aggregation)
            model, hist = finetune.fit_finetune(backbone, head, waves[mtr], y_seg[mtr], waves[mva], y_seg[mva], cfg,
                                                class_weight=class_weight_tensor(y_seg[mtr], len(classes)) if cfg.class_weights else None)
            lg = logits_of(model, waves[mte], batch=64)
        else:
            X_tr, y_tr = with_noisy_copies(X[mtr], y_seg[mtr], noisy_train, tr, manifest, classes)
            model, hist = fit_head(X_tr, y_tr, X[mva], y_seg[mva], len(classes), cfg)
            lg = logits_of(model, X[mte])
        m, preds = evaluate_logits(lg, sub, manifest, classes, cfg.aggregation)
        if before is not None:
            m.update({f"{k}_before_finetune": before[k] for k in ("UA", "WA")})
        for cond, ne in noisy_test.items():
            nsub = ne.select(te)
            nm, _ = evaluate_logits(logits_of(model, nsub.X), nsub, manifest, classes, cfg.aggregation)
            m.update({f"{k}@{cond}": v for k, v in nm.items() if k in ROBUSTNESS_KEYS})
        m.update({"fold": fold.name, "epochs": len(hist), "best_epoch": int(np.argmin([h["val_loss"] for h in hist]) + 1)})
        fold_metrics.append(m)
        preds.insert(0, "fold", fold.name)
        all_preds.append(preds)
        curves.append((fold.name, hist))
        seg = pd.DataFrame({"fold": fold.name, "path": manifest["path"].to_numpy()[sub.clip], "start": sub.start,
                            "end": sub.end, "label": manifest["label"].to_numpy()[sub.clip],
                            "prediction": np.array(classes)[lg.argmax(1)]})
        seg_rows.append(seg)
    preds = pd.concat(all_preds, ignore_index=True)
    idx = {c: i for i, c in enumerate(classes)}
    y_all = preds["label"].map(idx).to_numpy()
    yhat_all = preds["prediction"].map(lambda s: idx.get(s, -1)).to_numpy()
    counts = manifest.loc[ok, "label"].value_counts()
    result = {
        "provenance": provenance(cfg, manifest, classes, protocol),
        "summary": summarise(fold_metrics),
        "chance": {"UA": 1.0 / len(classes), "WA": float(counts.max() / counts.sum())},
        "folds": fold_metrics,
        "per_class": per_class_report(y_all, yhat_all, classes),
        "unreadable": {manifest.loc[i, "path"]: e for i, e in emb.errors.items()},
        "seconds": {"embedding": round(t_embed, 1), "total": round(time.time() - t0, 1)},
    }
    write_text(out / "predictions.csv", preds.to_csv(index=False))
    write_text(out / "segments.csv", pd.concat(seg_rows).to_csv(index=False))
    from .plots import plot_confusion, plot_learning_curves, plot_recall_bars, plot_roc
    plot_confusion(confusion(y_all, np.where(yhat_all < 0, 0, yhat_all), len(classes)), classes, out / "confusion.png",
                   title=f"{'+'.join(result['provenance']['corpora'])} {protocol} (clip, {cfg.aggregation})")
    plot_learning_curves(curves, out / "learning_curve.png")
    plot_recall_bars(result["per_class"], classes, out / "recall.png",
                     title=f"{'+'.join(result['provenance']['corpora'])} {protocol}: per-class recall (clips, all folds)")
    plot_roc(y_all, preds[[f"p_{c}" for c in classes]].to_numpy(), classes, out / "roc.png",
             title=f"{'+'.join(result['provenance']['corpora'])} {protocol}: one-vs-rest ROC (clip scores, all folds)")
    if cfg.final_model and cfg.head != "svm" and cfg.finetune is None:
        final = protocols.final_split(manifest.loc[ok].reset_index(drop=True), protocol, seed=cfg.seed)
        tr, va = ok_map[final.train], ok_map[final.val]
        mtr, mva = np.isin(emb.clip, tr), np.isin(emb.clip, va)
        X_tr, y_tr = with_noisy_copies(X[mtr], y_seg[mtr], noisy_train, tr, manifest, classes)
        model, _ = fit_head(X_tr, y_tr, X[mva], y_seg[mva], len(classes), cfg)
        save_model(out / "model.pt", model, cfg, classes, X.shape[1])
    result["seconds"]["total"] = round(time.time() - t0, 1)
    write_json_atomic(out / "metrics.json", result)
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
    if result["unreadable"]:
        lines.append(f"  unreadable files skipped: {len(result['unreadable'])}")
    return "\n".join(lines)
