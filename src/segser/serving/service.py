"""HTTP service: post a recording, get its emotion timeline and clip decision.

    segser serve --model default --model default-4class --port 8000
    curl -F file=@speech.wav 'http://127.0.0.1:8000/predict?hop=0.5'

The JSON answer is the entry of ``segser predict --json`` for that file:
``{"model", "classes", "file", "decision", "segments"}``. Models are loaded
once at start-up. Requests are computed block by block on one compute thread
per model, in turn, so a long recording does not hold up a short one for more
than a block; live streams share the encoder, batched across streams;
``/health`` and ``/models`` never wait behind predictions. Limits are enforced
before work: upload size while the body streams in (413), audio length from
the file header (413), segments per request, and the number of recordings in
work at once: past ``max_active`` a request waits, past ``max_waiting``
waiting ones it is answered 503 with Retry-After, so the server's memory has a
ceiling. A client that disconnects stops its work. Nothing the service returns
names a path on the server.
Needs the ``service`` extra: ``pip install 'segser[service]'``.
"""
from __future__ import annotations

import asyncio
import json
import queue
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from segser.diarization.turns import TurnOptions
from segser.errors import AudioError, ConfigError, LimitExceeded, SegserError, check_number
from segser.io.audio import info
from segser.io.memory import limit_malloc_arenas, trim_heap
from segser.model import DEFAULT_MODEL, LIVE_MODEL, EmotionModel, load_model
from segser.options import parse_text
from segser.pipeline import OPTION_NAMES, Cancelled, Pipeline, PredictOptions, RunLimits
from segser.results.aggregate import RULES
from segser.results.rows import file_json
from segser.results.types import plain
from segser.serving.limits import (
    MAX_ACTIVE,
    MAX_AUDIO_S,
    MAX_SEGMENTS_PER_REQUEST,
    MAX_STREAM_S,
    MAX_STREAMS,
    MAX_UPLOAD_MB,
    MAX_WAITING,
    SHORT_S,
)
from segser.serving.stream import Stream
from segser.settings import __version__
from segser.words.transcribe import WordOptions

try:
    from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:
    raise ImportError("the service needs: pip install 'segser[service]' (fastapi, uvicorn, python-multipart)") from exc

CHUNK = 1 << 20
DEFAULT_MODELS = (DEFAULT_MODEL, LIVE_MODEL)  # uploads get the first, streams the live one
CLOSE = {"Connection": "close"}



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
            response = JSONResponse({"detail": f"upload larger than this service's limit of {self.limit_mb:g} MB"}, 413,
                                    headers=CLOSE)
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


class SharedWindows:
    """The encoder as live streams share it: windows that streams ask for while
    the encoder is busy are encoded together in its next call (up to
    ``max_windows``). Streams whose segments end at the same moment then wait
    for one call, not for each other's (8 streams in step: p95 delay 355 ->
    304 ms, p50 194 -> 259 ms; benchmarks/stream_latency.py)."""

    def __init__(self, encoder, *, max_windows: int = 8):
        self.encoder, self.max_windows = encoder, max_windows
        self.waiting: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="segser-windows", daemon=True).start()

    def __getattr__(self, name):  # everything but encode_windows is the encoder's own
        return getattr(self.encoder, name)

    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        done: Future = Future()
        self.waiting.put((windows, done))
        return done.result()

    def _run(self):
        while True:
            calls = [self.waiting.get()]
            n = len(calls[0][0])
            while n < self.max_windows:
                try:
                    calls.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
                n += len(calls[-1][0])
            try:
                out = self.encoder.encode_windows(np.concatenate([w for w, _ in calls]))
            except Exception as exc:  # each stream gets its own error
                for _, done in calls:
                    done.set_exception(exc)
                continue
            at = 0
            for w, done in calls:
                done.set_result(out[at: at + len(w)])
                at += len(w)


class ServedModel:
    """A model and the one thread that computes with it: requests queue their
    blocks there in arrival order, so concurrent requests advance round-robin (a
    short recording waits for one block of each long one, never for all of them)
    and the math libraries keep one set of threads and buffers. Live streams
    run side by side and share the encoder through :class:`SharedWindows`."""

    def __init__(self, model: EmotionModel):
        self.model = model
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"segser-{model.name}")
        self._live: EmotionModel | None = None
        self._lock = threading.Lock()

    def compute(self, fn):
        return self.thread.submit(fn).result()

    @property
    def live(self) -> EmotionModel:
        with self._lock:
            if self._live is None:
                self._live = replace(self.model, encoder=SharedWindows(self.model.encoder))
            return self._live


PCM_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
OPTION_DOC = ("query options as for `segser predict`: segment, hop (s), vad, rule ({rules}), min_score, clip_min_score, "
              "speech_gate, adapt (none | speaker | collection | auto: an upload is one recording, its own group), "
              "speakers=auto (find the speakers: turns and a speaker column) with num_speakers or max_speakers, "
              "transcribe=true (the words said: a row per utterance with its text) with language, asr, segments")


class Service:
    """What the endpoints share: the served models, the worker pool, the limits and the counters."""

    def __init__(self, models, *, runtime: str, max_upload_mb: float, max_audio_s: float, max_segments: int,
                 workers: int, max_streams: int, max_stream_s: float, max_active: int, max_waiting: int):
        self.max_upload_mb = check_number("--max-upload-mb", max_upload_mb, lo=0.001, hi=100_000)
        self.max_active = check_number("--max-active", max_active, lo=1, hi=256, integer=True)
        self.max_waiting = check_number("--max-waiting", max_waiting, lo=0, hi=100_000, integer=True)
        self.admission = asyncio.Semaphore(self.max_active)
        self.max_audio_s = check_number("--max-audio-s", max_audio_s, lo=1, hi=86_400 * 7)
        self.max_segments = check_number("max_segments", max_segments, lo=1, hi=10_000_000, integer=True)
        self.max_streams = check_number("max_streams", max_streams, lo=1, hi=10_000, integer=True)
        self.max_stream_s = check_number("max_stream_s", max_stream_s, lo=1, hi=86_400 * 7)
        self.served: dict[str, ServedModel] = {}
        for ref in models or list(DEFAULT_MODELS):
            m = load_model(ref, runtime=runtime)
            self.served[m.name] = ServedModel(m)
        self.names = list(self.served)
        # what a stream gets when it names no model: the first served model with trailing windows (results as soon
        # as a segment ends), else the first
        self.live_name = next((n for n in self.names if self.served[n].model.segmentation.context == "trailing"),
                              self.names[0])
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segser-predict")
        self.predictions = {"running": 0, "waiting": 0, "done": 0, "failed": 0, "cancelled": 0, "refused_busy": 0}
        self.streams = {"open": 0, "done": 0, "failed": 0, "disconnected": 0}

    def model(self, name: str | None) -> ServedModel:
        name = name or self.names[0]
        if name not in self.served:
            raise LookupError(f"model {name!r} is not served here; served: {', '.join(self.names)}")
        return self.served[name]

    def health(self) -> dict:
        return {"status": "ok", "version": __version__, "models": self.names, "predictions": dict(self.predictions),
                "streams": dict(self.streams)}

    async def predict(self, request: Request) -> dict:
        q = request.query_params
        try:
            entry = self.model(q.get("model"))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        try:
            options = PredictOptions.from_text(dict(q))
            speakers, turns = _speakers(q)
            pipeline = Pipeline(entry.model, options, speakers=speakers, turns=turns, transcribe=_words(q),
                                limits=RunLimits(max_seconds=self.max_audio_s, max_segments=self.max_segments,
                                                 block_windows=2))  # 10 s blocks: many requests, bounded memory
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        if self.predictions["running"] + self.predictions["waiting"] >= self.max_active + self.max_waiting:
            self.predictions["refused_busy"] += 1
            raise HTTPException(503, f"busy: {self.predictions['running']} recordings in work and "
                                     f"{self.predictions['waiting']} waiting; try again shortly",
                                headers={"Retry-After": "10", **CLOSE})
        self.predictions["waiting"] += 1
        admitted, waiting = False, True
        try:
            with tempfile.TemporaryDirectory(prefix="segser-") as tmp:
                shown = await _receive_upload(request, Path(tmp), self.max_upload_mb)
                path = Path(tmp) / f"audio{_suffix(shown)}"
                if not _short(path):  # a short recording holds little: it never waits behind long ones
                    await self.admission.acquire()
                    admitted = True
                self.predictions["waiting"] -= 1
                waiting = False
                result = await self._run(request, entry, pipeline, path, shown)
        finally:
            if admitted:
                self.admission.release()
            if waiting:
                self.predictions["waiting"] -= 1
        return {"model": entry.model.name, "classes": entry.model.classes, **file_json(result, name=shown)}

    async def _run(self, request: Request, entry: ServedModel, pipeline: Pipeline, path: Path, shown: str):
        cancel = threading.Event()

        def work():
            try:
                return pipeline.run_file(path, cancelled=cancel.is_set, compute=entry.compute)
            finally:
                trim_heap()

        future = asyncio.get_running_loop().run_in_executor(self.pool, work)
        self.predictions["running"] += 1
        outcome = "failed"
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=0.2)
                if done:
                    result = future.result()
                    outcome = "done"
                    return result
                if await request.is_disconnected():
                    cancel.set()
        except Cancelled:
            outcome = "cancelled"
            raise HTTPException(499, "client disconnected") from None
        except AudioError as exc:
            raise HTTPException(413 if isinstance(exc, LimitExceeded) else 400, f"{shown}: {exc.problem}") from None
        except SegserError as exc:
            raise HTTPException(422, str(exc).replace(str(path), shown)) from None
        finally:
            if not future.done():  # the request itself was cancelled (server shutting down)
                cancel.set()
            self.predictions["running"] -= 1
            self.predictions[outcome] += 1

    def open_stream(self, query) -> tuple[Stream, ServedModel, str]:
        """A live stream from WebSocket parameters (ConfigError when they are wrong or the service is full)."""
        try:
            entry = self.model(query.get("model") or self.live_name)
        except LookupError as exc:
            raise ConfigError(str(exc)) from None
        if self.streams["open"] >= self.max_streams:
            raise ConfigError(f"this service already runs its limit of {self.max_streams} streams; try again later")
        fmt = query.get("format", "s16le")
        if fmt not in PCM_FORMATS:
            raise ConfigError(f"format must be one of {', '.join(PCM_FORMATS)} (got {fmt!r})")
        rate = parse_text(query.get("rate", "16000"), int, where="rate")
        channels = parse_text(query.get("channels", "1"), int, where="channels")
        live = Stream(entry.live, sample_rate=rate, channels=channels, options=PredictOptions.from_text(dict(query)))
        return live, entry, fmt

    async def stream(self, ws: WebSocket) -> None:
        """Live timeline: query ``rate`` (Hz), ``format`` (s16le | f32le), ``channels``, ``model`` and the
        options of /predict; then binary frames of interleaved little-endian PCM; the text message
        ``{"type": "end"}`` ends the stream."""
        await ws.accept()
        try:
            live, entry, fmt = self.open_stream(ws.query_params)
        except SegserError as exc:
            await _close_with_error(ws, str(exc), 1008)
            return
        self.streams["open"] += 1
        outcome = "failed"
        try:
            await ws.send_json({"type": "ready", "model": entry.model.name, "classes": entry.model.classes,
                                "segmentation": live.segmentation.describe(), "sample_rate": live.rate, "format": fmt})
            outcome = await self._pump(ws, live, fmt)
        except WebSocketDisconnect:
            outcome = "disconnected"
        except SegserError as exc:
            await _close_with_error(ws, str(exc), 1007 if isinstance(exc, AudioError) else 1008)
        finally:
            self.streams["open"] -= 1
            self.streams[outcome] += 1

    async def _pump(self, ws: WebSocket, live: Stream, fmt: str) -> str:
        """Frames in, segments out, until the end message (-> "done") or a disconnect."""
        dtype = PCM_FORMATS[fmt]
        loop, frame = asyncio.get_running_loop(), dtype.itemsize * live.channels
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return "disconnected"
            if message.get("bytes") is not None:
                data = message["bytes"]
                if len(data) % frame:
                    raise AudioError("<stream>", f"a binary frame of {len(data)} bytes is not whole {fmt} samples "
                                                 f"of {live.channels} channel(s)")
                samples = np.frombuffer(data, dtype=dtype).reshape(-1, live.channels)
                if live.seconds + len(samples) / live.rate > self.max_stream_s:
                    raise LimitExceeded("<stream>", f"more than this service's limit of {self.max_stream_s:g} s per stream")
                results = await loop.run_in_executor(self.pool, live.push, samples)
            else:
                try:
                    text = json.loads(message.get("text") or "")
                except json.JSONDecodeError:
                    raise ConfigError("text messages must be JSON, e.g. {\"type\": \"end\"}") from None
                if not isinstance(text, dict) or text.get("type") != "end":
                    raise ConfigError('unknown message; send PCM as binary frames and {"type": "end"} to finish')
                results = await loop.run_in_executor(self.pool, live.finish)
            for r in results:
                await ws.send_json({"type": "segment", **{k: plain(v) for k, v in r.items()}})
            if live.finished:
                note = live.note()
                await ws.send_json({"type": "decision", **live.decision().as_dict(),
                                    **({"adaptation": note.as_dict()} if note is not None else {})})
                await ws.close(1000)
                return "done"


def create_app(models=None, *, max_upload_mb: float = MAX_UPLOAD_MB, max_audio_s: float = MAX_AUDIO_S,
               max_segments: int = MAX_SEGMENTS_PER_REQUEST, workers: int = 16, max_streams: int = MAX_STREAMS,
               max_stream_s: float = MAX_STREAM_S, max_active: int = MAX_ACTIVE, max_waiting: int = MAX_WAITING,
               runtime: str = "auto"):
    """A FastAPI app serving ``models`` (run directories, exports or built-in names; default: the built-in
    ``default`` for uploads, ``live-4class`` for streams) on ``runtime`` (as for predict). The first one answers
    when a request names none. At most ``max_active`` uploads are in work at once, ``max_waiting`` more wait."""
    limit_malloc_arenas()
    service = Service(models, runtime=runtime, max_upload_mb=max_upload_mb, max_audio_s=max_audio_s,
                      max_segments=max_segments, workers=workers, max_streams=max_streams, max_stream_s=max_stream_s,
                      max_active=max_active, max_waiting=max_waiting)
    app = FastAPI(title="segser", version=__version__,
                  description="Segment-level speech emotion recognition: an emotion timeline and a clip decision per recording.")
    app.add_middleware(BodyLimit, limit=int(service.max_upload_mb * CHUNK), limit_mb=service.max_upload_mb)
    app.state.service = service
    app.state.served, app.state.pool = service.served, service.pool

    @app.get("/health")
    async def health():
        """Answered on the event loop, never queued behind predictions."""
        return service.health()

    @app.get("/models")
    async def list_models():
        return [service.served[n].model.describe() for n in service.names]

    upload = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "an audio file (wav, flac, ogg, mp3, ...)"}}}}}},
        "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                       for n in ("model", *OPTION_NAMES, "speakers", "num_speakers", "max_speakers", "transcribe",
                                 "language", "asr", "segments")]}

    @app.post("/predict", openapi_extra=upload, description=OPTION_DOC.format(rules=", ".join(RULES)))
    async def predict(request: Request):
        return await service.predict(request)

    @app.websocket("/stream")
    async def stream(ws: WebSocket):
        await service.stream(ws)

    web = Path(__file__).parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(web / "index.html")

    return app


def _short(path: Path) -> bool:
    """Whether an upload's header says it is at most SHORT_S long (an unreadable one is refused by the pipeline)."""
    try:
        return info(path).duration <= SHORT_S
    except AudioError:
        return True


def _speakers(query) -> tuple[str | None, TurnOptions | None]:
    """``speakers=auto`` (with ``num_speakers``, ``max_speakers``): find the upload's speakers."""
    speakers = query.get("speakers")
    if speakers is None:
        if "num_speakers" in query or "max_speakers" in query:
            raise ConfigError("num_speakers and max_speakers go with speakers=auto")
        return None, None
    if speakers != "auto":
        raise ConfigError(f"speakers must be 'auto' for an upload (got {speakers!r}): each upload is one recording")
    number = {k: parse_text(query[k], int, where=k) for k in ("num_speakers", "max_speakers") if k in query}
    return "auto", TurnOptions(**number)


def _words(query) -> WordOptions | bool:
    """``transcribe=true`` (with ``language``, ``asr``, ``segments``): the words said, a row per utterance."""
    given = {k: query[k] for k in ("language", "asr", "segments") if k in query}
    if not parse_text(query.get("transcribe", "false"), bool, where="transcribe"):
        if given:
            raise ConfigError(f"{next(iter(given))} goes with transcribe=true")
        return False
    return WordOptions(**given)


async def _close_with_error(ws, detail: str, code: int) -> None:
    """An error message, then the close frame with the reason (cut to the 123 bytes a close frame holds)."""
    reason = detail.encode("utf-8")[:120].decode("utf-8", "ignore")
    try:
        await ws.send_json({"type": "error", "detail": detail})
        await ws.close(code, reason=reason)
    except Exception:  # the client is already gone
        pass


async def _receive_upload(request: Request, folder: Path, max_upload_mb: float) -> str:
    """Save the multipart field ``file`` as ``folder/audio<suffix>``; its safe display name."""
    try:
        form = await request.form(max_files=1, max_fields=20)
    except BodyTooLarge:
        # the connection is closed with the answer: the rest of the body is never read
        raise HTTPException(413, f"upload larger than this service's limit of {max_upload_mb:g} MB", headers=CLOSE) from None
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


def serve(models=None, *, host: str = "127.0.0.1", port: int = 8000, runtime: str = "auto", **limits) -> None:
    """Run the service with uvicorn; ``limits``: those of :func:`create_app`."""
    import uvicorn

    uvicorn.run(create_app(models, runtime=runtime, **limits), host=host, port=port)
