"""The training loop shared by head training and fine-tuning: optimiser and
schedule from the config, shuffled mini-batches, early stopping on the
validation loss with the best epoch restored."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .heads import EmotionHead, SVMHead


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
    """Train until the validation loss stops improving; returns the model at its
    best epoch and the history. ``keep_eval`` is a submodule kept in eval mode
    (frozen batch-norm statistics)."""
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


def logits_of(model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(X[i: i + batch])) for i in range(0, max(len(X), 1), batch)]).numpy()


def fit_head(X_tr, y_tr, X_va, y_va, n_classes: int, cfg, *, progress: bool = False):
    """The config's head on standardised features, early stopping on validation loss.
    ``head="svm"`` fits scikit-learn's SVM on train + validation instead."""
    seed_everything(cfg.seed)
    if cfg.head == "svm":
        svm = SVMHead(**cfg.head_options, class_weight="balanced" if cfg.class_weights else None)
        return svm.fit(np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va])), [{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0}]
    model = EmotionHead(X_tr.shape[1], n_classes, cfg.head, **cfg.head_options)
    if not getattr(model.head, "raw_input", False):
        model.mean.copy_(torch.from_numpy(X_tr.mean(0)))
        model.std.copy_(torch.from_numpy(X_tr.std(0) + 1e-5))
    loss_fn = nn.CrossEntropyLoss(weight=class_weight_tensor(y_tr, n_classes) if cfg.class_weights else None)
    opt, schedule = make_optimizer(cfg, model.parameters())
    return fit_epochs(model, opt, loss_fn, (X_tr, y_tr), (X_va, y_va), epochs=cfg.max_epochs, patience=cfg.patience,
                      batch_size=cfg.batch_size, seed=cfg.seed, schedule=schedule, progress=progress,
                      min_batch=2 if cfg.head == "mlp" else 1)  # batch norm (mlp head) needs two samples
