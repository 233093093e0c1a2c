"""pipelines.features.label_checks: its flags, their checks, the plan line, and that
--no_label_checks adds nothing to the graph."""

from __future__ import annotations

import types

import pytest

from bucketscore.cli.main import main
from bucketscore.errors import UsageError
from bucketscore.pipelines.features import label_checks
from bucketscore.pipelines.options import ScoreConfig


def config(**kw) -> ScoreConfig:
    return ScoreConfig(inputs=("/imgs/",), output="/out", model="/models/m", **kw)


def test_the_flags_and_their_defaults():
    assert config().no_label_checks is False and config().max_suspects == 1_000
    assert config().target_accuracy is None
    assert label_checks.NO_LABEL_CHECKS.metadata["flag"].argparse == {"action": "store_true"}


def test_a_target_accuracy_of_zero_is_refused():
    with pytest.raises(UsageError, match="--target_accuracy must be above 0"):
        label_checks.check(config(target_accuracy=0.0))
    label_checks.check(config(target_accuracy=0.99))


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--target_accuracy", "1.5", "must be between 0 and 1"),
        ("--max_suspects", "0", "--max_suspects"),
    ],
)
def test_bad_values_exit_2_in_one_line(flag, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "score",
                "--input",
                str(tmp_path),
                "--model",
                str(tmp_path),
                "--output",
                str(tmp_path / "o"),
                flag,
                value,
            ]
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_describe_and_no_graph_piece_when_off():
    on = types.SimpleNamespace(config=config())
    off = types.SimpleNamespace(config=config(no_label_checks=True))
    assert "suspect_labels.csv (up to 1,000 rows), duplicates.csv" in label_checks.describe(on)
    assert label_checks.describe(off) == "off (--no_label_checks)"
    assert label_checks.find(None, None, None, off, shown=3) is None
