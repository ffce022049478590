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
import json
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import __version__
from .aggregate import RULES
from .errors import AudioError, ConfigError, LimitExceeded, SegserError
from .inference import Cancelled, file_json, plain, predict_recording, trim_heap
from .model import EmotionModel, load_model
from .stream import Stream

try:
    from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
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
               max_segments: int = MAX_SEGMENTS_PER_REQUEST, workers: int = 32, max_streams: int = 64,
               max_stream_s: float = 4 * 3600.0, runtime: str = "auto"):
    """A FastAPI app serving ``models`` (run directories, exports or built-in
    names; default: the built-in ``default``) on ``runtime`` (as for predict).
    The first one answers when a request names none."""
    from .errors import check_number

    max_upload_mb = check_number("--max-upload-mb", max_upload_mb, lo=0.001, hi=100_000)
    max_audio_s = check_number("--max-audio-s", max_audio_s, lo=1, hi=86_400 * 7)
    max_segments = check_number("max_segments", max_segments, lo=1, hi=10_000_000, integer=True)
    _limit_malloc_arenas()
    served: dict[str, ServedModel] = {}
    for ref in models or ["default"]:
        m = load_model(ref, runtime=runtime)
        served[m.name] = ServedModel(m)
    names = list(served)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segser-predict")
    limit = int(max_upload_mb * CHUNK)
    app = FastAPI(title="segser", version=__version__,
                  description="Segment-level speech emotion recognition: an emotion timeline and a clip decision per recording.")
    app.add_middleware(BodyLimit, limit=limit, limit_mb=max_upload_mb)
    app.state.served, app.state.pool = served, pool
    counts = {"running": 0, "done": 0, "failed": 0, "cancelled": 0}
    streams = {"open": 0, "done": 0, "failed": 0, "disconnected": 0}

    @app.get("/health")
    async def health():
        """Answered on the event loop, never queued behind predictions."""
        return {"status": "ok", "version": __version__, "models": names, "predictions": dict(counts),
                "streams": dict(streams)}

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
                    return predict_recording(entry.model, path, rule=rule, segmentation=seg, max_seconds=max_audio_s,
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

    @app.websocket("/stream")
    async def stream(ws: WebSocket):
        """Live timeline: query ``rate`` (Hz), ``format`` (s16le | f32le), ``channels``, and as for
        /predict ``model``, ``segment``, ``hop``, ``vad``, ``rule``, ``min_score``; then binary frames
        of interleaved little-endian PCM; the text message ``{"type": "end"}`` ends the stream."""
        await ws.accept()
        q = ws.query_params
        try:
            name = q.get("model") or names[0]
            if name not in served:
                raise ConfigError(f"model {name!r} is not served here; served: {', '.join(names)}")
            if streams["open"] >= max_streams:
                raise ConfigError(f"this service already runs its limit of {max_streams} streams; try again later")
            fmt = q.get("format", "s16le")
            if fmt not in PCM_FORMATS:
                raise ConfigError(f"format must be one of {', '.join(PCM_FORMATS)} (got {fmt!r})")
            entry = served[name]
            seg = entry.model.segmentation.with_overrides(
                length=_number(q, "segment"), hop=_number(q, "hop"), vad=q.get("vad", "false").lower() in ("1", "true", "yes"))
            live = Stream(entry.model, sample_rate=_number(q, "rate", 16000), channels=_number(q, "channels", 1),
                          segmentation=seg, rule=q.get("rule", "mean_logits"), min_score=_number(q, "min_score", 0.0),
                          compute=entry.compute)
        except SegserError as exc:
            await _close_with_error(ws, str(exc), 1008)
            return
        dtype, frame = PCM_FORMATS[fmt], PCM_FORMATS[fmt].itemsize * live.channels
        loop = asyncio.get_running_loop()
        streams["open"] += 1
        outcome = "failed"
        try:
            await ws.send_json({"type": "ready", "model": name, "classes": entry.model.classes,
                                "segmentation": seg.describe(), "sample_rate": live.rate, "format": fmt})
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    outcome = "disconnected"
                    return
                if message.get("bytes") is not None:
                    data = message["bytes"]
                    if len(data) % frame:
                        raise AudioError("<stream>", f"a binary frame of {len(data)} bytes is not whole {fmt} samples "
                                                     f"of {live.channels} channel(s)")
                    samples = np.frombuffer(data, dtype=dtype).reshape(-1, live.channels)
                    if live.seconds + len(samples) / live.rate > max_stream_s:
                        raise LimitExceeded("<stream>", f"more than this service's limit of {max_stream_s:g} s per stream")
                    results = await loop.run_in_executor(pool, live.push, samples)
                else:
                    try:
                        text = json.loads(message.get("text") or "")
                    except json.JSONDecodeError:
                        raise ConfigError("text messages must be JSON, e.g. {\"type\": \"end\"}") from None
                    if not isinstance(text, dict) or text.get("type") != "end":
                        raise ConfigError('unknown message; send PCM as binary frames and {"type": "end"} to finish')
                    results = await loop.run_in_executor(pool, live.finish)
                for r in results:
                    await ws.send_json({"type": "segment", **r})
                if live.finished:
                    await ws.send_json({"type": "decision", **{k: plain(v) for k, v in live.decision().items()}})
                    await ws.close(1000)
                    outcome = "done"
                    return
        except WebSocketDisconnect:
            outcome = "disconnected"
        except SegserError as exc:
            await _close_with_error(ws, str(exc), 1007 if isinstance(exc, AudioError) else 1008)
        finally:
            streams["open"] -= 1
            streams[outcome] += 1

    web = Path(__file__).parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(web / "index.html")

    return app


PCM_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


def _number(query, key: str, default=None):
    text = query.get(key)
    if text is None:
        return default
    try:
        return float(text) if "." in text or "e" in text.lower() or key not in ("rate", "channels") else int(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number (got {text!r})") from None


async def _close_with_error(ws, detail: str, code: int) -> None:
    try:
        await ws.send_json({"type": "error", "detail": detail})
        await ws.close(code)
    except Exception:  # the client is already gone
        pass


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
          max_audio_s: float = 600.0, runtime: str = "auto") -> None:
    import uvicorn

    uvicorn.run(create_app(models, max_upload_mb=max_upload_mb, max_audio_s=max_audio_s, runtime=runtime), host=host,
                port=port)
