"""`bucketscore train`: train a classifier on a labelled prefix and write a verified bundle."""

from __future__ import annotations

import argparse
import textwrap

NAME = "train"
HELP = "train a model on a labelled prefix (from scratch, transfer learning, or --from)"
DESCRIPTION = (
    "Train an image classifier on labelled images (one folder per class, or a "
    "labels CSV; local, s3:// or gs://) and write a bundle that `bucketscore "
    "score` uses as it is: SavedModel with embeddings, model.keras, model.onnx "
    "(parity-checked), training curves (CSV + PNG), test accuracy and a per-class "
    "report."
)
EPILOG = (
    textwrap.dedent("""\
    examples:
      bucketscore train --data demo_data/digits/ --architecture lenet --out models/my-digits
      bucketscore train --data s3://images/pets/ --architecture mobilenet_v2 \\
          --base_weights s3://models/weights/mobilenet_v2_notop.weights.h5 \\
          --height 160 --width 160 --epochs 10 --fine_tune_layers 30 \\
          --flip horizontal --rotation 10 --zoom 0.1 --out s3://models/pets-v1 \\
          --s3_endpoint_url http://127.0.0.1:8333
      bucketscore train --from s3://models/pets-v1 --data s3://images/pets-2026-12/ \\
          --epochs 5 --out s3://models/pets-v2     # keeps label order, appends new classes

    Data: <data>/<label>/<image>, or images + --labels_csv (path,label). train/,
    validation/ and test/ below --data are used as given; otherwise a seeded,
    stratified split (--validation_fraction, --test_fraction).
    Without --base_weights a backbone starts from RANDOM weights (this is said when it
    happens); 'imagenet' needs internet access.
    """)
    + "\n"
    + "Storage options for buckets (--s3_endpoint_url, ...) are accepted as for "
    "score; other unknown flags are refused.\nExit status: 0 trained and written, 1 failed "
    "(the message says why), 2 the command was wrong."
)

DEFAULT_ARCHITECTURE = "small_cnn"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.model_export.architectures import ARCHITECTURES
    from bucketscore.pipelines.validators import (
        fraction_below_one,
        non_negative_int,
        positive_float,
        positive_int,
    )

    parser.add_argument(
        "--out",
        required=True,
        metavar="URI",
        help="where to write the bundle (local folder, s3://, gs://); replaced if it exists",
    )
    parser.add_argument(
        "--from",
        dest="from_bundle",
        metavar="BUNDLE",
        help="continue training this bundle (needs its model.keras): label "
        "order kept, new classes appended",
    )
    flags.add_training_arguments(
        parser,
        ARCHITECTURES,
        DEFAULT_ARCHITECTURE,
        "the architecture's usual size, or the --from bundle's",
    )
    g = parser.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=positive_int,
        default=20,
        help="most epochs (early stopping may end sooner; default 20)",
    )
    g.add_argument("--batch_size", type=positive_int, default=32, help="default 32")
    g.add_argument(
        "--learning_rate",
        type=positive_float,
        default=1e-3,
        help="Adam learning rate (default 0.001)",
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        default=5,
        help="stop after this many epochs without a lower validation loss; the "
        "best weights are kept (default 5)",
    )
    g.add_argument(
        "--dropout",
        type=fraction_below_one,
        default=0.2,
        help="dropout before the last layer (small_cnn, transfer; default 0.2)",
    )
    g.add_argument(
        "--fine_tune_layers",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="after training the head, unfreeze the last N backbone layers and "
        "train on at a lower learning rate (default 0: no fine-tuning)",
    )
    g.add_argument(
        "--fine_tune_epochs", type=positive_int, help="most fine-tuning epochs (default: --epochs)"
    )
    g.add_argument(
        "--fine_tune_learning_rate",
        type=positive_float,
        help="fine-tuning learning rate (default: --learning_rate / 10)",
    )
    flags.add_augmentation_arguments(parser)


def config_from_args(args: argparse.Namespace):
    from bucketscore.cli.commands.model_flags import augmentation_from_args
    from bucketscore.errors import UsageError
    from bucketscore.model_export.training import TrainConfig, TrainError

    if args.from_bundle:
        for flag, value in (
            ("--architecture", args.architecture),
            ("--base_weights", args.base_weights),
            ("--head_units", args.head_units or None),
            ("--alpha", None if args.alpha == 1.0 else args.alpha),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} cannot be combined with --from (the bundle's model "
                    f"is continued as it is)"
                )
    if args.validation_fraction + args.test_fraction >= 0.9:
        raise UsageError("--validation_fraction + --test_fraction leave too little to train on")
    try:
        augment = augmentation_from_args(args)
    except TrainError as e:
        raise UsageError(str(e)) from None
    return TrainConfig(
        data=args.data,
        out=args.out,
        architecture=args.architecture or DEFAULT_ARCHITECTURE,
        height=args.height,
        width=args.width,
        channels=args.channels,
        resize=args.resize,
        interpolation=args.interpolation,
        labels_csv=args.labels_csv,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        dropout=args.dropout,
        head_units=args.head_units,
        alpha=args.alpha,
        fine_tune_layers=args.fine_tune_layers,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_learning_rate=args.fine_tune_learning_rate,
        base_weights=args.base_weights,
        from_bundle=args.from_bundle,
        name=args.name,
        onnx=args.onnx,
        augment=augment,
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli import storage_flags
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.storage.preflight import check_targets

    storage_flags.apply(extra)
    cfg = config_from_args(args)
    if not flags.check_training_packages(NAME, flags.ONNX_EXPORT if cfg.onnx else ()):
        return 1
    # The install first (missing packages are not a wrong command), then the paths.
    check_targets(flags.training_targets(args), extra)  # forms, local paths, one request per bucket

    def go() -> int:
        from bucketscore.model_export.training import train

        result = train(cfg, log=print)
        print(summary_lines(result.meta, cfg.out, result.train_seconds))
        return 0

    return flags.run_reporting_errors(NAME, go)


def summary_lines(meta, out: str, seconds: float) -> str:
    m = meta.metrics
    acc = m.get("test_accuracy")
    lines = [
        f"bundle: {out} (version {meta.version}, {len(meta.labels)} labels)",
        f"trained {m.get('epochs')} epochs in {seconds:.1f} s; validation accuracy "
        f"{m.get('validation_accuracy', float('nan')):.4f}; test accuracy "
        + (f"{acc:.4f} on {m.get('test_images')} images" if acc is not None else "n/a"),
    ]
    files = meta.extra.get("training_files") or []
    if files:
        lines.append("report: " + ", ".join(f"{out.rstrip('/')}/{f}" for f in files))
    return "\n".join(lines)
