"""`bucketscore tune`: hyperparameter search (KerasTuner); the best trial becomes the bundle."""

from __future__ import annotations

import argparse
import textwrap

NAME = "tune"
HELP = "search hyperparameters (KerasTuner) and export the best model"
DESCRIPTION = (
    "Search learning rate, batch size, epochs, dropout and fine-tune depth with "
    "KerasTuner (random or Bayesian search) over a trial budget; the objective is "
    "validation accuracy. Every trial trains as `bucketscore train` does. Writes "
    "the best model as a bundle, with tuning/trials.csv and tuning/trials.png "
    "(all trials) and the best trial's training report."
)
EPILOG = (
    textwrap.dedent("""\
    Each search flag takes a value (0.001), a list of choices (16,32,64) or a range
    (1e-4:1e-2; the learning rate is sampled log-uniformly).

    examples:
      bucketscore tune --data demo_data/digits/ --architecture lenet --trials 8 \\
          --learning_rate 1e-4:1e-2 --batch_size 16,32,64 --epochs 10,20 \\
          --out models/digits-tuned
      bucketscore tune --data gs://images/pets/ --architecture mobilenet_v2 \\
          --base_weights gs://models/mobilenet_v2_notop.weights.h5 --algorithm bayesian \\
          --trials 12 --fine_tune_layers 0,20,40 --dropout 0.1:0.5 --out gs://models/pets-tuned
    """)
    + "\n"
    + "Storage options for buckets (--s3_endpoint_url, ...) are accepted as for "
    "score; other unknown flags are refused.\nExit status: 0 searched and written, 1 failed, "
    "2 the command was wrong."
)

DEFAULT_ARCHITECTURE = "small_cnn"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.model_export.architectures import ARCHITECTURES
    from bucketscore.model_export.tuning import ALGORITHMS
    from bucketscore.pipelines.validators import positive_int

    parser.add_argument(
        "--out",
        required=True,
        metavar="URI",
        help="where to write the best model's bundle (local, s3://, gs://)",
    )
    flags.add_training_arguments(
        parser, ARCHITECTURES, DEFAULT_ARCHITECTURE, "the architecture's usual size"
    )
    g = parser.add_argument_group("search")
    g.add_argument("--trials", type=positive_int, default=10, help="trial budget (default 10)")
    g.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="random",
        help="KerasTuner RandomSearch or BayesianOptimization (default random)",
    )
    g.add_argument(
        "--learning_rate",
        default="1e-4:1e-2",
        help="Adam learning rate (default 1e-4:1e-2, log-uniform)",
    )
    g.add_argument("--batch_size", default="16,32,64", help="default 16,32,64")
    g.add_argument("--epochs", default="10", help="most epochs per trial (default 10)")
    g.add_argument("--dropout", default="0.0:0.5", help="default 0.0:0.5")
    g.add_argument(
        "--fine_tune_layers",
        default=None,
        help="backbone layers unfrozen after the head is trained (transfer "
        "learning only), e.g. 0,20,40 (default: no fine-tuning)",
    )
    g.add_argument(
        "--fine_tune_epochs",
        type=positive_int,
        help="most fine-tuning epochs per trial (default: the trial's epochs)",
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        default=3,
        help="early stopping patience within a trial (default 3)",
    )
    g.add_argument(
        "--work_dir",
        metavar="DIR",
        help="keep KerasTuner's trial files here (default: a temporary folder, removed at the end)",
    )
    flags.add_augmentation_arguments(parser)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli import storage_flags
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.cli.commands.train import summary_lines
    from bucketscore.errors import UsageError
    from bucketscore.model_export.training import TrainConfig, TrainError
    from bucketscore.model_export.tuning import SearchSpace
    from bucketscore.storage.preflight import check_targets

    storage_flags.apply(extra)
    try:
        space = SearchSpace.parse(
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            epochs=args.epochs,
            dropout=args.dropout,
            fine_tune_layers=args.fine_tune_layers,
        )
        augment = flags.augmentation_from_args(args)
    except TrainError as e:
        raise UsageError(str(e)) from None
    cfg = TrainConfig(
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
        patience=args.patience,
        head_units=args.head_units,
        alpha=args.alpha,
        fine_tune_epochs=args.fine_tune_epochs,
        base_weights=args.base_weights,
        name=args.name,
        onnx=args.onnx,
        augment=augment,
    )
    if not flags.check_training_packages(
        NAME, ("keras_tuner",) + (flags.ONNX_EXPORT if cfg.onnx else ())
    ):
        return 1
    # The install first (missing packages are not a wrong command), then the paths.
    check_targets(flags.training_targets(args), extra)  # forms, local paths, one request per bucket

    def go() -> int:
        from bucketscore.model_export.tuning import tune

        result = tune(
            cfg,
            space,
            trials=args.trials,
            algorithm=args.algorithm,
            work_dir=args.work_dir,
            log=print,
        )
        print(summary_lines(result.meta, cfg.out, result.meta.metrics["train_seconds"]))
        print(
            f"trials: {cfg.out.rstrip('/')}/tuning/trials.csv and trials.png "
            f"({len(result.trials)} trials in {result.seconds:.1f} s; best: trial "
            f"{result.best['trial']})"
        )
        return 0

    return flags.run_reporting_errors(NAME, go)
