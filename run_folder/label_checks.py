"""Suspect labels and duplicate images judged on written prediction rows, without Beam:
the rule per row, the per-file tallies and the element the finishing step gets. The Beam
stage (transforms/label_checks.py) and the in-process executor (pipelines/inline_run.py)
both read the rows back from the written Parquet files and call these.

* `check_row(row, thresholds, sketch, tally)` -> (a suspect record as a tuple or None,
  a duplicate candidate `(sha256, (uri, true label))` or None), counting into `tally`
  (a dict of TALLIES);
* `assemble(kept, tallies, duplicates, sketch, shown)` -> `{"suspects", "duplicates"}`
  (run_folder/finish.py `add_label_checks` reads it).
"""

from __future__ import annotations

from typing import Iterable, Optional

from bucketscore.run_folder.duplicates import RepeatSketch, ordered
from bucketscore.run_folder.suspects import as_tuple, from_tuple, judge
from bucketscore.run_folder.suspects import ordered as by_margin

# What the checks read of a prediction row.
COLUMNS = ["uri", "true_label", "true_label_score", "top_k_labels", "top_k_scores", "sha256"]
# The per-file tallies, in this order.
TALLIES = ("hashed", "unhashed", "unchecked", "suspects", "candidates")


def new_tally() -> dict:
    return dict.fromkeys(TALLIES, 0)


def check_row(
    row: dict, thresholds: dict, sketch: RepeatSketch, tally: dict
) -> tuple[Optional[tuple], Optional[tuple]]:
    """One written row -> (its suspect record as a tuple, or None; its duplicate candidate
    (sha256, (uri, true label)) when the sketch says its hash may repeat, or None)."""
    record, not_judged = judge(row, thresholds)
    suspect = None
    if record is not None:
        tally["suspects"] += 1
        suspect = as_tuple(record)
    tally["unchecked"] += not_judged
    digest = row.get("sha256")
    if not digest:  # a carried row of a base run written before hashes were kept
        tally["unhashed"] += 1
        return suspect, None
    tally["hashed"] += 1
    if not sketch.may_repeat(digest):
        return suspect, None
    tally["candidates"] += 1
    return suspect, (digest, (row["uri"], row.get("true_label")))


def sum_tallies(tallies: Iterable[tuple]) -> tuple:
    """TALLIES tuples (one per file) -> their sums (zeros for none)."""
    total = [0] * len(TALLIES)
    for tally in tallies:
        total = [a + b for a, b in zip(total, tally)]
    return tuple(total)


def found(kept: list, count: int, unchecked: int, shown: int) -> dict:
    """(the kept suspect tuples, the counts, thumbnails wanted) -> the suspects' element:
    {"rows": the kept records as dicts, largest margin first, "count": all suspects,
    "unchecked": rows the top k could not judge, "shown": the first `shown` rows with a
    `thumbnail` for report.html}."""
    rows = by_margin(from_tuple(t) for t in kept)
    if not shown:
        return {"rows": rows, "count": count, "unchecked": unchecked, "shown": []}
    from bucketscore.run_folder.thumbnails import add_thumbnails  # Pillow: only here

    with_thumbnails = add_thumbnails({"suspects": rows[:shown]})[0]["suspects"]
    return {"rows": rows, "count": count, "unchecked": unchecked, "shown": with_thumbnails}


def assemble(kept: list, tallies: tuple, duplicates: tuple, sketch, shown: int) -> dict:
    """(the kept suspect tuples, the summed TALLIES, (duplicates.csv rows, candidates
    grouped), the sketch, thumbnails wanted) -> {"suspects", "duplicates"}."""
    counts = dict(zip(TALLIES, tallies))
    rows, grouped = duplicates
    return {
        "suspects": found(kept, counts["suspects"], counts["unchecked"], shown),
        "duplicates": {
            "rows": ordered(rows),
            "hashed": counts["hashed"],
            "unhashed": counts["unhashed"],
            "sketched": sketch.count,
            "candidates": counts["candidates"],
            "grouped": grouped,
        },
    }
