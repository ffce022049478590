"""A trained emotion model, the artefact: what the pipeline, live streams, the service, export and Ray workers
hold. Loading it needs no training code; predicting with it is :mod:`segser.pipeline`'s job.

>>> model = load_model("default")            # doctest: +SKIP
>>> model.classes                             # doctest: +SKIP
['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad']

A model is an encoder (a backbone, or an exported ONNX encoder), a head
(embeddings -> logits), its class names and how it cuts audio. The torch
runtime reads a run directory (``config.json`` + ``model.pt``); the ONNX
runtime reads the folder ``segser export`` writes.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segser.adaptation.heads import ADAPTATION_HEADS_FILE, AdaptationHeads
from segser.adaptation.mood import MOOD_CHECK_FILE, MoodCheck
from segser.encoders.backbones import EXPORT_KINDS, create
from segser.encoders.engine import Embedder, Encoder
from segser.errors import ModelError
from segser.heads import MAX_ENSEMBLE
from segser.io.files import file_digest
from segser.results.aggregate import softmax
from segser.runtime import RUNTIMES, has
from segser.runtime.onnx import EXPORT_CHECKSUM, cached_export, load_exported, prune_stale_exports, weights_unchanged
from segser.segmentation.config import Segmentation

BUILTIN_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "default"
# The live default: trailing windows, so a segment's result needs no later audio (README: Live).
LIVE_MODEL = "live-4class"


@dataclass
class EmotionModel:
    name: str  # a built-in name or the run directory's name: never a path
    classes: list[str]
    segmentation: Segmentation
    encoder: Encoder  # the backbone (torch) or the exported encoder (ONNX): segser.encoders.engine.Encoder
    head: object  # embeddings (n, dim) -> logits (n, classes), numpy in and out
    runtime: str
    card: dict = field(default_factory=dict)
    source: Path | None = field(default=None, repr=False)  # where it was read from (never shown by the service)
    temperature: float = 1.0  # calibration: probabilities are softmax(logits / temperature)
    vad_file: Path | None = field(default=None, repr=False)  # an exported model's own Silero VAD
    speaker_norm: bool = False  # trained on per-speaker standardised embeddings: needs statistics to predict
    # the mean and std the head standardises its input with (the training population's, for a head trained
    # without speaker normalisation): adaptation maps a group's moments onto them
    reference: tuple | None = field(default=None, repr=False)
    speech_gate: float = 0.0  # segments with less speech were not trained on and are labelled "no speech"
    mood: MoodCheck | None = field(default=None, repr=False)  # does a voice hold one mood (the guard's test)
    adaptation: AdaptationHeads | None = field(default=None, repr=False)  # heads for adapted input

    def __post_init__(self):
        if self.mood is not None and self.reference is not None and self.mood.directions.shape[0] != len(self.reference[0]):
            raise ModelError(f"{self.name}: mood.npz has {self.mood.directions.shape[0]}-d directions but the head takes "
                             f"{len(self.reference[0])}-d embeddings; it belongs to another model")
        if self.adaptation is not None and self.reference is not None and \
                self.adaptation.shape != (len(self.reference[0]), len(self.classes)):
            raise ModelError(f"{self.name}: adaptation_heads.npz takes {self.adaptation.shape[0]}-d embeddings to "
                             f"{self.adaptation.shape[1]} classes, but the model {len(self.reference[0])}-d to "
                             f"{len(self.classes)}; it belongs to another model")

    @property
    def sample_rate(self) -> int:
        return int(self.encoder.sample_rate)

    def embedder(self, segmentation: Segmentation | None = None, *, batch_windows: int | None = None,
                 skip_below: float = 0.0) -> Embedder:
        """The streaming engine for this model; ``skip_below``: the speech gate, so what holds no speech is not encoded."""
        seg = segmentation or self.segmentation
        return Embedder(self.encoder, seg.segmenter(vad_file=self.vad_file), batch_windows=batch_windows,
                        vad_file=self.vad_file, skip_below=skip_below, context=seg.context)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.head(np.asarray(X, dtype=np.float32)), dtype=np.float32).reshape(len(X), len(self.classes))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature).astype(np.float32)

    def describe(self) -> dict:
        """What the service's /models says of this model (no server paths)."""
        return {"name": self.name, "classes": self.classes, "runtime": self.runtime, "speaker_norm": self.speaker_norm,
                "speech_gate": self.speech_gate, "mood_check": self.mood is not None,
                "adaptation_heads": self.adaptation is not None,
                "segmentation": self.segmentation.describe(), "encoder": self.encoder.describe(),
                "card": {k: _without_sources(self.card[k]) for k in ("name", "summary", "per_corpus_pooled_over_folds",
                                                                    "cross_corpus", "held_out_corpora", "chance", "licence")
                         if k in self.card}}


def builtin_models() -> list[str]:
    return sorted(d.name for d in BUILTIN_DIR.iterdir() if d.is_dir() and (d / "model.pt").exists())


def resolve_model_dir(model) -> tuple[Path, str]:
    """(folder, display name) of a run directory, export folder or built-in model name."""
    ref = DEFAULT_MODEL if model is None else model
    p = Path(ref)
    if p.is_dir():
        return p, p.resolve().name
    builtin = BUILTIN_DIR / str(ref)
    if "/" not in str(ref) and builtin.is_dir():
        return builtin, str(ref)
    raise ModelError(f"{ref}: not a run directory, an exported model nor a built-in model "
                     f"(built-in: {', '.join(builtin_models()) or 'none'})")


def _without_sources(value):
    """A card entry without the result-file paths it was written from (a service names no paths)."""
    return {k: v for k, v in value.items() if k != "source"} if isinstance(value, dict) else value


def load_model(model=None, *, runtime: str = "auto", precision: str = "auto") -> EmotionModel:
    """A run directory (``segser train``), an exported model (``segser export``) or
    a built-in model by name (default: ``default``). ``runtime``: ``torch``,
    ``onnx`` or ``auto``: the ONNX runtime (the faster path, see the README)
    whenever onnxruntime is installed and the model exports (the export is made
    once into the cache), else torch; ``precision`` for the ONNX runtime:
    ``fp32``, ``int8`` or ``auto``."""
    if isinstance(model, EmotionModel):
        return model
    if runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")
    d, name = resolve_model_dir(model)
    if (d / "export.json").exists():
        if runtime == "torch":
            raise ModelError(f"{name}: an exported (ONNX) model; it runs with --runtime onnx")
        return EmotionModel(**load_exported(d, name, precision=precision), **companions(d, name))
    if runtime == "onnx" or (runtime == "auto" and has("onnxruntime") and exportable(d)):
        return exported_for(d, name, precision=precision)
    if not has("torch"):
        raise ModelError(f"{name}: a run directory needs the torch runtime (pip install 'segser[torch]'); "
                         "or export it with 'segser export' and run the export with --runtime onnx")
    return load_torch_model(d, name)


def exportable(d: Path) -> bool:
    """Whether a run directory's model can run on the ONNX runtime (its backbone exports, its head is a torch module)."""
    try:
        cfg = json.loads((d / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return cfg.get("backbone") in EXPORT_KINDS and cfg.get("head") != "svm" and not cfg.get("speaker_vectors")


def exported_for(d: Path, name: str, *, precision: str = "auto") -> EmotionModel:
    """A run directory or built-in model on the ONNX runtime: its export, made
    once (with torch) into the cache and reused while the model and its
    backbone's weight files are unchanged."""
    verify_checksum(d, name)
    beside = companions(d, name)
    target = cached_export(d, name)
    fresh = target.exists() and (target / EXPORT_CHECKSUM).exists() and weights_unchanged(target)
    if fresh and precision != "fp32":
        fresh = "int8_file" in json.loads((target / "export.json").read_text()).get("encoder", {})
    if not fresh:
        if not has("torch"):
            raise ModelError(f"{name}: exporting it needs torch once (pip install 'segser[torch]'), or run an exported copy")
        from segser.runtime.export import export

        export(load_torch_model(d, name), target, int8=precision != "fp32", overwrite=True)
        prune_stale_exports(target, d)
    return EmotionModel(**{**load_exported(target, name, precision=precision), "source": d}, **beside)


def companions(d: Path, name: str) -> dict:
    """What adaptation reads beside a model's head, where its folder has them: the mood check and the
    adaptation heads."""
    return {"mood": MoodCheck.load(d / MOOD_CHECK_FILE, name) if (d / MOOD_CHECK_FILE).exists() else None,
            "adaptation": AdaptationHeads.load(d / ADAPTATION_HEADS_FILE, name)
            if (d / ADAPTATION_HEADS_FILE).exists() else None}


def verify_checksum(d: Path, name: str) -> None:
    checksum = d / "model.pt.sha256"
    if checksum.exists():
        expected = checksum.read_text().split()[0]
        if file_digest(d / "model.pt") != expected:
            raise ModelError(f"{name}: model.pt checksum mismatch (expected {expected}); the model file is corrupt or altered")


class TorchHead:
    """A trained torch head as a numpy function."""

    def __init__(self, module):
        self.module = module.eval()

    def __call__(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.cat([self.module(torch.from_numpy(X[i: i + batch]))
                              for i in range(0, max(len(X), 1), batch)]).numpy()

    def reference(self) -> tuple[np.ndarray, np.ndarray] | None:
        m = self.module
        if getattr(m, "embedding_norm", "none") != "none" or getattr(m.head, "raw_input", False):
            return None
        return m.mean.numpy().astype(np.float32), m.std.numpy().astype(np.float32)


def _run_config(d: Path, name: str) -> dict:
    """What inference needs of a run's config.json, read without the training configuration classes."""
    try:
        cfg = json.loads((d / "config.json").read_text())
        return {"backbone": str(cfg["backbone"]), "backbone_options": dict(cfg.get("backbone_options") or {}),
                "segmentation": Segmentation(**(cfg.get("segmentation") or {})),
                "speaker_norm": bool(cfg.get("speaker_norm", False)), "speaker_vectors": bool(cfg.get("speaker_vectors", False)),
                # models trained before the gate existed trained on every segment: they keep no gate
                "speech_gate": float(cfg.get("speech_gate", 0.0))}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{name}: config.json unreadable ({type(exc).__name__}: {str(exc)[:120]})") from None


def load_torch_model(d: Path, name: str, *, backbone=None) -> EmotionModel:
    import torch

    from segser.heads.modules import EmotionHead, HeadEnsemble

    for f in ("model.pt", "config.json"):
        if not (d / f).exists():
            raise ModelError(f"{name}: no {f}; train with 'segser train' (with a final model) first")
    verify_checksum(d, name)
    cfg = _run_config(d, name)
    if cfg["speaker_vectors"]:
        raise ModelError(f"{name}: trained with speaker vectors, which segser cannot supply when predicting; evaluate "
                         "it with 'segser train' folds, or train with --speaker-norm (usable with predict --speakers)")
    try:
        state = torch.load(str(d / "model.pt"), map_location="cpu", weights_only=True)
        head = EmotionHead(state["in_dim"], len(state["classes"]), state["head"], embedding_norm=state.get("embedding_norm", "none"),
                           layer_dim=state.get("layer_dim"), **state["head_options"])
        if "members" in state:  # a seed ensemble (TrainConfig.ensemble)
            n = state["members"]
            if not isinstance(n, int) or not 1 <= n <= MAX_ENSEMBLE:
                raise ModelError(f"{name}: model.pt names {str(n)[:20]} ensemble members (1-{MAX_ENSEMBLE} allowed)")
            head = HeadEnsemble([copy.deepcopy(head) for _ in range(n)], [1.0] * n)
        head.load_state_dict(state["state_dict"])
        if isinstance(head, HeadEnsemble) and not (torch.isfinite(head.offsets).all() and (head.temperatures > 0).all()
                                                   and torch.isfinite(head.temperatures).all()):
            raise ModelError(f"{name}: model.pt has non-finite class offsets or non-positive ensemble temperatures")
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{name}: model.pt cannot be loaded ({type(exc).__name__}: {str(exc)[:120]})") from None
    encoder = backbone or create(cfg["backbone"], **cfg["backbone_options"])
    if encoder.dim != state["in_dim"]:
        raise ModelError(f"{name}: head expects {state['in_dim']}-d features but the backbone gives {encoder.dim}-d")
    card = json.loads((d / "card.json").read_text()) if (d / "card.json").exists() else {}
    head = TorchHead(head)
    return EmotionModel(name, list(state["classes"]), cfg["segmentation"], encoder, head, "torch", card, d,
                        temperature=float(state.get("temperature", 1.0)), speaker_norm=cfg["speaker_norm"],
                        reference=head.reference(), speech_gate=cfg["speech_gate"], **companions(d, name))
