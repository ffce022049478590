"""HTTP service: post a recording, get its emotion timeline and clip decision.

    segser serve --model default --model default-4class --port 8000
    curl -F file=@speech.wav 'http://127.0.0.1:8000/predict?hop=0.5'

The JSON answer is the entry of ``segser predict --json`` for that file:
``{"model", "classes", "file", "decision", "segments"}``. Models are loaded
once at start-up; each model serves one request at a time (the CPU is the
bottleneck, so queueing beats oversubscribing it). Bad audio is a 400 whose
message names the uploaded file and the problem; too large a file is a 413.
Needs the ``service`` extra: ``pip install 'segser[service]'``.
"""
import tempfile
import threading
from pathlib import Path

from . import __version__
from .aggregate import RULES
from .audio import AudioError
from .inference import Model, file_json, load_model, predict_file, segmentation_override

try:
    from fastapi import FastAPI, File, HTTPException, Query, UploadFile
except ImportError as exc:
    raise ImportError("the service needs: pip install 'segser[service]' (fastapi, uvicorn, python-multipart)") from exc

CHUNK = 1 << 20


def create_app(models=None, *, max_upload_mb: float = 200.0):
    """A FastAPI app serving ``models`` (run directories or built-in names;
    default: the built-in ``default``). The first one answers when a request
    names none."""
    refs = [str(m) for m in (models or ["default"])]
    loaded: dict[str, Model] = {ref: load_model(ref) for ref in refs}
    locks = {ref: threading.Lock() for ref in refs}
    limit = int(max_upload_mb * CHUNK)
    app = FastAPI(title="segser", version=__version__,
                  description="Segment-level speech emotion recognition: an emotion timeline and a clip decision per recording.")

    def describe(ref: str, m: Model) -> dict:
        seg = m.segmentation
        return {"name": ref, "classes": m.classes, "backbone": m.backbone.describe(),
                "segmentation": {"method": seg.method, "length": seg.length, "hop": seg.hop},
                "card": {k: m.card[k] for k in ("name", "summary", "per_corpus_pooled_over_folds", "chance", "licence")
                         if k in m.card}}

    @app.get("/health")
    def health():
        return {"status": "ok", "version": __version__, "models": refs}

    @app.get("/models")
    def list_models():
        return [describe(ref, m) for ref, m in loaded.items()]

    @app.post("/predict")
    def predict(file: UploadFile = File(..., description="an audio file (wav, flac, ogg, mp3, ...)"),
                model: str | None = Query(None, description=f"one of the served models (default: {refs[0]})"),
                segment: float | None = Query(None, gt=0, le=30, description="segment length in seconds"),
                hop: float | None = Query(None, gt=0, le=30, description="segment hop in seconds"),
                vad: bool = Query(False, description="segments follow speech; silence gets no emotion"),
                rule: str = Query("mean_logits", description=f"clip decision rule: {', '.join(RULES)}")):
        ref = model or refs[0]
        if ref not in loaded:
            raise HTTPException(404, f"model {ref!r} is not served here; served: {', '.join(refs)}")
        if rule not in RULES:
            raise HTTPException(422, f"unknown rule {rule!r}; available: {', '.join(RULES)}")
        m = loaded[ref]
        name = Path(file.filename or "upload").name
        with tempfile.TemporaryDirectory(prefix="segser-") as tmp:
            path = Path(tmp) / name
            size = 0
            with open(path, "wb") as out:
                while chunk := file.file.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(413, f"{name}: larger than this service's limit of {max_upload_mb:g} MB")
                    out.write(chunk)
            try:
                with locks[ref]:
                    timeline, decision = predict_file(
                        m, path, rule=rule, segmentation=segmentation_override(m, segment=segment, hop=hop, vad=vad))
            except AudioError as exc:
                raise HTTPException(400, str(exc).replace(str(path), name)) from None
        return {"model": ref, "classes": m.classes, **file_json(name, decision, timeline.drop(columns="file"))}

    return app


def serve(models=None, *, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 200.0) -> None:
    import uvicorn

    uvicorn.run(create_app(models, max_upload_mb=max_upload_mb), host=host, port=port)
