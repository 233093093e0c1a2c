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


def _hashes(n: int, salt: str = "") -> list[str]:
    import hashlib

    return [hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in range(n)]


def _sketch(parts) -> duplicates.RepeatSketch:
    merged = duplicates.RepeatSketch()
    for part in parts:
        one = duplicates.RepeatSketch()
        for h in part:
            one.add(h)
        merged.merge(one)
    return merged


def test_the_sketch_never_misses_a_repeated_hash_and_passes_few_others(monkeypatch):
    unique = _hashes(20_000)
    repeated = unique[::500]  # 40 hashes seen twice, in different parts
    parts = [unique[i::7] for i in range(7)] + [repeated]
    sketch = _sketch(parts)
    assert sketch.count == 20_040 and not sketch.dense
    assert all(sketch.may_repeat(h) for h in repeated)
    passed = [h for h in unique if sketch.may_repeat(h)]
    # Hashes seen once that share a position: ~n^2 / SKETCH_BITS, about 6 here.
    assert len(passed) - len(repeated) <= 30
    assert not any(sketch.may_repeat(h) for h in _hashes(2_000, salt="never seen"))
    # Dense (bitmaps) gives the same answers, whatever the order of the merges.
    monkeypatch.setattr(duplicates, "DENSE_AT", 1_000)
    dense = _sketch(reversed(parts))
    assert dense.dense and dense.count == 20_040
    assert [h for h in unique if dense.may_repeat(h)] == passed


def test_a_hash_repeated_inside_one_part_or_across_sparse_and_dense_parts_is_found(
    monkeypatch,
):
    monkeypatch.setattr(duplicates, "DENSE_AT", 100)
    small, big = duplicates.RepeatSketch(), duplicates.RepeatSketch()
    a, b, c = _hashes(3, salt="x")
    small.add(a).add(a).add(b)  # a twice in one part (sparse)
    for h in _hashes(500):
        big.add(h)
    big.add(c)  # dense after 100 positions
    assert big.dense and not small.dense
    small.add(c)
    merged = small.merge(big)
    assert merged.dense and merged.count == 505
    assert merged.may_repeat(a) and merged.may_repeat(c) and not merged.may_repeat(b)
