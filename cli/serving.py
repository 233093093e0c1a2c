"""`bucketscore serve`'s HTTP side: a bundle behind a scoring URL (Starlette on uvicorn).

    app = make_app(model, settings)          # bundle.classify.Model, Settings
    serve(app, host="127.0.0.1", port=8080)  # until SIGTERM / SIGINT

Routes (TF Serving's REST paths, so its clients and Vertex AI's request format work):

    POST /v1/models/<name>:predict   {"instances": [{"b64": ...}, ...]} -> {"predictions": [...]}
    POST /v1/models/<name>:classify  raw image bytes (Content-Type image/* or
                                     application/octet-stream), ?top_k=K -> one prediction
    GET  /v1/models/<name>           labels, input, version (TF Serving's model_version_status)
    GET  /healthz                    {"status": "ok"}

An image is decoded and preprocessed by bundle.images.decode_image with the bundle's
model.json, exactly as `score` and `classify` do, and predicted by the same predictor
(bundle.predictor) through bundle.batching.Batcher: concurrent requests share inference
calls. Every answer carries the bundle's name and version in X-Model-Name and
X-Model-Version. Errors are {"error": "<one line>"}: 400 a malformed request, 404 another
model name or path, 413 a body over --max_body_mb, 415 a :classify body that is not an
image type, 422 a :classify image that cannot be decoded; a bad image among a :predict
request's instances is an error entry in its place and the others are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Optional, Union

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bucketscore.bundle.batching import Batcher
from bucketscore.bundle.classify import Model
from bucketscore.bundle.images import DecodeError, decode_image
from bucketscore.bundle.predictor import top_k
from bucketscore.bundle.serving_format import (
    BadInstance,
    RequestError,
    failure,
    model_metadata,
    parse_predict_request,
    parse_top_k,
    prediction,
)
from bucketscore.errors import error_message

IMAGE_TYPES = ("image/", "application/octet-stream")


@dataclass(frozen=True)
class Settings:
    """What `bucketscore serve`'s flags decide for the app."""

    top_k: int = 5  # labels per answer when a request does not say
    max_body_bytes: int = 32 * 2**20
    max_pixels: int = 100_000_000
    max_batch: int = 32  # images per inference call (bundle.batching)
    device: str = "cpu"


class _TooLarge(Exception):
    pass


def make_app(model: Model, settings: Settings) -> Starlette:
    """The Starlette app serving `model`; its Batcher starts now and closes at shutdown."""
    batcher = Batcher(model.predictor, settings.max_batch)
    meta = model.meta
    headers = {"X-Model-Name": meta.name, "X-Model-Version": meta.version}
    metadata = model_metadata(meta, model.backend, settings.device)

    def answer(body, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    def error(status: int, message: str) -> JSONResponse:
        return answer({"error": message}, status)

    def check_name(request: Request) -> Optional[JSONResponse]:
        name = request.path_params["name"]
        if name != meta.name:
            return error(404, f"no model {name!r} here: this server serves {meta.name!r}")
        return None

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise _TooLarge
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def too_large() -> JSONResponse:
        return error(
            413,
            f"the request body is over {settings.max_body_bytes:,} bytes (--max_body_mb); "
            f"send fewer or smaller images per request",
        )

    def decode_all(images: list[Union[bytes, BadInstance]]) -> list:
        """pixels, width, height per image, or a failure dict (in a worker thread)."""
        out = []
        for data in images:
            if isinstance(data, BadInstance):
                out.append(failure(data.stage, data.error))
                continue
            try:
                out.append(decode_image(data, meta.input, settings.max_pixels))
            except DecodeError as e:
                out.append(failure("decode", str(e)))
            except Exception as e:  # noqa: BLE001 - anything Pillow raises is this image's
                out.append(failure("decode", error_message(e)))
        return out

    async def predict_all(images: list[Union[bytes, BadInstance]], k: int) -> list[dict]:
        decoded = await anyio.to_thread.run_sync(decode_all, images)
        ok = [i for i, d in enumerate(decoded) if not isinstance(d, dict)]
        futures = batcher.submit([decoded[i][0] for i in ok])
        results: list = list(decoded)
        for i, future in zip(ok, futures):
            _pixels, width, height = decoded[i]
            try:
                probs = await asyncio.wrap_future(future)
            except Exception as e:  # noqa: BLE001 - this image's inference error
                results[i] = failure("inference", error_message(e))
                continue
            labels, scores = top_k(np.asarray(probs), meta.labels, k)
            results[i] = prediction(labels, scores, width, height)
        return results

    async def predict(request: Request) -> JSONResponse:
        wrong = check_name(request)
        if wrong:
            return wrong
        try:
            parsed = parse_predict_request(await read_body(request))
        except _TooLarge:
            return too_large()
        except RequestError as e:
            return error(400, str(e))
        k = parsed.top_k or settings.top_k
        return answer({"predictions": await predict_all(parsed.images, k)})

    async def classify(request: Request) -> JSONResponse:
        wrong = check_name(request)
        if wrong:
            return wrong
        kind = request.headers.get("content-type", "")
        if not kind.startswith(IMAGE_TYPES):
            return error(
                415,
                f"send the image's bytes as Content-Type image/* or application/octet-stream "
                f"(got {kind or 'none'}); JSON with base64 images goes to "
                f"/v1/models/{meta.name}:predict",
            )
        try:
            k = parse_top_k(request.query_params.get("top_k")) or settings.top_k
            body = await read_body(request)
        except _TooLarge:
            return too_large()
        except RequestError as e:
            return error(400, str(e))
        if not body:
            return error(400, "the request body is empty: send one image's bytes")
        (result,) = await predict_all([body], k)
        return answer(result, 422 if "error" in result else 200)

    async def describe(request: Request) -> JSONResponse:
        if request.path_params["name"].endswith((":predict", ":classify")):
            return error(405, f"GET is not allowed on {request.url.path}: POST to it")
        return check_name(request) or answer(metadata)

    async def healthz(_request: Request) -> JSONResponse:
        return answer({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await anyio.to_thread.run_sync(batcher.close)  # answers what was submitted

    async def not_found(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path}")
        return error(
            exc.status_code,
            f"no such path {request.url.path}: POST /v1/models/{meta.name}:predict or "
            f":classify, GET /v1/models/{meta.name}, GET /healthz",
        )

    app = Starlette(
        routes=[
            Route("/v1/models/{name}:predict", predict, methods=["POST"]),
            Route("/v1/models/{name}:classify", classify, methods=["POST"]),
            Route("/v1/models/{name}", describe, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one); OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said out loud: asyncio sets TCP_NODELAY only on connections of a socket
    # whose proto is TCP, and without it a keep-alive client waits ~40 ms per answer
    # (Nagle against delayed ACKs; docs/performance.md, "A scoring URL").
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: Starlette, sock: socket.socket, ready_line: str) -> None:
    """Serve on `sock` until SIGTERM or SIGINT (uvicorn's handlers: requests in flight are
    answered, then the batcher is closed); `ready_line` goes to stderr once listening."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    # uvicorn answers SIGTERM/SIGINT by shutting down gracefully and then raising the signal
    # again with the handlers it found; with these, that second raise is a no-op and the
    # command returns (exit 0) instead of dying of the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            print(ready_line, file=sys.stderr, flush=True)
        await task

    asyncio.run(main())
