"""The training configuration: frozen, typed dataclasses validated where they
are made, saved as ``config.json`` in every run directory.

>>> cfg = TrainConfig.from_dict({"corpora": [{"name": "emodb", "root": "data/emodb"}], "backbone": "logmel"})
>>> cfg.segmentation.hop
1.0
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from segser.encoders.backbones import backbone_class
from segser.errors import ConfigError, check_choice, check_number
from segser.heads import MAX_ENSEMBLE, check_head
from segser.options import as_dict, build
from segser.results.aggregate import RULES
from segser.segmentation.config import Segmentation
from segser.training import protocols


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus: a loader name (``emodb``, ``csv``, ...), its root and loader options."""

    name: str
    root: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseConfig:
    """Paper 002 noise mix-up: ``copies`` noisy copies of each training clip at an
    SNR drawn from ``snrs`` (noise from ``dir``/train), and noisy test sets at
    each of ``test_snrs`` (noise from ``dir``/test)."""

    dir: str
    snrs: tuple[float, ...] = (15.0, 20.0, 40.0)
    copies: int = 1
    test_snrs: tuple[float, ...] = ()

    def __post_init__(self):
        for snr in (*self.snrs, *self.test_snrs):
            check_number("noise SNR", snr, lo=-20, hi=100, unit="dB")
        check_number("noise copies", self.copies, lo=0, hi=20, integer=True)
        if self.copies and not self.snrs:
            raise ConfigError("noise: training copies need at least one SNR in 'snrs'")


@dataclass(frozen=True)
class FinetuneConfig:
    """End-to-end fine-tuning: the last ``blocks`` blocks of the backbone (all if
    null) train with ``backbone_lr`` beside the head (``head_lr``, default the
    config's ``lr``); ``in_context`` encodes each segment inside its clip's
    window (Whisper); ``warm_start`` trains the head on frozen embeddings first.
    ``epochs``/``patience`` default to the config's ``max_epochs``/``patience``."""

    blocks: int | None = None
    backbone_lr: float = 1e-5
    head_lr: float | None = None
    epochs: int | None = None
    patience: int | None = None
    in_context: bool = False
    warm_start: bool = False

    def __post_init__(self):
        if self.blocks is not None:
            check_number("finetune blocks", self.blocks, lo=0, hi=1000, integer=True)  # 0: backbone frozen
        check_number("finetune backbone_lr", self.backbone_lr, lo=0, hi=10, lo_open=True)
        if self.head_lr is not None:
            check_number("finetune head_lr", self.head_lr, lo=0, hi=10, lo_open=True)
        for name in ("epochs", "patience"):
            if getattr(self, name) is not None:
                check_number(f"finetune {name}", getattr(self, name), lo=1, hi=100_000, integer=True)


@dataclass(frozen=True)
class TrainConfig:
    corpora: tuple[CorpusSpec, ...] = ()
    labels: str | None = None  # label set (see labels.py); None: every label of the data
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
    lr_decay_every: int = 1  # ... every this many epochs (002: 0.2 every 2)
    batch_size: int = 32
    max_epochs: int = 200
    patience: int = 15
    class_weights: bool = False  # paper 004's class-weighted cross-entropy
    corpus_balance: bool = False  # every training corpus weighs the same in the loss (and each class within it)
    label_smoothing: float = 0.0
    embedding_norm: str = "none"  # "per_layer": each segment's embedding standardised within each layer
    calibrate: bool = False  # temperature scaling fitted on validation speakers; ECE reported
    speaker_norm: bool = False  # per-speaker standardisation (needs several clips per test speaker)
    speaker_vectors: bool = False  # append each speaker's mean embedding (003's i-vector role)
    aggregation: str = "mean_logits"
    speech_gate: float = 0.2  # segments with less speech (Silero VAD share) neither train nor vote (timeline.SPEECH_GATE)
    seed: int = 0
    ensemble: int = 1  # heads per model, seeds seed..seed+ensemble-1, each with its own validation speakers; mean logits
    prior_correction: bool = False  # class offsets fitted on each training corpus held out from heads of the others
    folds: tuple[int, ...] | None = None  # run only these fold indices (smoke runs)
    noise: NoiseConfig | None = None
    finetune: FinetuneConfig | None = None
    final_model: bool = True
    # beside the final model, what makes --adapt auto safe on it (README: Adaptation): a mood check fitted on the
    # folds' test speakers, and heads for speaker- and corpus-standardised input
    mood_check: bool = True
    adaptation_heads: bool = True

    def __post_init__(self):

        check_number("lr", self.lr, lo=0, hi=10, lo_open=True)
        check_number("weight_decay", self.weight_decay, lo=0, hi=1)
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        check_number("lr_decay", self.lr_decay, lo=0, hi=1, lo_open=True)
        check_number("lr_decay_every", self.lr_decay_every, lo=1, hi=100_000, integer=True)
        check_number("batch_size", self.batch_size, lo=1, hi=65_536, integer=True)
        check_number("max_epochs", self.max_epochs, lo=1, hi=100_000, integer=True)
        check_number("patience", self.patience, lo=1, hi=100_000, integer=True)
        check_number("seed", self.seed, lo=0, hi=2**32 - 1, integer=True)
        check_number("ensemble", self.ensemble, lo=1, hi=MAX_ENSEMBLE, integer=True)
        check_choice("aggregation", self.aggregation, tuple(RULES))
        check_number("speech_gate", self.speech_gate, lo=0.0, hi=1.0)
        check_number("label_smoothing", self.label_smoothing, lo=0.0, hi=0.5)
        check_choice("embedding_norm", self.embedding_norm, ("none", "per_layer"))
        for f in self.folds or ():
            check_number("fold index", f, lo=0, hi=100_000, integer=True)
        build(backbone_class(self.backbone).config_type, self.backbone_options, where=f"{self.backbone} options")
        check_head(self.head, self.head_options)
        if self.protocol is not None:
            protocols.check_spec(self.protocol)
        if self.finetune is not None and (self.speaker_norm or self.speaker_vectors or self.noise or self.head == "svm"
                                          or self.corpus_balance or self.calibrate or self.embedding_norm != "none"):
            raise ConfigError("fine-tuning does not combine with speaker_norm, speaker_vectors, noise, corpus_balance, "
                              "calibrate, embedding_norm or the svm head")
        if (self.ensemble > 1 or self.prior_correction) and (self.finetune is not None or self.head == "svm"):
            raise ConfigError("ensemble and prior_correction take frozen-backbone torch heads (not fine-tuning, not the "
                              "svm head)")

    def to_dict(self) -> dict:
        return as_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = {k: v for k, v in dict(d).items() if k != "protocol_resolved"}
        return build(cls, d, where="config")

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        return cls.from_dict(raw)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
