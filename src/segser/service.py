"""HTTP service: post a recording, get its emotion timeline and clip decision.

    segser serve --model default --model default-4class --port 8000
    curl -F file=@speech.wav 'http://127.0.0.1:8000/predict?hop=0.5'

The JSON answer is the entry of ``segser predict --json`` for that file:
``{"model", "classes", "file", "decision", "segments"}``. Models are loaded
once at start-up. Requests are computed block by block on one compute thread
per model, in turn, so a long recording does not hold up a short one for more
than a block;
``/health`` and ``/models`` never wait behind predictions. Limits are enforced
before work: upload size while the body streams in (413), audio length from
the file header (413), segments per request. A client that disconnects stops
its work. Nothing the service returns names a path on the server.
Needs the ``service`` extra: ``pip install 'segser[service]'``.
"""
from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import __version__
from .aggregate import RULES
from .errors import AudioError, ConfigError, LimitExceeded, SegserError
from .inference import Cancelled, file_json, predict_file, trim_heap
from .model import EmotionModel, load_model

try:
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.responses import JSONResponse
except ImportError as exc:
    raise ImportError("the service needs: pip install 'segser[service]' (fastapi, uvicorn, python-multipart)") from exc

CHUNK = 1 << 20
MAX_SEGMENTS_PER_REQUEST = 20_000


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes while it streams
    in (by its Content-Length at once, else as the bytes arrive), so nothing
    larger is ever spooled to disk."""

    def __init__(self, app, limit: int, limit_mb: float):
        self.app, self.limit, self.limit_mb = app, limit, limit_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = JSONResponse({"detail": f"upload larger than this service's limit of {self.limit_mb:g} MB"}, 413)
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        return await self.app(scope, counted, send)


def upload_name(filename: str | None) -> str:
    """A safe display name for an uploaded file: its base name, printable,
    at most 100 characters; ``upload`` when nothing usable is left."""
    name = re.split(r"[/\\]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > 100:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: 90] + "." + suffix[:9]) if dot and len(suffix) < 10 else name[:100]
    return name


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ".audio"


def _limit_malloc_arenas() -> None:
    """Many request threads each get a glibc malloc arena whose fragmentation
    inflates RSS; two arenas keep the server's memory flat (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


class ServedModel:
    """A model and the one thread that computes with it: requests queue their
    blocks there in arrival order, so concurrent requests advance round-robin (a
    short recording waits for one block of each long one, never for all of them)
    and the math libraries keep one set of threads and buffers."""

    def __init__(self, model: EmotionModel):
        self.model = model
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"segser-{model.name}")

    def compute(self, fn):
        return self.thread.submit(fn).result()


def create_app(models=None, *, max_upload_mb: float = 200.0, max_audio_s: float = 600.0,
               max_segments: int = MAX_SEGMENTS_PER_REQUEST, workers: int = 32):
    """A FastAPI app serving ``models`` (run directories, exports or built-in
    names; default: the built-in ``default``). The first one answers when a
    request names none."""
    from .errors import check_number

    max_upload_mb = check_number("--max-upload-mb", max_upload_mb, lo=0.001, hi=100_000)
    max_audio_s = check_number("--max-audio-s", max_audio_s, lo=1, hi=86_400 * 7)
    max_segments = check_number("max_segments", max_segments, lo=1, hi=10_000_000, integer=True)
    _limit_malloc_arenas()
    served: dict[str, ServedModel] = {}
    for ref in models or ["default"]:
        m = load_model(ref)
        served[m.name] = ServedModel(m)
    names = list(served)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segser-predict")
    limit = int(max_upload_mb * CHUNK)
    app = FastAPI(title="segser", version=__version__,
                  description="Segment-level speech emotion recognition: an emotion timeline and a clip decision per recording.")
    app.add_middleware(BodyLimit, limit=limit, limit_mb=max_upload_mb)
    app.state.served, app.state.pool = served, pool
    counts = {"running": 0, "done": 0, "failed": 0, "cancelled": 0}

    @app.get("/health")
    async def health():
        """Answered on the event loop, never queued behind predictions."""
        return {"status": "ok", "version": __version__, "models": names, "predictions": dict(counts)}

    @app.get("/models")
    async def list_models():
        return [served[n].model.describe() for n in names]

    @app.post("/predict", openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "an audio file (wav, flac, ogg, mp3, ...)"}}}}}}})
    async def predict(request: Request,
                      model: str | None = Query(None, description=f"one of the served models (default: {names[0]})"),
                      segment: float | None = Query(None, description="segment length in seconds"),
                      hop: float | None = Query(None, description="segment hop in seconds"),
                      vad: bool = Query(False, description="segments follow speech; silence gets no emotion"),
                      rule: str = Query("mean_logits", description=f"clip decision rule: {', '.join(RULES)}"),
                      min_score: float = Query(0.0, ge=0.0, le=1.0, description="'uncertain' below this probability")):
        name = model or names[0]
        if name not in served:
            raise HTTPException(404, f"model {name!r} is not served here; served: {', '.join(names)}")
        if rule not in RULES:
            raise HTTPException(422, f"unknown rule {rule!r}; available: {', '.join(RULES)}")
        entry = served[name]
        try:
            seg = entry.model.segmentation.with_overrides(length=segment, hop=hop, vad=vad)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="segser-") as tmp:
            shown = await _receive_upload(request, Path(tmp), max_upload_mb)
            path = Path(tmp) / f"audio{_suffix(shown)}"
            cancel = threading.Event()

            def work():
                try:
                    return predict_file(entry.model, path, rule=rule, segmentation=seg, max_seconds=max_audio_s,
                                        segment_limit=max_segments, min_score=min_score,
                                        cancelled=cancel.is_set, compute=entry.compute)
                finally:
                    trim_heap()

            future = asyncio.get_running_loop().run_in_executor(pool, work)
            counts["running"] += 1
            outcome = "failed"
            try:
                while True:
                    done, _ = await asyncio.wait({future}, timeout=0.2)
                    if done:
                        result = future.result()
                        outcome = "done"
                        break
                    if await request.is_disconnected():
                        cancel.set()
            except Cancelled:
                outcome = "cancelled"
                return JSONResponse({"detail": "client disconnected"}, 499)
            except AudioError as exc:
                raise HTTPException(413 if isinstance(exc, LimitExceeded) else 400, f"{shown}: {exc.problem}") from None
            except SegserError as exc:
                raise HTTPException(422, str(exc).replace(str(path), shown)) from None
            finally:
                if not future.done():  # the request itself was cancelled (server shutting down)
                    cancel.set()
                counts["running"] -= 1
                counts[outcome] += 1
        return {"model": name, "classes": entry.model.classes, **file_json(result, name=shown)}

    return app


async def _receive_upload(request: Request, folder: Path, max_upload_mb: float) -> str:
    """Save the multipart field ``file`` as ``folder/audio<suffix>``; its safe display name."""
    try:
        form = await request.form(max_files=1, max_fields=20)
    except BodyTooLarge:
        raise HTTPException(413, f"upload larger than this service's limit of {max_upload_mb:g} MB") from None
    except Exception as exc:
        raise HTTPException(422, f"not a multipart form with a file field ({type(exc).__name__})") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "no file: send the recording as the multipart field 'file'")
    shown = upload_name(upload.filename)
    with open(folder / f"audio{_suffix(shown)}", "wb") as out:
        while chunk := await upload.read(CHUNK):
            out.write(chunk)
    await form.close()
    return shown


def serve(models=None, *, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 200.0,
          max_audio_s: float = 600.0) -> None:
    import uvicorn

    uvicorn.run(create_app(models, max_upload_mb=max_upload_mb, max_audio_s=max_audio_s), host=host, port=port)
