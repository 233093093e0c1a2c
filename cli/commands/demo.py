"""`bucketscore demo`: train the demo model (digits) and write the demo images."""

from __future__ import annotations

import argparse
import os

NAME = "demo"
HELP = "train the demo model (digits) and write the demo images"
DESCRIPTION = (
    "Train a LeNet-style CNN on scikit-learn's handwritten digits and write the "
    "held-out test split as PNG files, one folder per class. Skips what already "
    "exists."
)
EPILOG = (
    "examples:\n  bucketscore demo --model models/digits --data demo_data/digits\n"
    "  bucketscore demo --force      # retrain the demo model"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models/digits", help="bundle to write")
    parser.add_argument("--data", default="demo_data/digits", help="folder for the test images")
    parser.add_argument("--force", action="store_true", help="retrain even if the bundle exists")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.commands.model_flags import ONNX_EXPORT, check_training_packages
    from bucketscore.errors import UsageError
    from bucketscore.model_export.digits_demo import demo_ready, ensure_demo

    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
    if (args.force or not demo_ready(args.model, args.data)) and not check_training_packages(
        NAME, ("sklearn",) + ONNX_EXPORT
    ):
        return 1
    meta = ensure_demo(args.model, args.data, force=args.force, say=print)
    print(
        f"demo model: {os.path.abspath(args.model)} (version {meta.version}, "
        f"test accuracy {meta.metrics.get('test_accuracy', float('nan')):.4f})"
    )
    print(f"demo images: {os.path.abspath(args.data)}")
    return 0
