"""`bucketscore tune`, the command: search flags checked (exit 2) before anything is read,
and what needs a transfer-learning architecture. The search itself:
tests/model_export/test_tuning.py."""

from __future__ import annotations

import pytest

from bucketscore.cli.main import main


def test_tune_flags_are_checked(tmp_path, capsys):
    base = ["tune", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(base + ["--learning_rate", "1e-2:1e-3"]) == 2
    assert "low < high" in capsys.readouterr().err
    assert main(base + ["--batch_size", "0,16"]) == 2
    assert main(base + ["--fine_tune_layers", "0,10"]) == 1  # small_cnn has no backbone
    assert "transfer-learning" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dropout", "0.5:1.5"], "--dropout values must be in [0, 1)"),
        (["--epochs", "x"], "--epochs 'x': expected a number"),
        (["--flip", "sideways"], "invalid choice"),
        (["--translate", "2"], "--translate must be between 0 and 1"),
        (["--algorithm", "grid"], "invalid choice"),
    ],
)
def test_wrong_search_flags_exit_2(flags, message, tmp_path, capsys):
    argv = ["tune", "--data", str(tmp_path), "--out", str(tmp_path / "o")] + flags
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own refusals (choices)
        status = e.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
