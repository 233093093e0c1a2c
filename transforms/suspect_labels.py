"""Suspect labels in the pipeline: the records `run_folder.suspects.judge` finds in the
written rows (transforms/label_checks.py reads them back and judges them), the largest
margins kept (run_folder/suspects.py holds the rule).

`LargestMargins(max_rows)` turns suspect records (`run_folder.suspects.as_tuple` tuples)
into ONE list of at most max_rows of them, by Beam's bounded `Top` (per bundle, then
merged: no global sort of all rows on one worker). What the finishing step gets is
`found(kept, count, unchecked, shown)` (run_folder/label_checks.py).
"""

from __future__ import annotations

import apache_beam as beam

from bucketscore.run_folder.label_checks import found
from bucketscore.run_folder.suspects import suspect_key

__all__ = ["LargestMargins", "found"]


class LargestMargins(beam.PTransform):
    """suspect records (tuples) -> ONE list of the max_rows with the largest margins."""

    def __init__(self, max_rows: int):
        super().__init__()
        self._max = max_rows

    def expand(self, records):
        return records | "Top" >> beam.combiners.Top.Of(self._max, key=suspect_key)
