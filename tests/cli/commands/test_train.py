"""`bucketscore train`, the command: flag checks (exit 2, one line, nothing read or written),
the training configuration built from the flags, and the summary it prints. Training
itself: tests/model_export/test_training.py."""

from __future__ import annotations

import pytest

from bucketscore.cli.main import main


def test_from_and_architecture_cannot_be_combined(tmp_path, capsys):
    """Refused before the bundle or the data are read (paths that do not exist)."""
    status = main(
        [
            "train",
            "--from",
            str(tmp_path / "bundle"),
            "--data",
            str(tmp_path / "data"),
            "--architecture",
            "lenet",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert status == 2
    assert "--architecture cannot be combined with --from" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--from", "b/", "--base_weights", "w.h5"],
            "--base_weights cannot be combined with --from",
        ),
        (["--from", "b/", "--alpha", "0.5"], "--alpha cannot be combined with --from"),
        (["--from", "b/", "--head_units", "8"], "--head_units cannot be combined with --from"),
        (
            ["--validation_fraction", "0.5", "--test_fraction", "0.4"],
            "leave too little to train on",
        ),
        (["--rotation", "200"], "--rotation must be between 0 and 180, not 200.0"),
        (["--zoom", "1.5"], "--zoom must be between 0 and 1, not 1.5"),
        (["--no_such_flag", "1"], "no_such_flag"),
    ],
)
def test_wrong_commands_exit_2_with_one_line(flags, message, tmp_path, capsys):
    status = main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m")] + flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and message in err[0] and err[0].startswith("bucketscore train: error:")
    assert not (tmp_path / "m").exists()


def test_data_that_is_not_there_exits_2_before_training(tmp_path, capsys):
    status = main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert status == 2 and "--data" in err and "nothing" in err and "Traceback" not in err


def _args(argv):
    from bucketscore.cli.main import _commands, build_parser

    args, extra = build_parser(_commands()).parse_known_args(["train", *argv])
    assert extra == []
    return args


def test_the_training_configuration_follows_the_flags():
    from bucketscore.cli.commands.train import config_from_args
    from bucketscore.model_export.training import Augmentation

    cfg = config_from_args(
        _args(
            [
                "--data",
                "s3://b/data/",
                "--out",
                "m/",
                "--architecture",
                "mobilenet_v2",
                "--height",
                "96",
                "--alpha",
                "0.35",
                "--epochs",
                "7",
                "--batch_size",
                "8",
                "--fine_tune_layers",
                "20",
                "--flip",
                "both",
                "--rotation",
                "15",
                "--no-onnx",
            ]
        )
    )
    assert (cfg.data, cfg.out, cfg.architecture) == ("s3://b/data/", "m/", "mobilenet_v2")
    assert (cfg.height, cfg.width, cfg.alpha) == (96, None, 0.35)
    assert (cfg.epochs, cfg.batch_size, cfg.fine_tune_layers) == (7, 8, 20)
    assert cfg.onnx is False
    assert cfg.augment == Augmentation(flip="both", rotation=15.0)
    defaults = config_from_args(_args(["--data", "d", "--out", "o"]))
    assert defaults.architecture == "small_cnn" and defaults.onnx is True
    assert (defaults.epochs, defaults.batch_size, defaults.learning_rate) == (20, 32, 1e-3)
    assert (defaults.validation_fraction, defaults.test_fraction) == (0.15, 0.15)
    assert not defaults.augment.active


def test_the_summary_printed_at_the_end():
    from bucketscore.bundle.meta import BundleMeta, InputSpec
    from bucketscore.cli.commands.train import summary_lines

    meta = BundleMeta(
        name="m",
        version="abc123",
        labels=("a", "b", "c"),
        input=InputSpec(8, 8, 1),
        files={},
        metrics={
            "epochs": 4,
            "validation_accuracy": 0.875,
            "test_accuracy": 0.9,
            "test_images": 30,
        },
        extra={"training_files": ["training/curves.csv", "training/curves.png"]},
    )
    assert summary_lines(meta, "s3://b/m/", 12.34) == (
        "bundle: s3://b/m/ (version abc123, 3 labels)\n"
        "trained 4 epochs in 12.3 s; validation accuracy 0.8750; test accuracy 0.9000 on 30 "
        "images\n"
        "report: s3://b/m/training/curves.csv, s3://b/m/training/curves.png"
    )
    no_test = BundleMeta(
        name="m",
        version="v",
        labels=("a",),
        input=InputSpec(8, 8, 1),
        files={},
        metrics={"epochs": 1, "validation_accuracy": 0.5, "test_accuracy": None},
    )
    assert summary_lines(no_test, "m", 1.0).endswith("test accuracy n/a")
