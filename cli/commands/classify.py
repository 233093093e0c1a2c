"""`bucketscore classify`: what is in these images? A few images answered at once, no pipeline."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from bucketscore.pipelines.validators import positive_int

NAME = "classify"
RETRY_SECONDS = 10  # storage retries for a command that answers in about a second
HELP = "classify a few images at once (local files, s3://, gs://, - for stdin): no pipeline"
DESCRIPTION = (
    "Run a few images through a model bundle and print each one's top-k labels "
    "and probabilities, best first. No Beam pipeline: images are read, decoded and "
    "preprocessed exactly as `score` does (model.json) and predicted in one call, "
    "with ONNX Runtime when the bundle has model.onnx. For folders and buckets of "
    "images use `bucketscore score`."
)
EPILOG = textwrap.dedent("""\
    Output: one line per image on stdout, URI<TAB>label probability<TAB>... (best first);
    an image that cannot be read or decoded is one line on stderr, URI<TAB>error (stage):
    why, and the others are still answered. --json prints one JSON list instead: an object
    per image with uri, top_k_labels, top_k_scores, width and height, or uri, stage and
    error.

    examples:
      bucketscore classify photo.jpg --model models/digits
      bucketscore classify scans/*.png --model s3://models/digits --top_k 3
      bucketscore classify s3://my-images/2026-11/cat_001.jpg gs://b/dog.png \\
          --model s3://models/pets --s3_endpoint_url http://127.0.0.1:8333 --json
      curl -s https://example.com/cat.jpg | bucketscore classify - --model models/pets
    Storage options (--s3_endpoint_url=..., --s3_access_key_id=..., ...) are accepted as for
    score; write them as --flag=value when they come before the images. Other unknown flags
    are refused.
    Exit status: 0 every image answered, 1 some image failed (or the bundle does not load),
    2 the command was wrong.""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, s3:// or gs:// objects, or - (one image read from standard input)",
    )
    parser.add_argument(
        "--model", required=True, metavar="URI", help="a model bundle (local folder, s3://, gs://)"
    )
    parser.add_argument(
        "--top_k",
        type=positive_int,
        default=5,
        metavar="K",
        help="labels shown per image (default 5)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON list (an object per image) instead of lines",
    )
    add_model_runtime_flags(parser)


def add_model_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """--backend, --device and --max_pixels: how an image goes through the bundle (`serve`
    takes them as `classify` does)."""
    # Not bundle.classify: it loads Pillow and numpy, which --help must not.
    from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--backend",
        choices=("auto", "tf", "onnx", "torch"),
        default="auto",
        help="auto (default): ONNX Runtime when the bundle has model.onnx, else TensorFlow, "
        "else PyTorch (torch: bundles exported with --torch, and the torch extra)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="where inference runs (default auto: a GPU if the backend has one)",
    )
    parser.add_argument(
        "--max_pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"larger images are errors, not decoded (default {DEFAULT_MAX_PIXELS:,})",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.bundle import devices
    from bucketscore.bundle.classify import STDIN, classify, open_model
    from bucketscore.bundle.meta import BundleError, read_meta
    from bucketscore.bundle.predictor import choose_backend
    from bucketscore.errors import UsageError
    from bucketscore.storage.errors import retry_budget

    images = list(args.images)
    if extra:  # no flags, no Beam: checking them loads Beam's option parser (~1 s)
        from bucketscore.storage import uris

        flags, later_images = storage_flags(extra)
        images += later_images
        uris.set_options(flags)
    if images.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once: it holds one image")
    if "://" in args.model:  # a bucket: one cheap request first (a local bundle: read_meta)
        from bucketscore.storage.preflight import Target, check_targets

        check_targets([Target("--model", args.model)], extra)
    try:
        meta = read_meta(args.model)
        backend = choose_backend(meta, args.backend)
        device = devices.resolve(args.device, backend)
    except (BundleError, devices.DeviceError) as e:
        raise UsageError(str(e)) from None
    try:
        model = open_model(args.model, backend, device)
    except BundleError as e:
        print(f"bucketscore classify: error: {e}", file=sys.stderr)
        return 1
    answers = []
    failed = 0
    # A few images, answered in about a second: a storage that does not answer is given
    # seconds (RETRY_SECONDS), not the pipeline's minutes (storage.errors.RETRY_SECONDS).
    with retry_budget(RETRY_SECONDS):
        for answer in classify(
            model,
            images,
            k=args.top_k,
            stdin=sys.stdin.buffer if STDIN in images else None,
            max_pixels=args.max_pixels,
        ):
            failed += not answer.ok
            if args.json:
                answers.append(answer.as_dict())
            elif answer.ok:
                print(answer.line(), flush=True)
            else:
                print(answer.line(), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(answers, indent=2))
    return 1 if failed else 0


def storage_flags(extra: list[str]) -> tuple[list[str], list[str]]:
    """(Beam storage flags, images) from what argparse did not know. Images after a storage
    flag's value land there (`a.png --s3_endpoint_url URL b.png`); a flag whose value was
    taken for an image (`--s3_endpoint_url URL a.png`: argparse reads URL as the first
    image) or that Beam does not know is a UsageError."""
    from bucketscore.cli.storage_flags import not_storage_options
    from bucketscore.errors import UsageError
    from bucketscore.private_apis import beam_option_parser

    wrong = not_storage_options(extra)
    if wrong:  # refused at once, before Beam's option parser is loaded
        raise UsageError(f"unknown option(s): {' '.join(wrong)}")
    parser = beam_option_parser()
    parser.exit_on_error = False  # a missing value: our one-line error, not Beam's usage
    try:
        _known, unknown = parser.parse_known_args(extra)
    except argparse.ArgumentError as e:
        raise UsageError(
            f"{e} (write storage options as --flag=VALUE, or after the images)"
        ) from None
    wrong = [f for f in unknown if f.startswith("-")]
    if wrong:
        raise UsageError(f"unknown option(s): {' '.join(wrong)}")
    images = [x for x in unknown if not x.startswith("-")]
    return [x for x in extra if x not in images], images
