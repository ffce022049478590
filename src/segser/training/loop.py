"""The training loop shared by head training and fine-tuning: optimiser and
schedule from the config, shuffled mini-batches, early stopping on the
validation loss with the best epoch restored."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from segser.heads import EmotionHead, HeadEnsemble, SVMHead
from segser.io.files import atomic_path
from segser.io.progress import progress_bar
from segser.settings import __version__


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(cfg, groups):
    """The config's optimiser (Adam, or SGD with momentum 0.9 as paper 002) over
    parameter ``groups`` and its step schedule (``lr_decay`` every ``lr_decay_every`` epochs)."""
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)


def class_weight_tensor(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Paper 004's class weights w_j = N / N_j, normalised to mean 1."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = len(y) / np.maximum(counts, 1)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


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


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with a weight per sample (e.g. every corpus weighing the same),
    averaged over the batch's total weight; optional label smoothing."""

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(reduction="none", label_smoothing=label_smoothing)

    def forward(self, logits, y, w):
        return (self.ce(logits, y) * w).sum() / w.sum()


def _loss(loss_fn, out, y, w, idx):
    return loss_fn(out, y[idx]) if w is None else loss_fn(out, y[idx], w[idx])


def train_one_epoch(model: nn.Module, opt, loss_fn, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                    gen: torch.Generator, *, min_batch: int = 1, w: torch.Tensor | None = None) -> float:
    """One shuffled pass of mini-batches; returns the mean training loss."""
    order = torch.randperm(len(X), generator=gen)
    total = 0.0
    for i in range(0, len(order), batch_size):
        b = order[i: i + batch_size]
        if len(b) < min_batch:
            continue
        opt.zero_grad()
        loss = _loss(loss_fn, model(X[b]), y, w, b)
        loss.backward()
        opt.step()
        total += loss.item() * len(b)
    return total / len(X)


def mean_loss(model: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor, batch: int = 4096,
              w: torch.Tensor | None = None) -> float:
    with torch.no_grad():
        return sum(_loss(loss_fn, model(X[i: i + batch]), y, w, slice(i, i + batch)).item() * len(y[i: i + batch])
                   for i in range(0, len(X), batch)) / len(X)


def fit_epochs(model: nn.Module, opt, loss_fn, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
               *, epochs: int, patience: int, batch_size: int, seed: int, schedule=None, min_batch: int = 1,
               val_batch: int = 4096, keep_eval: nn.Module | None = None, progress: bool = False):
    """Train until the validation loss stops improving; returns the model at its
    best epoch and the history. ``train``/``val`` are (X, y) or (X, y, sample
    weights). ``keep_eval`` is a submodule kept in eval mode (frozen batch-norm statistics)."""
    Xt, yt = (torch.from_numpy(a) for a in train[:2])
    Xv, yv = (torch.from_numpy(a) for a in val[:2])
    wt = torch.from_numpy(train[2]) if len(train) > 2 else None
    wv = torch.from_numpy(val[2]) if len(val) > 2 else None
    gen = torch.Generator().manual_seed(seed)
    stopper, history = EarlyStopping(patience), []

    for epoch in progress_bar(range(epochs), desc="epochs", enabled=progress, leave=False):
        model.train()
        if keep_eval is not None:
            keep_eval.eval()
        train_loss = train_one_epoch(model, opt, loss_fn, Xt, yt, batch_size, gen, min_batch=min_batch, w=wt)
        if schedule is not None:
            schedule.step()
        model.eval()
        val_loss = mean_loss(model, loss_fn, Xv, yv, batch=val_batch, w=wv) if len(Xv) else train_loss
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss})
        if stopper.step(val_loss, model):
            break
    model.load_state_dict(stopper.state)
    model.eval()
    return model, history


def logits_of(model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(X[i: i + batch])) for i in range(0, max(len(X), 1), batch)]).numpy()


def sample_weights(y: np.ndarray, groups: np.ndarray, n_classes: int, *, per_class: bool) -> np.ndarray:
    """Weights that make every group (corpus) weigh the same in the loss and,
    with ``per_class``, every class within a group too; mean 1."""
    keys = groups.astype(str) + ("|" + y.astype(str) if per_class else "")
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return (w / w.mean()).astype(np.float32)


def fit_head(X_tr, y_tr, X_va, y_va, n_classes: int, cfg, *, progress: bool = False, groups=None,
             layer_dim: int | None = None):
    """The config's head on standardised features, early stopping on validation loss.
    ``groups`` (train, val): each sample's corpus, when the config balances corpora;
    ``layer_dim``: the width of one backbone layer (for ``embedding_norm``).
    ``head="svm"`` fits scikit-learn's SVM on train + validation instead."""
    seed_everything(cfg.seed)
    if cfg.head == "svm":
        svm = SVMHead(**cfg.head_options, class_weight="balanced" if cfg.class_weights else None)
        return svm.fit(np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va])), [{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0}]
    model = EmotionHead(X_tr.shape[1], n_classes, cfg.head, embedding_norm=cfg.embedding_norm,
                        layer_dim=layer_dim if cfg.embedding_norm != "none" else None, **cfg.head_options)
    if not getattr(model.head, "raw_input", False):
        Z = model.normalise_input(torch.from_numpy(X_tr)).numpy() if cfg.embedding_norm != "none" else X_tr
        model.mean.copy_(torch.from_numpy(Z.mean(0)))
        model.std.copy_(torch.from_numpy(Z.std(0) + 1e-5))
    train, val = (X_tr, y_tr), (X_va, y_va)
    if cfg.corpus_balance:
        g_tr, g_va = groups
        train += (sample_weights(y_tr, g_tr, n_classes, per_class=cfg.class_weights),)
        val += (sample_weights(y_va, g_va, n_classes, per_class=cfg.class_weights),)
        loss_fn = WeightedCrossEntropy(cfg.label_smoothing)
    else:
        loss_fn = nn.CrossEntropyLoss(weight=class_weight_tensor(y_tr, n_classes) if cfg.class_weights else None,
                                      label_smoothing=cfg.label_smoothing)
    opt, schedule = make_optimizer(cfg, model.parameters())
    return fit_epochs(model, opt, loss_fn, train, val, epochs=cfg.max_epochs, patience=cfg.patience,
                      batch_size=cfg.batch_size, seed=cfg.seed, schedule=schedule, progress=progress,
                      min_batch=2 if cfg.head == "mlp" else 1)  # batch norm (mlp head) needs two samples


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature scaling (Guo et al. 2017): the T > 0 minimising the NLL of
    softmax(logits / T) on held-out data. The argmax is unchanged."""
    z, t = torch.from_numpy(np.asarray(logits, np.float64)), torch.from_numpy(np.asarray(y, np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(z / log_t.exp(), t)
        loss.backward()
        return loss

    opt.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def fit_class_offsets(parts) -> np.ndarray:
    """A prior correction: one logit offset per class (summing to zero) minimising the class-balanced log loss of
    ``parts``, ``[(clip labels, clip logits)]`` of corpora each scored by heads that never trained on it, every corpus
    weighing the same. Fitted across corpora, it moves decisions towards the classes models over-hear on speech
    they never heard (benchmarks/default_candidates.py)."""
    terms = []
    for y, z in parts:
        _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        w = 1.0 / counts[inverse]
        terms.append((torch.from_numpy(np.asarray(z, np.float64)), torch.from_numpy(np.asarray(y, np.int64)),
                      torch.from_numpy(w / w.sum())))
    b = torch.zeros(np.asarray(parts[0][1]).shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([b], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = sum((w * nn.functional.cross_entropy(z + b - b.mean(), y, reduction="none")).sum() for z, y, w in terms)
        loss.backward()
        return loss

    opt.step(closure)
    return (b - b.mean()).detach().numpy().astype(np.float32)


def fit_calibrated_head(X: np.ndarray, y: np.ndarray, corpus: np.ndarray, speakers: np.ndarray, n_classes: int, cfg):
    """The config's head on all of (X, y) but one training speaker in nine (``cfg.seed`` draws them), on which it
    stops early and fits its temperature: (EmotionHead, temperature). What a head beside a model is trained with
    (benchmarks/adaptation.py, recipes/default/adaptation_heads.py)."""
    rng = np.random.default_rng(cfg.seed)
    names = np.unique(speakers)
    val = np.isin(speakers, rng.choice(names, size=max(1, round(len(names) / 9)), replace=False))
    model, _ = fit_head(X[~val], y[~val], X[val], y[val], n_classes, cfg, groups=(corpus[~val], corpus[val]))
    return model, fit_temperature(logits_of(model, X[val]), y[val])


def save_head(path: Path, head, *, classes: list[str], head_name: str, head_options: dict, in_dim: int,
              temperature: float = 1.0) -> None:
    """``model.pt``: the head's state and what rebuilds it. Written through a file
    handle so the archive's inner names do not depend on the temporary file
    name: the same training gives a byte-identical file. Settings at their
    defaults are left out, so files of older recipes stay byte-identical."""
    import torch

    extra = {"embedding_norm": head.embedding_norm, "layer_dim": head.layer_dim} if head.embedding_norm != "none" else {}
    if isinstance(head, HeadEnsemble):
        extra["members"] = len(head.members)
    if temperature != 1.0:
        extra["temperature"] = float(temperature)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({"state_dict": head.state_dict(), "in_dim": in_dim, "classes": classes, "head": head_name,
                    "head_options": head_options, "segser_version": __version__, **extra}, f)
