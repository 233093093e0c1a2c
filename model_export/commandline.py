"""Flags shared by `bucketscore train`, `tune` and `export` (pipelines/commands/*.py).

Storage flags (`--s3_endpoint_url`, `--s3_access_key_id`, GCS project, ...) are Beam
pipeline options, accepted and validated as `score` does; anything else unknown is refused.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from model_export.bundle import INTERPOLATIONS, RESIZE_MODES

STORAGE_HELP = ("Storage options for buckets (--s3_endpoint_url, --s3_access_key_id, "
                "--s3_secret_access_key, --project, ...) are accepted as for score; other "
                "unknown flags are refused.")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def apply_storage_flags(extra: list[str]) -> None:
    """Refuse unknown flags; hand the storage (Beam) options to the filesystems."""
    from pipelines.options import UsageError, unknown_beam_flags
    from storage import uris

    unknown = unknown_beam_flags(extra)
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)}")
    if extra:
        uris.set_options(extra)


def add_input_arguments(parser: argparse.ArgumentParser, sizes_from: str) -> None:
    g = parser.add_argument_group("model input (what model.json records)")
    g.add_argument("--height", type=positive_int, help=f"input height (default: {sizes_from})")
    g.add_argument("--width", type=positive_int, help=f"input width (default: {sizes_from})")
    g.add_argument("--channels", type=int, choices=(1, 3),
                   help=f"1 (grey) or 3 (RGB) (default: {sizes_from})")
    g.add_argument("--resize", choices=RESIZE_MODES, default=None,
                   help="how images of another size are fitted: squash (stretch), crop "
                        "(centre crop), fill (pad) (default squash)")
    g.add_argument("--interpolation", choices=INTERPOLATIONS, default=None,
                   help="resampling filter (default bilinear)")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="URI",
                   help="prefix with one folder per class (or images + --labels_csv); "
                        "train/, validation/, test/ below it are used as given")
    g.add_argument("--labels_csv", metavar="URI",
                   help="CSV with path,label columns (paths relative to --data or full URIs); "
                        "default: <data>/labels.csv if present, else folder names")
    g.add_argument("--validation_fraction", type=fraction, default=0.15,
                   help="share of each class held out for validation when there is no "
                        "validation/ folder (default 0.15)")
    g.add_argument("--test_fraction", type=fraction, default=0.15,
                   help="share of each class held out for the test report when there is no "
                        "test/ folder (default 0.15; 0 = no test split)")
    g.add_argument("--seed", type=int, default=0, help="seed for the split, weights and "
                                                       "augmentation (default 0)")


def add_model_arguments(parser: argparse.ArgumentParser, architectures, default_arch) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--architecture", choices=architectures, default=None,
                   help=f"lenet and small_cnn train from scratch; the others are Keras "
                        f"Applications backbones for transfer learning (default "
                        f"{default_arch})")
    g.add_argument("--base_weights", metavar="PATH",
                   help="backbone weights: a Keras weights file (local or bucket: "
                        "*.weights.h5 from save_weights, or a Keras Applications *_notop.h5); "
                        "'imagenet' downloads them (needs internet). Without it the backbone "
                        "starts from random weights")
    g.add_argument("--alpha", type=positive_float, default=1.0,
                   help="mobilenet_v2 width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4; "
                        "default 1.0)")
    g.add_argument("--head_units", type=non_negative_int, default=0,
                   help="a Dense layer of this size between the pooled backbone features and "
                        "the softmax (default 0: none; the embeddings are the pooled "
                        "features)")
    g.add_argument("--name", help="bundle name in model.json (default from architecture and "
                                  "data)")
    g.add_argument("--no-onnx", dest="onnx", action="store_false",
                   help="do not write model.onnx (default: write it, parity-checked)")


def add_augmentation_arguments(parser: argparse.ArgumentParser) -> None:
    from model_export.training import FLIPS

    g = parser.add_argument_group("augmentation (training images only)")
    g.add_argument("--flip", choices=FLIPS, default="none", help="random flips (default none)")
    g.add_argument("--rotation", type=float, default=0.0, metavar="DEGREES",
                   help="random rotation up to +-DEGREES")
    g.add_argument("--zoom", type=float, default=0.0, metavar="F",
                   help="random zoom up to +-F (0.1 = 10%%)")
    g.add_argument("--translate", type=float, default=0.0, metavar="F",
                   help="random shift up to +-F of the size")
    g.add_argument("--contrast", type=float, default=0.0, metavar="F",
                   help="random contrast change up to +-F")


def augmentation_from_args(args):
    from model_export.training import Augmentation

    return Augmentation(flip=args.flip, rotation=args.rotation, zoom=args.zoom,
                        contrast=args.contrast, translate=args.translate)


def run_reporting_errors(command: str, fn: Callable[[], int]) -> int:
    """Run `fn`; the errors users cause or meet (data, weights, export) become one line and
    exit status 1; UsageError propagates (status 2)."""
    from model_export.architectures import BackboneError
    from model_export.bundle import BundleError
    from model_export.datasets import DatasetError
    from model_export.exporting import ExportError
    from model_export.preprocessing import ScalingError
    from model_export.training import TrainError

    try:
        return fn()
    except (TrainError, DatasetError, ExportError, BundleError, BackboneError,
            ScalingError) as e:
        print(f"bucketscore {command}: error: {e}", file=sys.stderr)
        return 1
