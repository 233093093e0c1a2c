"""run_folder/suspects.py: confident learning's rule on rows with top-k probabilities."""

from __future__ import annotations

import pytest

from bucketscore.run_folder import suspects
from bucketscore.run_folder.schemas import parse_csv

T = {"cat": 0.9, "dog": 0.8, "fox": 0.7, "owl": 0.6}


def _row(uri, given, own, top):
    labels, scores = zip(*top)
    return {
        "uri": uri,
        "true_label": given,
        "true_label_score": own,
        "top_k_labels": list(labels),
        "top_k_scores": list(scores),
    }


def test_a_label_below_its_threshold_with_another_class_above_its_own_is_a_suspect():
    record, unchecked = suspects.judge(
        _row("a", "cat", 0.05, [("dog", 0.85), ("fox", 0.08), ("cat", 0.05)]), T
    )
    assert record.pop("margin") == pytest.approx(0.8) and not unchecked
    assert record == {
        "uri": "a",
        "given_label": "cat",
        "suggested_label": "dog",
        "given_score": 0.05,
        "suggested_score": 0.85,
    }


def test_not_a_suspect_when_its_own_score_reaches_its_threshold_or_no_other_class_does():
    assert suspects.judge(_row("a", "cat", 0.92, [("cat", 0.92), ("dog", 0.8)]), T) == (
        None,
        False,
    )
    # own low, but dog at 0.5 < 0.8: nobody else is confident either
    four = [("dog", 0.5), ("cat", 0.3), ("fox", 0.1), ("owl", 0.1)]
    assert suspects.judge(_row("b", "cat", 0.3, four), T) == (None, False)


def test_the_most_probable_qualifying_class_is_suggested():
    row = _row("a", "cat", 0.01, [("fox", 0.72), ("owl", 0.25), ("cat", 0.01)])
    # fox 0.72 >= 0.7 and owl 0.25 < 0.6: fox
    assert suspects.judge(row, T)[0]["suggested_label"] == "fox"


def test_a_top_k_too_short_to_rule_out_the_others_is_unchecked():
    # top 2 of 4 classes: owl is outside; its probability is at most the 2nd score (0.3),
    # which could reach owl's threshold 0.2: not judged. With owl at 0.6 it cannot.
    row = _row("a", "cat", 0.3, [("dog", 0.61), ("cat", 0.3)])
    assert suspects.judge(row, {**T, "owl": 0.2}) == (None, True)
    assert suspects.judge(row, T) == (None, False)
    row = _row("b", "cat", 0.3, [("dog", 0.5), ("cat", 0.3)])
    assert suspects.judge(row, {**T, "owl": 0.9, "fox": 0.9}) == (None, False)


def test_rows_without_a_known_label_or_score_are_not_judged():
    assert suspects.judge(_row("a", None, None, [("dog", 0.9)]), T) == (None, False)
    assert suspects.judge(_row("a", "yak", 0.1, [("dog", 0.9)]), T) == (None, False)
    assert suspects.judge(_row("a", "cat", None, [("dog", 0.9)]), T) == (None, False)


def test_the_csv_is_ordered_by_margin_then_uri_and_keys_agree():
    records = [
        {
            "uri": u,
            "given_label": "cat",
            "suggested_label": "dog",
            "given_score": 0.1,
            "suggested_score": 0.1 + m,
            "margin": m,
        }
        for u, m in (("b", 0.5), ("a", 0.5), ("c", 0.9))
    ]
    rows = parse_csv(suspects.suspects_csv(records))
    assert [r["uri"] for r in rows] == ["c", "a", "b"]
    assert list(rows[0]) == list(suspects.SUSPECT_COLUMNS)
    best = sorted(records, key=suspects.suspect_key, reverse=True)
    assert [r["uri"] for r in best] == ["c", "a", "b"]


def test_summary_section_and_warning():
    section = suspects.summary_section({"rows": [{}], "count": 7, "unchecked": 2}, top_k=3)
    assert section == {"count": 7, "written": 1, "unchecked": 2, "top_k": 3}
    assert "larger --top_k" in suspects.warning(section)
    assert suspects.warning(dict(section, unchecked=0)) is None
    assert suspects.summary_section(None, 3) is None
