"""run_folder/label_checks.py: one row judged and counted (suspect, unchecked, hashed or
not, a candidate only where the sketch says its hash may repeat); tallies summed; the
element assembled for the finishing step."""

from __future__ import annotations

from bucketscore.run_folder.duplicates import RepeatSketch
from bucketscore.run_folder.label_checks import (
    TALLIES,
    assemble,
    check_row,
    new_tally,
    sum_tallies,
)
from bucketscore.run_folder.suspects import judge

THRESHOLDS = {"cat": 0.6, "dog": 0.5}


def _row(uri, given, score, digest):
    return {
        "uri": uri,
        "true_label": given,
        "true_label_score": score,
        "top_k_labels": ["dog", "cat"],
        "top_k_scores": [0.9, 0.05],
        "sha256": digest,
    }


def test_each_row_is_judged_and_counted():
    sketch = RepeatSketch().add("a" * 64).add("a" * 64).add("b" * 64)
    tally = new_tally()
    suspect_row = _row("s3://b/1.png", "cat", 0.05, "a" * 64)
    suspect, candidate = check_row(suspect_row, THRESHOLDS, sketch, tally)
    record, _unchecked = judge(suspect_row, THRESHOLDS)
    assert record is not None and suspect[0] == record["uri"]
    assert candidate == ("a" * 64, ("s3://b/1.png", "cat"))
    fine, alone = check_row(_row("s3://b/2.png", "dog", 0.9, "b" * 64), THRESHOLDS, sketch, tally)
    assert fine is None and alone is None  # its hash was seen once
    assert check_row(_row("s3://b/3.png", None, None, None), THRESHOLDS, sketch, tally) == (
        None,
        None,
    )
    assert tally == {"hashed": 2, "unhashed": 1, "unchecked": 0, "suspects": 1, "candidates": 1}
    assert sum_tallies([tuple(tally.values()), (1, 0, 2, 0, 0)]) == (3, 1, 2, 1, 1)
    assert sum_tallies([]) == (0,) * len(TALLIES)
    found = assemble([suspect], tuple(tally.values()), ([], 1), sketch, shown=0)
    assert found["suspects"]["count"] == 1 and found["suspects"]["shown"] == []
    assert found["suspects"]["rows"][0]["uri"] == "s3://b/1.png"
    assert found["duplicates"] == {
        "rows": [],
        "hashed": 2,
        "unhashed": 1,
        "sketched": 3,
        "candidates": 1,
        "grouped": 1,
    }
