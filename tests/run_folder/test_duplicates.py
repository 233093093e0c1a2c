"""run_folder/duplicates.py: the rows of duplicates.csv and what summary.json says."""

from __future__ import annotations

from bucketscore.run_folder import duplicates
from bucketscore.run_folder.schemas import parse_csv


def test_a_group_is_one_row_per_image_and_says_whether_labels_differ():
    rows = duplicates.group_rows("h1", [("s3://b/y.png", "dog"), ("s3://b/x.png", "cat")])
    assert rows == [
        {
            "sha256": "h1",
            "uri": "s3://b/x.png",
            "true_label": "cat",
            "copies": 2,
            "labels_differ": True,
        },
        {
            "sha256": "h1",
            "uri": "s3://b/y.png",
            "true_label": "dog",
            "copies": 2,
            "labels_differ": True,
        },
    ]
    assert duplicates.group_rows("h2", [("a", "cat")]) == []
    same = duplicates.group_rows("h3", [("a", None), ("b", None)])
    assert not same[0]["labels_differ"]


def test_csv_largest_groups_first_and_the_summary():
    rows = duplicates.group_rows("aa", [("1", "x"), ("2", "x")]) + duplicates.group_rows(
        "bb", [("3", "x"), ("4", "y"), ("5", "x")]
    )
    written = parse_csv(duplicates.duplicates_csv(rows))
    assert [r["uri"] for r in written] == ["3", "4", "5", "1", "2"]
    assert written[0]["labels_differ"] == "true" and written[-1]["labels_differ"] == "false"
    section = duplicates.summary_section({"rows": rows, "unhashed": 1})
    assert section == {
        "groups": 2,
        "images": 5,
        "groups_with_different_labels": 1,
        "unhashed": 1,
    }
    assert "1 group of identical images carries different labels" in duplicates.warning(section)
    assert duplicates.warning(dict(section, groups_with_different_labels=0)) is None
