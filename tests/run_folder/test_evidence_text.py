"""run_folder/evidence_text.py: what `bucketscore threshold` prints, from a summary made by
run_folder.accuracy over known rows."""

from __future__ import annotations

import pytest

from bucketscore.run_folder.accuracy import summarise_rows
from bucketscore.run_folder.evidence_text import NoEvidence, evidence_lines, evidence_record
from tests.support.evidence_rows import ten_rows


def test_the_table_calibration_and_the_target():
    summary = dict(summarise_rows(ten_rows(), ["cat", "dog"]), run_id="r1")
    lines = evidence_lines(summary, target=1.0)
    assert lines[0] == "run r1: 10 labelled images"
    assert any(line.split() == ["0.5", "50.0%", "5", "100.0%"] for line in lines)
    assert any(line.startswith("calibration: ECE ") for line in lines)
    assert lines[-1].startswith("threshold 0.46 keeps 50.0% of images at 100.0% accuracy")
    record = evidence_record(summary, target=1.0)
    assert record["target"]["threshold"] == 0.46 and record["labelled"] == 10


def test_an_older_summary_has_no_evidence():
    with pytest.raises(NoEvidence, match="no threshold evidence"):
        evidence_lines({"run_id": "old", "accuracy": 0.9})
