"""Suspect labels in the pipeline: a second, cheap pass over the prediction rows once the
per-class thresholds are known (run_folder/suspects.py holds the rule).

`FindSuspects(max_rows, shown)` turns (row collections..., the summary) into ONE element
`{"rows": up to max_rows suspects (largest margin first), "count": all suspects,
"unchecked": rows the top k could not judge, "shown": the first `shown` rows with a
`thumbnail` for report.html}`. The thresholds come from the summary's
accumulator (a combine); the flagging is a ParDo with the summary as side input; the
largest margins are kept by Beam's bounded `Top` (per bundle, then merged: no global sort
of all rows on one worker).
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder.suspects import judge, ordered, suspect_key
from bucketscore.run_folder.thumbnails import add_thumbnails
from bucketscore.transforms import counters

UNCHECKED_TAG = "unchecked"


class _Judge(beam.DoFn):
    """prediction row (+ summary side input) -> suspect record on main, 1 on `unchecked`."""

    def __init__(self):
        self._found = counters.counter("suspect_labels")

    def process(self, row: dict, summary: dict) -> Iterator:
        record, unchecked = judge(row, summary.get("true_label_score_means") or {})
        if record is not None:
            self._found.inc()
            yield record
        elif unchecked:
            yield beam.pvalue.TaggedOutput(UNCHECKED_TAG, 1)


class FindSuspects(beam.PTransform):
    """(rows, ..., summary) -> ONE {"rows", "count", "unchecked"} element. `rows` are one
    or more PCollections of prediction rows (scored, carried over); `summary` a
    single-element PCollection of the run's summary dict."""

    def __init__(self, max_rows: int, shown: int = 0):
        super().__init__()
        self._max = max_rows
        self._shown = shown

    def expand(self, pcolls):
        *row_sets, summary = pcolls
        side = beam.pvalue.AsSingleton(summary)
        records, unchecked = [], []
        for i, rows in enumerate(row_sets):
            judged = rows | f"Judge{i}" >> beam.ParDo(_Judge(), summary=side).with_outputs(
                UNCHECKED_TAG, main="suspects"
            )
            records.append(judged.suspects)
            unchecked.append(judged[UNCHECKED_TAG])
        suspects = tuple(records) | "AllSuspects" >> beam.Flatten()
        top = suspects | "LargestMargins" >> beam.combiners.Top.Of(self._max, key=suspect_key)
        count = suspects | "CountSuspects" >> beam.combiners.Count.Globally()
        not_judged = (
            tuple(unchecked)
            | "AllUnchecked" >> beam.Flatten()
            | "CountUnchecked" >> beam.combiners.Count.Globally()
        )
        return top | "Assemble" >> beam.Map(
            _assemble,
            count=beam.pvalue.AsSingleton(count),
            unchecked=beam.pvalue.AsSingleton(not_judged),
            shown=self._shown,
        )


def _assemble(kept: list, count: int, unchecked: int, shown: int) -> dict:
    rows = ordered(kept)
    with_thumbnails = add_thumbnails({"suspects": rows[:shown]})[0]["suspects"] if shown else []
    return {"rows": rows, "count": count, "unchecked": unchecked, "shown": with_thumbnails}
