"""cli.commands.model_flags: what `train`, `tune`, `export` and `demo` share: the message
for missing training packages, the paths checked before a training starts, augmentation
flags and their refusals, and how errors become one line and exit status 1."""

from __future__ import annotations

import argparse

import pytest

from bucketscore.cli.commands import model_flags
from bucketscore.errors import UsageError
from bucketscore.model_export.training import Augmentation, TrainError

ABSENT = "bucketscore_test_absent_module"  # a module no environment has


@pytest.fixture
def an_absent_package(monkeypatch):
    """One more package in the `train` extra, installed nowhere: every package of the
    extra is installed here, so a missing one has to be one that does not exist."""
    monkeypatch.setitem(model_flags.TRAIN_EXTRA, ABSENT, "absent-dist")


def test_nothing_missing_is_no_message():
    assert model_flags.missing_training_packages("train", list(model_flags.TRAIN_EXTRA)) is None
    assert model_flags.missing_training_packages("export", ()) is None


def test_the_message_names_the_distributions_and_the_install(an_absent_package):
    assert model_flags.missing_training_packages("tune", ["onnx", ABSENT]) == (
        "bucketscore tune: error: needs the training packages (absent-dist), which the core "
        "install leaves out: pip install 'bucketscore[train]' (in a checkout: make setup)"
    )


def test_check_training_packages_prints_it(an_absent_package, capsys):
    assert model_flags.check_training_packages("demo", ("sklearn",)) is True
    assert capsys.readouterr().err == ""
    assert model_flags.check_training_packages("demo", (ABSENT, "sklearn")) is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bucketscore demo: error: needs the training")


def _targets(**given):
    args = dict(data="s3://b/data/", labels_csv=None, base_weights=None, out="s3://b/m/")
    args.update(given)
    return [
        (t.flag, t.uri, t.must_exist, t.exact)
        for t in model_flags.training_targets(argparse.Namespace(**args))
    ]


def test_training_targets():
    assert _targets(from_bundle="s3://b/v1/", base_weights="w/base.weights.h5") == [
        ("--data", "s3://b/data/", True, False),
        ("--labels_csv", "", True, True),
        ("--from", "s3://b/v1/", True, False),
        ("--base_weights", "w/base.weights.h5", True, True),
        ("--out", "s3://b/m/", False, False),
    ]
    # `tune` has no --from; 'imagenet' is a download, not a path to check.
    tune = _targets(base_weights="imagenet", labels_csv="gs://c/l.csv")
    assert tune[1] == ("--labels_csv", "gs://c/l.csv", True, True)
    assert tune[2] == ("--from", "", True, False) and tune[3][1] == ""


def _augmentation_args(**given):
    args = dict(flip="none", rotation=0.0, zoom=0.0, translate=0.0, contrast=0.0)
    args.update(given)
    return argparse.Namespace(**args)


def test_augmentation_from_args():
    aug = model_flags.augmentation_from_args(_augmentation_args(flip="vertical", zoom=0.1))
    assert aug == Augmentation(flip="vertical", zoom=0.1)
    assert aug.active and not model_flags.augmentation_from_args(_augmentation_args()).active


@pytest.mark.parametrize(
    "given, message",
    [
        ({"flip": "sideways"}, "--flip must be one of none, horizontal, vertical, both"),
        ({"rotation": 181.0}, "--rotation must be between 0 and 180, not 181.0"),
        ({"rotation": -1.0}, "--rotation must be between 0 and 180"),
        ({"zoom": 1.01}, "--zoom must be between 0 and 1"),
        ({"contrast": -0.1}, "--contrast must be between 0 and 1"),
        ({"translate": 2.0}, "--translate must be between 0 and 1"),
    ],
)
def test_augmentation_refusals(given, message):
    with pytest.raises(TrainError, match=message):
        model_flags.augmentation_from_args(_augmentation_args(**given))


def test_errors_people_meet_are_one_line_and_status_1(capsys):
    from bucketscore.model_export.datasets import DatasetError

    def no_images():
        raise DatasetError("no images under s3://b/data/")

    assert model_flags.run_reporting_errors("train", no_images) == 1
    assert capsys.readouterr().err == "bucketscore train: error: no images under s3://b/data/\n"
    assert model_flags.run_reporting_errors("train", lambda: 0) == 0

    def wrong_command():
        raise UsageError("--x is wrong")

    with pytest.raises(UsageError):  # a wrong command is main's: exit status 2
        model_flags.run_reporting_errors("train", wrong_command)

    def a_bug():
        raise KeyError("not a user's error")

    with pytest.raises(KeyError):  # anything else is not dressed up as the user's error
        model_flags.run_reporting_errors("train", a_bug)
