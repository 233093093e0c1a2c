"""`bucketscore serve`: a bundle behind a scoring URL (TF Serving / Vertex AI JSON)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from bucketscore.cli.commands.classify import add_model_runtime_flags
from bucketscore.pipelines.validators import positive_int

NAME = "serve"
HELP = "serve a bundle over HTTP (TF Serving / Vertex AI JSON): a scoring URL"
DESCRIPTION = (
    "Load a model bundle once and answer HTTP requests with its predictions: the same "
    "decoding, preprocessing (model.json) and predictor as `score` and `classify`, so "
    "an image gets the same probabilities from all three. Concurrent requests share "
    "inference calls. Needs the serve extra: pip install 'bucketscore[serve]'."
)
EPILOG = textwrap.dedent("""\
    endpoints (NAME: the bundle's name, as model.json says):
      POST /v1/models/NAME:predict   {"instances": [{"b64": "<base64 image>"}, ...],
                                      "parameters": {"top_k": 3}}  (also Vertex AI's
                                      {"image_bytes": {"b64": ...}})
                                     -> {"predictions": [{"labels": [...], "scores": [...],
                                         "width": W, "height": H}, ...]}
      POST /v1/models/NAME:classify  one image's raw bytes (Content-Type image/*), ?top_k=K
      GET  /v1/models/NAME           labels, input size, version
      GET  /healthz                  {"status": "ok"}
    A bad image among the instances is {"error": ..., "stage": ...} in its place; errors
    are {"error": "..."} with 400 (malformed request), 404 (another model or path), 413
    (body over --max_body_mb), 415, 422 (a :classify image that does not decode). Every
    answer has X-Model-Name and X-Model-Version headers.

    examples:
      bucketscore serve --model models/digits --port 8080
      curl -s --data-binary @digit.png -H 'Content-Type: image/png' \\
          'http://127.0.0.1:8080/v1/models/digits:classify?top_k=3'
      bucketscore serve --model s3://models/pets --host 0.0.0.0 \\
          --s3_endpoint_url=http://127.0.0.1:8333
    Stops on SIGTERM or Ctrl-C after answering the requests in flight (exit 0). Exit
    status 2: the command was wrong (bad flag, bundle not found, port taken).""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, metavar="URI", help="a model bundle (local folder, s3://, gs://)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port to listen on (default 8080; 0: a free one, printed when ready)",
    )
    parser.add_argument(
        "--top_k",
        type=positive_int,
        default=5,
        metavar="K",
        help="labels per answer when a request does not say (default 5)",
    )
    parser.add_argument(
        "--max_batch",
        type=positive_int,
        default=32,
        metavar="N",
        help="most images per inference call, gathered from concurrent requests "
        "(default 32; 1: no batching)",
    )
    parser.add_argument(
        "--max_body_mb",
        type=_positive_float,
        default=32.0,
        metavar="MB",
        help="larger request bodies are refused with 413 (default 32)",
    )
    add_model_runtime_flags(parser)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.errors import UsageError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {args.port}")
    try:
        import starlette  # noqa: F401 - the serve extra: checked before the bundle loads
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(
            f"bucketscore serve needs the serve extra ({e.name} is not installed): "
            "pip install 'bucketscore[serve]'"
        ) from None
    from bucketscore.bundle import devices
    from bucketscore.bundle.classify import open_model
    from bucketscore.bundle.meta import BundleError, read_meta
    from bucketscore.bundle.predictor import choose_backend
    from bucketscore.cli import serving
    from bucketscore.cli.storage_flags import apply

    apply(extra)
    if "://" in args.model:
        from bucketscore.storage.preflight import Target, check_targets

        check_targets([Target("--model", args.model)], extra)
    try:
        meta = read_meta(args.model)
        backend = choose_backend(meta, args.backend)
        device = devices.resolve(args.device, backend)
        sock = serving.bind(args.host, args.port)
    except (BundleError, devices.DeviceError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    try:
        model = open_model(args.model, backend, device)
    except BundleError as e:
        sock.close()
        raise UsageError(str(e)) from None
    settings = serving.Settings(
        top_k=args.top_k,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_pixels=args.max_pixels,
        max_batch=args.max_batch,
        device=device,
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    ready = (
        f"bucketscore serve: {meta.name} {meta.version} ({model.backend} on {device}) on "
        f"http://{shown}:{port}: POST /v1/models/{meta.name}:predict or :classify "
        f"(Ctrl-C or SIGTERM stops)"
    )
    serving.serve(serving.make_app(model, settings), sock, ready)
    print("bucketscore serve: stopped", file=sys.stderr, flush=True)
    return 0
