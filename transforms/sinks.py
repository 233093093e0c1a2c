"""Write a run's results under `<output>/<run_id>/`, `_SUCCESS` last.

predictions*.csv / predictions*.parquet, errors.csv, embeddings*.parquet (optional) are
Beam file sinks. The finishing step waits for all of them (their written file names are its
side inputs), checks that every listed image was accounted for, then writes summary.json,
per_class.csv, confusion_matrix.csv, report.html, manifest.json and finally `_SUCCESS`.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import apache_beam as beam
import pyarrow as pa

from storage import uris
from transforms.launch_values import Derived, join, value_of
from transforms.postprocess import PREDICTION_COLUMNS
from transforms.records import ErrorRow

ERROR_COLUMNS = ("uri", "stage", "error")
SUCCESS = "_SUCCESS"
FAILURE_MARK = "bucketscore run failed:"

PREDICTIONS_SCHEMA = pa.schema([
    ("uri", pa.string()),
    ("true_label", pa.string()),
    ("predicted_label", pa.string()),
    ("confidence", pa.float32()),
    ("correct", pa.bool_()),
    ("top_k_labels", pa.list_(pa.string())),
    ("top_k_scores", pa.list_(pa.float32())),
    ("below_threshold", pa.bool_()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("model_version", pa.string()),
    ("run_id", pa.string()),
])


def embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema([("uri", pa.string()), ("true_label", pa.string()),
                      ("embedding", pa.list_(pa.float32(), dim))])


class RunFailed(RuntimeError):
    """The run cannot be called complete (nothing listed, too many errors, lost images)."""

    def __init__(self, message: str):
        super().__init__(f"{FAILURE_MARK} {message}")
        self.reason = message


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".9g")
    if isinstance(value, (list, tuple)):
        return ";".join(_cell(v) for v in value)
    return str(value)


def csv_line(values) -> str:
    """One CSV line (no newline), quoting as needed: URIs may hold commas and quotes."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([_cell(v) for v in values])
    return buf.getvalue()


def prediction_csv_line(row: dict) -> str:
    return csv_line(row[c] for c in PREDICTION_COLUMNS)


def error_csv_line(row: ErrorRow) -> str:
    return csv_line((row.uri, row.stage, row.error))


class WritePredictions(beam.PTransform):
    """prediction rows -> predictions-*.csv and predictions-*.parquet; returns file names.

    `run_uri` (here and in the other sinks): the run folder, a str or a ValueProvider
    (transforms.launch_values), read when the job runs."""

    def __init__(self, run_uri):
        super().__init__()
        self._prefix = Derived(join, run_uri, "predictions")

    def expand(self, rows):
        csv_files = (rows
                     | "FormatCsv" >> beam.Map(prediction_csv_line)
                     | "WriteCsv" >> beam.io.WriteToText(
                         self._prefix, file_name_suffix=".csv",
                         header=csv_line(PREDICTION_COLUMNS)))
        parquet_files = rows | "WriteParquet" >> beam.io.WriteToParquet(
            self._prefix, PREDICTIONS_SCHEMA, file_name_suffix=".parquet")
        return (csv_files, parquet_files) | "AllPredictionFiles" >> beam.Flatten()


class WriteErrors(beam.PTransform):
    """ErrorRow -> errors.csv (one file, header always present); returns its name."""

    def __init__(self, run_uri):
        super().__init__()
        self._path = Derived(join, run_uri, "errors")

    def expand(self, errors):
        return (errors
                | "FormatCsv" >> beam.Map(error_csv_line)
                | "WriteCsv" >> beam.io.WriteToText(
                    self._path, file_name_suffix=".csv", num_shards=1, shard_name_template="",
                    header=csv_line(ERROR_COLUMNS)))


class WriteEmbeddings(beam.PTransform):
    """embedding rows -> embeddings-*.parquet (`uri, true_label, embedding` float32[dim])."""

    def __init__(self, run_uri, dim: int):
        super().__init__()
        self._prefix = Derived(join, run_uri, "embeddings")
        self._dim = dim

    def expand(self, rows):
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            self._prefix, embeddings_schema(self._dim), file_name_suffix=".parquet")


@dataclass
class RunInfo:
    """What the finishing step needs to know about the run (all picklable). `run_uri`,
    `run_id`, `output_uri` and the `input`/`output`/`run_id` arguments may be
    ValueProviders (a template's launch parameters): `resolved()` reads them."""

    run_uri: Any
    run_id: Any
    model_uri: str
    model_version: str
    model_name: str
    labels: list[str]
    top_k: int
    arguments: dict[str, Any]
    code_version: str
    started_at: str
    allow_empty: bool = False
    max_error_ratio: Optional[float] = None
    output_uri: Any = ""
    base_run: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> "RunInfo":
        """This info with every ValueProvider replaced by its value (call when running)."""
        return dataclasses.replace(
            self, run_uri=value_of(self.run_uri), run_id=value_of(self.run_id),
            output_uri=value_of(self.output_uri),
            arguments={k: value_of(v) for k, v in self.arguments.items()})


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def per_class_csv(summary: dict) -> str:
    cols = ("label", "precision", "recall", "f1", "support", "predicted", "abstained")
    lines = [csv_line(cols)] + [csv_line(c[k] for k in cols) for c in summary["per_class"]]
    return "\n".join(lines) + "\n"


def confusion_csv(summary: dict) -> str:
    labels = summary["confusion_matrix"]["labels"]
    lines = [csv_line(["true \\ predicted"] + labels)]
    for label, row in zip(labels, summary["confusion_matrix"]["matrix"]):
        lines.append(csv_line([label] + row))
    return "\n".join(lines) + "\n"


def build_summary(info: RunInfo, scores: dict, listed: int, failed: int,
                  missing: int = 0, carried: int = 0) -> dict:
    """The full summary.json document from the pipeline's metrics and counts.

    `missing` counts labels-CSV rows that name no listed image (errors rows of stage
    `label`); they are not listed images, so they are outside listed = scored + failed.
    """
    counts = {"listed": listed, "scored": scores["counts"]["scored"], "failed": failed,
              "csv_rows_without_image": missing, "carried_over": carried}
    counts.update({k: v for k, v in scores["counts"].items() if k != "scored"})
    doc = {"run_id": info.run_id, "counts": counts}
    doc.update({k: v for k, v in scores.items() if k != "counts"})
    doc["error_ratio"] = failed / listed if listed else 0.0
    doc["model"] = {"uri": info.model_uri, "name": info.model_name,
                    "version": info.model_version, "labels": info.labels}
    doc["top_k"] = info.top_k
    return doc


class FinishRun(beam.DoFn):
    """Runs once, after every sink: checks the accounting, writes the summaries, `_SUCCESS`.

    Raises RunFailed (so the run fails and no `_SUCCESS` is written) when nothing was listed
    (unless allow_empty), when listed != scored + failed, or when the share of failed
    images is over max_error_ratio.
    """

    def __init__(self, info: RunInfo):
        self._info = info

    def process(self, _unused, scores: dict, listed: int, failed: int, missing: int,
                carried: int, written: list[str],
                report_items: Optional[dict] = None,
                started_at: Optional[str] = None) -> Iterator[dict]:
        info = self._info.resolved()
        if started_at:  # a template: the run started when the job prepared its folder
            info = dataclasses.replace(info, started_at=started_at)
        summary = build_summary(info, scores, listed, failed, missing, carried)
        if info.base_run:
            summary["incremental"] = {"base_run": info.base_run, "carried_over": carried,
                                      "scored_now": summary["counts"]["scored"] - carried}
        counts = summary["counts"]
        if counts["listed"] != counts["scored"] + counts["failed"]:
            raise RunFailed(f"accounting mismatch: {counts['listed']} listed but "
                            f"{counts['scored']} scored + {counts['failed']} failed")
        if listed == 0 and not info.allow_empty:
            raise RunFailed(f"no images found under {', '.join(info.arguments['input'])} "
                            f"(extensions: jpg jpeg png gif bmp webp tif tiff); "
                            f"pass --allow_empty to accept an empty input")
        run = info.run_uri
        manifest = {
            "run_id": info.run_id,
            "arguments": info.arguments,
            "model": {"uri": info.model_uri, "name": info.model_name,
                      "version": info.model_version},
            "code_version": info.code_version,
            "started_at": info.started_at,
            "finished_at": now_iso(),
            "counts": counts,
            "files": sorted(f.rsplit("/", 1)[-1] for f in written),
            "base_run": info.base_run,
        }
        manifest.update(info.extra)
        uris.write_text(uris.join(run, "summary.json"), json.dumps(summary, indent=2) + "\n",
                        "application/json")
        uris.write_text(uris.join(run, "per_class.csv"), per_class_csv(summary), "text/csv")
        uris.write_text(uris.join(run, "confusion_matrix.csv"), confusion_csv(summary),
                        "text/csv")
        # Before the error-ratio check: a failed run's report shows what failed.
        from transforms.report import write_report

        write_report(run, summary, report_items,
                     dict(info.arguments, code_version=info.code_version,
                          started_at=info.started_at))
        if (info.max_error_ratio is not None and listed
                and failed / listed > info.max_error_ratio):
            manifest["status"] = "failed"
            uris.write_text(uris.join(run, "manifest.json"),
                            json.dumps(manifest, indent=2) + "\n", "application/json")
            raise RunFailed(f"{failed} of {listed} images failed "
                            f"({failed / listed:.1%} > --max_error_ratio {info.max_error_ratio}); "
                            f"see {uris.join(run, 'errors.csv')}")
        manifest["status"] = "complete"
        uris.write_text(uris.join(run, "manifest.json"), json.dumps(manifest, indent=2) + "\n",
                        "application/json")
        # Not empty: Beam's S3 writer cannot complete a zero-byte multipart upload.
        uris.write_text(uris.join(run, SUCCESS),
                        json.dumps({"run_id": info.run_id,
                                    "finished_at": manifest["finished_at"]}) + "\n")
        if info.output_uri:
            # The next --incremental run with this model builds on this completed run.
            from transforms.incremental import write_pointer

            write_pointer(info.output_uri, info.model_version, info.run_id,
                          manifest["finished_at"])
        yield summary
