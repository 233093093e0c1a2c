"""`bucketscore quantize`: add an int8 twin of a bundle's model.onnx, for CPU scoring."""

from __future__ import annotations

import argparse
import textwrap

NAME = "quantize"
HELP = "add an int8 twin of a bundle's model.onnx (faster CPU scoring: --precision int8)"
DESCRIPTION = (
    "Quantize a bundle's model.onnx statically with ONNX Runtime (QDQ, per-channel int8 "
    "weights, uint8 activations), calibrated on sample images decoded as scoring decodes "
    "them: the --calibration prefix, or generated images. Every 4th sample image (name "
    "order) is held out: on those the int8 model is compared with model.onnx (top-1 "
    "agreement, largest probability difference; with labels, the accuracy of each). Under "
    "--min_agreement the twin is refused and the bundle left unchanged; otherwise "
    "model.int8.onnx is added to the bundle (its digest in model.json, the bundle's "
    "version changes) with the figures in model.json's `int8`. Scoring runs it with "
    "`score --precision int8`, or by default when quantized with --default."
)
EPILOG = (
    textwrap.dedent("""\
    examples:
      bucketscore quantize models/digits --calibration demo_data/digits/
      bucketscore quantize s3://models/cartoons --calibration s3://photos/sample/ \\
          --samples 512 --min_agreement 0.995 --default
      bucketscore score --input demo_data/digits/ --model models/digits --output results/ \\
          --precision int8

    Labels for the accuracy figures come from --labels (default folder: the folder that
    holds each image, as for score); images whose label is not one of the bundle's count
    for the agreement only. Generated images (no --calibration) make an int8 model that
    runs, but its figures say little about real images.
    """)
    + "\n"
    + "Storage options for buckets (--s3_endpoint_url, ...) are accepted as for "
    "score; other unknown flags are refused.\nExit status: 0 the int8 twin was added, 1 "
    "ONNX Runtime failed (the message says why), 2 the command was wrong or the int8 model "
    "agrees too little with fp32 (the message gives the figures; the bundle is unchanged)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.pipelines.validators import positive_int, probability

    parser.add_argument("bundle", metavar="BUNDLE", help="the bundle (local, s3://, gs://)")
    add_quantize_arguments(parser, positive_int, probability)
    parser.add_argument(
        "--default",
        action="store_true",
        help="score with the int8 twin when no --precision is given (--precision fp32 "
        "still runs model.onnx)",
    )


def add_quantize_arguments(
    parser, positive_int, probability, calibration: bool = True, labels: bool = True
) -> None:
    """The options quantize and `export --quantize int8` share (export has its own
    --calibration, and --labels is its labels file)."""
    from bucketscore.model_export.quantizing import DEFAULT_MIN_AGREEMENT, DEFAULT_SAMPLES

    if calibration:
        parser.add_argument(
            "--calibration",
            metavar="URI",
            help="a prefix of sample images like those you will score (default: generated images)",
        )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"sample images to read, spread over the prefix: 3/4 calibrate, 1/4 measure "
        f"(default {DEFAULT_SAMPLES})",
    )
    parser.add_argument(
        "--min_agreement",
        type=probability,
        default=DEFAULT_MIN_AGREEMENT,
        metavar="F",
        help=f"refuse the int8 model when its top-1 agreement with fp32 on the held-out "
        f"images is below this (default {DEFAULT_MIN_AGREEMENT})",
    )
    if not labels:
        return
    parser.add_argument(
        "--labels",
        dest="quantize_labels",
        default="folder",
        metavar="SOURCE",
        help="true labels of the sample images for the accuracy figures: folder "
        "(default), regex:PATTERN, csv:URI or none",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli import storage_flags
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.storage.preflight import Target, check_targets

    storage_flags.apply(extra)
    if not flags.check_training_packages(NAME, ("onnx",)):
        return 1
    check_targets(
        [
            Target("BUNDLE", args.bundle, must_exist=True),
            Target("--calibration", args.calibration or "", must_exist=True),
        ],
        extra,
    )
    return run_quantize(
        args.bundle,
        calibration=args.calibration,
        samples=args.samples,
        labels=args.quantize_labels,
        min_agreement=args.min_agreement,
        default=args.default,
    )


def run_quantize(bundle: str, **options) -> int:
    """quantize_bundle, its errors one line: 2 for the command's (no model.onnx, no
    images, the agreement under the floor), 1 for ONNX Runtime's."""
    import sys

    from bucketscore.errors import UsageError
    from bucketscore.model_export.quantizing import (
        QuantizeError,
        QuantizeFailed,
        quantize_bundle,
    )

    try:
        meta = quantize_bundle(bundle, log=print, **options)
    except QuantizeError as e:
        raise UsageError(str(e)) from None
    except QuantizeFailed as e:
        print(f"bucketscore {NAME}: error: {e}", file=sys.stderr)
        return 1
    print(
        f"bundle: {bundle} (version {meta.version}): model.int8.onnx added"
        f"{', the default precision' if meta.int8_default else ''}; score it with "
        f"--precision int8"
    )
    return 0
