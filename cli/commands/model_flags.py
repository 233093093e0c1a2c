"""Flags shared by `bucketscore train`, `tune` and `export`, and how their errors are shown.

Storage flags (`--s3_endpoint_url`, `--s3_access_key_id`, GCS project, ...) are Beam
pipeline options, accepted and validated as `score` does; anything else unknown is refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Callable, Optional, Sequence

from bucketscore.bundle.meta import INTERPOLATIONS, RESIZE_MODES
from bucketscore.pipelines.validators import (
    fraction_below_one,
    non_negative_int,
    positive_float,
    positive_int,
)

STORAGE_HELP = (
    "Storage options for buckets (--s3_endpoint_url, --s3_access_key_id, "
    "--s3_secret_access_key, --project, ...) are accepted as for score; other "
    "unknown flags are refused."
)


# Packages of the `train` extra (setup.py): import name -> distribution name.
TRAIN_EXTRA = {
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
    "keras_tuner": "keras-tuner",
    "sklearn": "scikit-learn",
}
ONNX_EXPORT = ("tf2onnx", "onnx")


def missing_training_packages(command: str, modules: Sequence[str]) -> Optional[str]:
    """None when `modules` (of TRAIN_EXTRA) import here, else the one-line error to show.

    Scoring needs none of them (Dataflow workers install only the core); `export`, `train`,
    `tune` and `demo` do, and say so instead of failing with an ImportError."""
    missing = [TRAIN_EXTRA[m] for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"bucketscore {command}: error: needs the training packages "
        f"({', '.join(missing)}), which the core install leaves out: "
        f"pip install 'bucketscore[train]' (in a checkout: make setup)"
    )


def check_training_packages(command: str, modules: Sequence[str]) -> bool:
    """Print the error of missing_training_packages; True when everything is there."""
    problem = missing_training_packages(command, modules)
    if problem:
        print(problem, file=sys.stderr)
    return problem is None


def training_targets(args: argparse.Namespace) -> list:
    """The paths `train` and `tune` read and write, for storage.preflight: the data (and a
    labels CSV, a bundle to continue, base weights) must exist; the output must be
    reachable."""
    from bucketscore.storage.preflight import Target

    weights = args.base_weights or ""
    return [
        Target("--data", args.data, must_exist=True),
        Target("--labels_csv", args.labels_csv or "", must_exist=True, exact=True),
        Target("--from", getattr(args, "from_bundle", None) or "", must_exist=True),
        Target(
            "--base_weights", "" if weights == "imagenet" else weights, must_exist=True, exact=True
        ),
        Target("--out", args.out),
    ]


def add_training_arguments(
    parser: argparse.ArgumentParser, architectures, default_arch, sizes_from: str
) -> None:
    """What `train` and `tune` share: data, model and input groups (their own training or
    search options come after)."""
    add_data_arguments(parser)
    add_model_arguments(parser, architectures, default_arch)
    add_input_arguments(parser, sizes_from)


def add_input_arguments(parser: argparse.ArgumentParser, sizes_from: str) -> None:
    g = parser.add_argument_group("model input (what model.json records)")
    g.add_argument("--height", type=positive_int, help=f"input height (default: {sizes_from})")
    g.add_argument("--width", type=positive_int, help=f"input width (default: {sizes_from})")
    g.add_argument(
        "--channels", type=int, choices=(1, 3), help=f"1 (grey) or 3 (RGB) (default: {sizes_from})"
    )
    g.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        default=None,
        help="how images of another size are fitted: squash (stretch), crop "
        "(centre crop), fill (pad) (default squash)",
    )
    g.add_argument(
        "--interpolation",
        choices=INTERPOLATIONS,
        default=None,
        help="resampling filter (default bilinear)",
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument(
        "--data",
        required=True,
        metavar="URI",
        help="prefix with one folder per class (or images + --labels_csv); "
        "train/, validation/, test/ below it are used as given",
    )
    g.add_argument(
        "--labels_csv",
        metavar="URI",
        help="CSV with path,label columns (paths relative to --data or full URIs); "
        "default: <data>/labels.csv if present, else folder names",
    )
    g.add_argument(
        "--validation_fraction",
        type=fraction_below_one,
        default=0.15,
        help="share of each class held out for validation when there is no "
        "validation/ folder (default 0.15)",
    )
    g.add_argument(
        "--test_fraction",
        type=fraction_below_one,
        default=0.15,
        help="share of each class held out for the test report when there is no "
        "test/ folder (default 0.15; 0 = no test split)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the split, weights and augmentation (default 0)",
    )


def add_model_arguments(parser: argparse.ArgumentParser, architectures, default_arch) -> None:
    g = parser.add_argument_group("model")
    g.add_argument(
        "--architecture",
        choices=architectures,
        default=None,
        help=f"lenet and small_cnn train from scratch; the others are Keras "
        f"Applications backbones for transfer learning (default "
        f"{default_arch})",
    )
    g.add_argument(
        "--base_weights",
        metavar="PATH",
        help="backbone weights: a Keras weights file (local or bucket: "
        "*.weights.h5 from save_weights, or a Keras Applications *_notop.h5); "
        "'imagenet' downloads them (needs internet). Without it the backbone "
        "starts from random weights",
    )
    g.add_argument(
        "--alpha",
        type=positive_float,
        default=1.0,
        help="mobilenet_v2 width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4; default 1.0)",
    )
    g.add_argument(
        "--head_units",
        type=non_negative_int,
        default=0,
        help="a Dense layer of this size between the pooled backbone features and "
        "the softmax (default 0: none; the embeddings are the pooled "
        "features)",
    )
    g.add_argument("--name", help="bundle name in model.json (default from architecture and data)")
    g.add_argument(
        "--no-onnx",
        dest="onnx",
        action="store_false",
        help="do not write model.onnx (default: write it, parity-checked)",
    )


# Random changes to training images: flag -> (metavar, help).
AUGMENTATIONS = {
    "rotation": ("DEGREES", "random rotation up to +-DEGREES"),
    "zoom": ("F", "random zoom up to +-F (0.1 = 10%%)"),
    "translate": ("F", "random shift up to +-F of the size"),
    "contrast": ("F", "random contrast change up to +-F"),
}


def add_augmentation_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.model_export.training import FLIPS

    g = parser.add_argument_group("augmentation (training images only)")
    g.add_argument("--flip", choices=FLIPS, default="none", help="random flips (default none)")
    for name, (metavar, text) in AUGMENTATIONS.items():
        g.add_argument(f"--{name}", type=float, default=0.0, metavar=metavar, help=text)


def augmentation_from_args(args):
    from bucketscore.model_export.training import Augmentation

    return Augmentation(flip=args.flip, **{name: getattr(args, name) for name in AUGMENTATIONS})


def run_reporting_errors(command: str, fn: Callable[[], int]) -> int:
    """Run `fn`; the errors users cause or meet (data, weights, export) become one line and
    exit status 1; UsageError propagates (status 2)."""
    from bucketscore.bundle.meta import BundleError
    from bucketscore.model_export.architectures import BackboneError
    from bucketscore.model_export.datasets import DatasetError
    from bucketscore.model_export.exporting import ExportError
    from bucketscore.model_export.scaling import ScalingError
    from bucketscore.model_export.training import TrainError

    try:
        return fn()
    except (TrainError, DatasetError, ExportError, BundleError, BackboneError, ScalingError) as e:
        print(f"bucketscore {command}: error: {e}", file=sys.stderr)
        return 1
