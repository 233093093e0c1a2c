"""Suspect labels and duplicate images, judged on the rows as written: a second pass that
reads the prediction files back (only the columns the checks need, a batch of rows at a
time) once the per-class thresholds (the summary) and the hash sketch are known.

Why read back instead of holding the rows: Beam's local runner keeps a collection that
waits for a side input in memory, at several times its encoded size (40,000 rows: +150-300
MB), while reading the written files streams in batches, a Parquet row group at most
(transforms/sinks.py bounds them). docs/performance.md ("What suspect labels and
duplicates cost") has the figures.

`CheckWrittenRows(max_rows, shown)`: (prediction file names (Parquet and CSV: the Parquet
ones are read), the summary, the RepeatSketch) -> ONE {"suspects", "duplicates"} element
(run_folder/label_checks.py `assemble`, the rule per row there too): `suspects` as
`found` makes it, `duplicates` {"rows": duplicates.csv rows, "hashed": written rows
with a hash, "unhashed": without, "sketched": hashes in the sketch, "candidates": rows
sent to the grouping, "grouped": rows that came out of it}. Every count is one combine
of per-file tallies: each combine is stages of the local runner, a fixed cost of every run.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder.label_checks import (
    COLUMNS,
    assemble,
    check_row,
    new_tally,
    sum_tallies,
)
from bucketscore.transforms import counters
from bucketscore.transforms.duplicates import GroupCandidates
from bucketscore.transforms.suspect_labels import LargestMargins

ROWS_PER_BATCH = 1024  # rows decoded into dicts at a time


def written_rows(name: str, batch: int) -> Iterator[list]:
    """The COLUMNS of a written Parquet file (any filesystem Beam knows), `batch` rows
    (dicts) at a time."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    with FileSystems.open(name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        parquet = pq.ParquetFile(f)
        for part in parquet.iter_batches(batch_size=batch, columns=COLUMNS, use_threads=False):
            yield part.to_pylist()


class _CheckRows(beam.DoFn):
    """Parquet file name (+ summary, sketch side inputs) -> suspect records (tuples) on
    main; (sha256, (uri, true label)) on `candidates` for hashes that may repeat; the
    file's TALLIES on `tallies` (the rule: run_folder/label_checks.py)."""

    def __init__(self):
        self._found = counters.counter("suspect_labels")

    def process(self, name: str, summary: dict, sketch) -> Iterator:
        thresholds = summary.get("true_label_score_means") or {}
        tally = new_tally()
        for rows in written_rows(name, ROWS_PER_BATCH):
            for row in rows:
                suspect, candidate = check_row(row, thresholds, sketch, tally)
                if suspect is not None:
                    yield suspect
                if candidate is not None:
                    yield beam.pvalue.TaggedOutput("candidates", candidate)
        self._found.inc(tally["suspects"])
        yield beam.pvalue.TaggedOutput("tallies", tuple(tally.values()))


class CheckWrittenRows(beam.PTransform):
    """(file names, summary, sketch) -> ONE {"suspects", "duplicates"} element."""

    def __init__(self, max_rows: int, shown: int = 0):
        super().__init__()
        self._max = max_rows
        self._shown = shown

    def expand(self, pcolls):
        files, summary, sketch = pcolls
        checked = (
            files
            | "ParquetOnly" >> beam.Filter(lambda name: name.endswith(".parquet"))
            # The names arrive together from the sinks' last step: spread over workers.
            | "SpreadFiles" >> beam.Reshuffle()
            | "Check"
            >> beam.ParDo(
                _CheckRows(),
                summary=beam.pvalue.AsSingleton(summary),
                sketch=beam.pvalue.AsSingleton(sketch),
            ).with_outputs("candidates", "tallies", main="suspects")
        )
        kept = checked.suspects | "LargestMargins" >> LargestMargins(self._max)
        duplicates = checked.candidates | "GroupCandidates" >> GroupCandidates()
        tallies = checked.tallies | "SumTallies" >> beam.CombineGlobally(sum_tallies)
        return kept | "Assemble" >> beam.Map(
            assemble,
            tallies=beam.pvalue.AsSingleton(tallies),
            duplicates=beam.pvalue.AsSingleton(duplicates),
            sketch=beam.pvalue.AsSingleton(sketch),
            shown=self._shown,
        )
