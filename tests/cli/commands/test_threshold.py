"""`bucketscore threshold`: reads a finished run's summary.json; exit 0, 1 (cannot read, or
the target is out of reach) and 2 (a wrong command)."""

from __future__ import annotations

import json

import pytest

from bucketscore.cli.main import main
from bucketscore.run_folder.accuracy import summarise_rows
from tests.support.evidence_rows import ten_rows


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "r1"
    folder.mkdir()
    summary = dict(summarise_rows(ten_rows(), ["cat", "dog"]), run_id="r1")
    summary["suspect_labels"] = {"count": 2, "written": 2, "unchecked": 0, "top_k": 2}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "_SUCCESS").write_text("{}")
    return str(folder)


def test_prints_the_table_and_the_threshold_that_reaches_the_target(run, capsys):
    assert main(["threshold", run, "--target_accuracy", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "threshold 0.46 keeps 50.0% of images at 100.0% accuracy" in out
    assert "suspect labels: 2 (suspect_labels.csv)" in out


def test_a_target_out_of_reach_exits_1_and_json_has_the_figures(run, capsys):
    assert main(["threshold", run, "--target_accuracy", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["target"]["threshold"] == 0.46
    with open(run + "/summary.json") as f:
        summary = json.load(f)
    curve = summary["threshold_evidence"]["curve"]
    summary["threshold_evidence"]["curve"] = [
        dict(p, accuracy=min(p["accuracy"] or 0, 0.5)) for p in curve
    ]
    with open(run + "/summary.json", "w") as f:
        json.dump(summary, f)
    assert main(["threshold", run, "--target_accuracy", "0.9"]) == 1
    assert "no threshold reaches 90.0% accuracy" in capsys.readouterr().out


def test_what_is_not_a_finished_run_is_one_line_exit_1(tmp_path, capsys):
    assert main(["threshold", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip().endswith("no such folder")
    assert main(["threshold", str(tmp_path)]) == 1
    assert "has no readable summary.json" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "old"}))
    assert main(["threshold", str(tmp_path)]) == 1
    assert "no threshold evidence" in capsys.readouterr().err


def test_a_wrong_command_exits_2(run, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["threshold", run, "--target_accuracy", "2"])
    assert exited.value.code == 2
    assert main(["threshold", run, "--target_accuracy", "0"]) == 2
