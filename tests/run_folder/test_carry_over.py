"""The carry-over rule of --incremental runs (run_folder.carry_over): an image keeps its base
run's row only when the base run listed it with the same size and modification time and
scored it; the carried row takes the current true label and its correctness.
"""

from __future__ import annotations

import pytest

from bucketscore.run_folder.carry_over import carried_row, listing_key, unchanged
from tests.support.report_rows import prediction_row

BASE_ROW = dict(prediction_row("s3://b/cat/1.png", "cat", "dog", 0.8), run_id="base-run")


def test_the_listing_key_is_size_and_time_as_numbers():
    assert listing_key("1024", "1700000000.5") == (1024, 1700000000.5)
    assert listing_key(0, 0) == (0, 0.0)


@pytest.mark.parametrize(
    "size,mtime,previous,rows,expected",
    [
        (100, 5.0, [(100, 5.0)], [BASE_ROW], True),  # same size, same time, scored
        (101, 5.0, [(100, 5.0)], [BASE_ROW], False),  # rewritten: another size
        (100, 6.0, [(100, 5.0)], [BASE_ROW], False),  # touched: another time
        (100, 5.0, [], [BASE_ROW], False),  # not listed by the base run
        (100, 5.0, [(100, 5.0)], [], False),  # listed but failed there: no row
        ("100", "5", [(100, 5.0)], [BASE_ROW], True),  # as a listing may give them
    ],
)
def test_unchanged_needs_the_same_key_and_a_base_row(size, mtime, previous, rows, expected):
    assert unchanged(size, mtime, iter(previous), iter(rows)) is expected


@pytest.mark.parametrize(
    "label,correct",
    [("dog", True), ("cat", False), (None, None), ("emu", False)],
)
def test_a_carried_row_takes_the_current_label_and_its_correctness(label, correct):
    row = carried_row(BASE_ROW, label)
    assert (row["true_label"], row["correct"]) == (label, correct)
    # Everything else is the base run's: its prediction, and the run that scored it.
    for column in ("uri", "predicted_label", "confidence", "top_k_labels", "run_id"):
        assert row[column] == BASE_ROW[column]
    assert BASE_ROW["true_label"] == "cat" and BASE_ROW["correct"] is False  # not changed


def test_a_carried_abstention_is_never_correct():
    row = carried_row(dict(BASE_ROW, predicted_label=None, below_threshold=True), "cat")
    assert row["correct"] is False and row["predicted_label"] is None
