"""Suspect labels and duplicate images, judged on the rows as written: a second pass that
reads the prediction files back (only the columns the checks need, a batch of rows at a
time) once the per-class thresholds (the summary) and the hash sketch are known.

Why read back instead of holding the rows: Beam's local runner keeps a collection that
waits for a side input in memory, at several times its encoded size (40,000 rows: +150-300
MB), while reading the written files streams in batches, a Parquet row group at most
(transforms/sinks.py bounds them). docs/performance.md ("What suspect labels and
duplicates cost") has the figures.

`CheckWrittenRows(max_rows, shown)`: (prediction file names (Parquet and CSV: the Parquet
ones are read), the summary, the RepeatSketch) -> ONE {"suspects", "duplicates"} element:
`suspects` as transforms/suspect_labels.py `found` makes it, `duplicates` {"rows":
duplicates.csv rows, "hashed": written rows with a hash, "unhashed": without,
"sketched": hashes in the sketch, "candidates": rows sent to the grouping, "grouped": rows
that came out of it}. Every count is one combine of per-file tallies: each combine is
stages of the local runner, a fixed cost of every run.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder.duplicates import ordered
from bucketscore.run_folder.suspects import as_tuple, judge
from bucketscore.transforms import counters
from bucketscore.transforms.duplicates import GroupCandidates
from bucketscore.transforms.suspect_labels import LargestMargins, found

COLUMNS = ["uri", "true_label", "true_label_score", "top_k_labels", "top_k_scores", "sha256"]
ROWS_PER_BATCH = 1024  # rows decoded into dicts at a time
# The per-file tallies, in this order.
TALLIES = ("hashed", "unhashed", "unchecked", "suspects", "candidates")


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
    file's TALLIES on `tallies`."""

    def __init__(self):
        self._found = counters.counter("suspect_labels")

    def process(self, name: str, summary: dict, sketch) -> Iterator:
        thresholds = summary.get("true_label_score_means") or {}
        tally = dict.fromkeys(TALLIES, 0)
        for rows in written_rows(name, ROWS_PER_BATCH):
            for row in rows:
                record, not_judged = judge(row, thresholds)
                if record is not None:
                    tally["suspects"] += 1
                    yield as_tuple(record)
                tally["unchecked"] += not_judged
                digest = row.get("sha256")
                if not digest:  # a carried row of a base run written before hashes were kept
                    tally["unhashed"] += 1
                    continue
                tally["hashed"] += 1
                if sketch.may_repeat(digest):
                    tally["candidates"] += 1
                    yield beam.pvalue.TaggedOutput(
                        "candidates", (digest, (row["uri"], row.get("true_label")))
                    )
        self._found.inc(tally["suspects"])
        yield beam.pvalue.TaggedOutput("tallies", tuple(tally[k] for k in TALLIES))


def _sum_tallies(tallies) -> tuple:
    """Per-file TALLIES tuples -> their sums (zeros for none)."""
    total = [0] * len(TALLIES)
    for tally in tallies:
        total = [a + b for a, b in zip(total, tally)]
    return tuple(total)


def _assemble(kept: list, tallies: tuple, duplicates: tuple, sketch, shown: int) -> dict:
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
        tallies = checked.tallies | "SumTallies" >> beam.CombineGlobally(_sum_tallies)
        return kept | "Assemble" >> beam.Map(
            _assemble,
            tallies=beam.pvalue.AsSingleton(tallies),
            duplicates=beam.pvalue.AsSingleton(duplicates),
            sketch=beam.pvalue.AsSingleton(sketch),
            shown=self._shown,
        )
