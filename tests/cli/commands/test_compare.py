"""`bucketscore compare` on real runs: its JSON and text against figures computed
independently (scikit-learn over the written CSV rows, tests/support/run_history.py), the
release gate, runs that differ, and wrong places. The comparison itself
(run_folder.comparison) is tested directly in tests/run_folder/test_comparison.py; compare on
S3 is in tests/cli/commands/test_runs.py (test_runs_and_compare_on_s3).
"""

from __future__ import annotations

import os

import pytest

from bucketscore.cli.main import main
from tests.support.run_history import (
    FIRST,
    SECOND,
    THIRD,
    check_comparison,
    cli_json,
    expected_comparison,
    history_runs,
    run_predictions,
)


@pytest.fixture(scope="module")
def history(demo_bundle, tmp_path_factory):
    return history_runs(demo_bundle, tmp_path_factory)


def test_compare_json_matches_independent_figures(history, capsys):
    out, labels = history["out"], history["labels"]
    dir_a, dir_b = os.path.join(out, FIRST), os.path.join(out, SECOND)
    status, got = cli_json(capsys, "compare", dir_a, dir_b, "--json")
    assert status == 0
    want = expected_comparison(dir_a, dir_b, labels)
    check_comparison(got, want)
    assert want["changed"] and want["accuracy"]["b"] < want["accuracy"]["a"]  # they do differ
    assert got["a"]["run_id"] == FIRST and got["b"]["run_id"] == SECOND
    assert got["a"]["model_version"] == got["b"]["model_version"] == history["version"]
    assert got["a"]["completed"] and got["b"]["completed"] and got["warnings"] == []
    # Each changed image carries both predictions, as written in the CSVs.
    a, b = run_predictions(dir_a), run_predictions(dir_b)
    for c in got["changed"]["images"]:
        assert c["a"]["predicted_label"] == a[c["uri"]]["predicted_label"]
        assert c["b"]["predicted_label"] == b[c["uri"]]["predicted_label"]
        assert c["b"]["confidence"] == pytest.approx(b[c["uri"]]["confidence"])


def test_compare_a_subset_and_an_incomplete_run(history, capsys):
    out = history["out"]
    dir_a, dir_c = os.path.join(out, FIRST), os.path.join(out, THIRD)
    status, got = cli_json(capsys, "compare", dir_a, dir_c, "--json")
    assert status == 0
    check_comparison(got, expected_comparison(dir_a, dir_c, history["labels"]))
    assert got["images"]["only_in_a"] == 15 and got["images"]["only_in_b"] == 0
    assert got["b"]["completed"] is False
    assert any("not complete" in w for w in got["warnings"])
    assert any("different images" in w for w in got["warnings"])


def test_compare_text_output_and_the_release_gate(history, capsys):
    out = history["out"]
    dir_a, dir_b = os.path.join(out, FIRST), os.path.join(out, SECOND)
    want = expected_comparison(dir_a, dir_b, history["labels"])
    capsys.readouterr()
    assert main(["compare", dir_a, dir_b, "--show", "3"]) == 0
    text = capsys.readouterr().out
    acc = want["accuracy"]
    assert f"accuracy {acc['a']:.4f} {acc['b']:.4f} {acc['b'] - acc['a']:+.4f}" in " ".join(
        text.split()
    )
    n = len(want["changed"])
    assert f"predictions changed: {n}" in text
    listed = [
        line
        for line in text.splitlines()
        if line.startswith("  broken") or line.startswith("  fixed") or line.startswith("  changed")
    ]
    assert len(listed) == min(3, n)
    # The gate: B withholds predictions, so it is worse than A.
    assert main(["compare", dir_a, dir_b, "--max_accuracy_drop", "0"]) == 1
    assert "B is worse" in capsys.readouterr().out
    assert main(["compare", dir_a, dir_b, "--max_accuracy_drop", "1"]) == 0
    assert "B passes" in capsys.readouterr().out
    # A run compared with itself: nothing changed, no delta, and the gate passes.
    status, same = cli_json(capsys, "compare", dir_a, dir_a, "--json", "--max_accuracy_drop", "0")
    assert status == 0 and same["changed"]["count"] == 0 and same["accuracy"]["delta"] == 0
    assert same["verdict"]["passed"] is True


def test_compare_wrong_places(history, tmp_path, capsys):
    dir_a = os.path.join(history["out"], FIRST)
    assert main(["compare", dir_a, str(tmp_path)]) == 1
    assert "nothing there" in capsys.readouterr().err
    assert main(["compare", dir_a, str(tmp_path / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compare", dir_a])
    assert e.value.code == 2
