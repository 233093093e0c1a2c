"""Suspect labels in the pipeline: the records `run_folder.suspects.judge` finds in the
written rows (transforms/label_checks.py reads them back and judges them), the largest
margins kept (run_folder/suspects.py holds the rule).

`LargestMargins(max_rows)` turns suspect records (`run_folder.suspects.as_tuple` tuples)
into ONE list of at most max_rows of them, by Beam's bounded `Top` (per bundle, then
merged: no global sort of all rows on one worker). `found(kept, count, unchecked, shown)`
is what the finishing step gets: `{"rows": the kept records as dicts, largest margin
first, "count": all suspects, "unchecked": rows the top k could not judge, "shown": the
first `shown` rows with a `thumbnail` for report.html}`.
"""

from __future__ import annotations

import apache_beam as beam

from bucketscore.run_folder.suspects import from_tuple, ordered, suspect_key
from bucketscore.run_folder.thumbnails import add_thumbnails


class LargestMargins(beam.PTransform):
    """suspect records (tuples) -> ONE list of the max_rows with the largest margins."""

    def __init__(self, max_rows: int):
        super().__init__()
        self._max = max_rows

    def expand(self, records):
        return records | "Top" >> beam.combiners.Top.Of(self._max, key=suspect_key)


def found(kept: list, count: int, unchecked: int, shown: int) -> dict:
    """(LargestMargins' list, the counts, thumbnails wanted) -> the suspects' element."""
    rows = ordered(from_tuple(t) for t in kept)
    with_thumbnails = add_thumbnails({"suspects": rows[:shown]})[0]["suspects"] if shown else []
    return {"rows": rows, "count": count, "unchecked": unchecked, "shown": with_thumbnails}
