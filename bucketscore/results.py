"""Results in Python: a run folder, or the runs under a results prefix, as pandas objects.

    import bucketscore.results as results

    run = results.load("s3://my-results/20261124T101500Z-ab12cd/",
                       options=["--s3_endpoint_url=http://127.0.0.1:8333"])
    run.predictions          # DataFrame, one row per scored image (top_k_* as lists)
    run.errors               # DataFrame: uri, stage, error
    run.summary["accuracy"]  # summary.json as a dict; run.manifest: manifest.json
    run.per_class            # DataFrame: label, precision, recall, f1, support, ...
    run.confusion            # DataFrame: true labels (index) x predicted labels (columns)
    run.suspect_labels       # DataFrame: uri, given_label, suggested_label, scores, margin
    run.duplicates           # DataFrame: sha256, uri, true_label, copies, labels_differ
    run.thresholds           # DataFrame: threshold, kept, coverage, accuracy (per edge)
    results.runs("s3://my-results/")   # DataFrame of the runs, newest first

Reads what a run writes (README, "Results"), on any storage storage.uris reaches (local,
s3://, gs://): predictions from the Parquet files when the run has them (pyarrow), else
from its CSV files (run_folder.schemas parses them), with the same column types either
way (run_folder.schemas.PREDICTIONS_SCHEMA). `options` are storage options as for
`bucketscore score`: Beam flags (["--s3_endpoint_url=http://..."]) or a dict
({"s3_endpoint_url": "http://..."}). A folder that is not a run, or storage that cannot be
read, raises ResultsError with one line that says why. Nothing here imports Beam until a
run is read (storage.uris imports it on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import pandas as pd

from bucketscore.errors import described
from bucketscore.run_folder.duplicates import DUPLICATE_COLUMNS
from bucketscore.run_folder.history import (
    RunHistoryError,
    RunRecord,
    check_prefix,
    list_folder,
    list_runs,
    looks_like_run_folder,
    not_a_run_message,
    read_json,
    run_folder_given_message,
)
from bucketscore.run_folder.layout import (
    DUPLICATES,
    ERRORS_CSV,
    MANIFEST,
    PREDICTIONS,
    SUCCESS,
    SUMMARY,
    SUSPECTS,
    TEMP_PREFIX,
    looks_like_run,
)
from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    LIST_COLUMNS,
    PER_CLASS_COLUMNS,
    PREDICTIONS_SCHEMA,
    parse_csv,
    parse_predictions_csv,
)
from bucketscore.run_folder.suspects import SUSPECT_COLUMNS
from bucketscore.storage import uris

Options = Union[None, list, tuple, dict]


class ResultsError(ValueError):
    """The results cannot be read as asked (not a run folder, storage unreachable, ...)."""


@dataclass
class Run:
    """One run folder `<output>/<run_id>/` read back."""

    uri: str
    run_id: str
    completed: bool  # `_SUCCESS` is there
    predictions: pd.DataFrame
    errors: pd.DataFrame
    summary: dict  # summary.json ({} when the run wrote none: it failed or is running)
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    manifest: dict  # manifest.json ({} when absent)
    suspect_labels: pd.DataFrame = None  # suspect_labels.csv (empty: none, or not looked for)
    duplicates: pd.DataFrame = None  # duplicates.csv
    thresholds: pd.DataFrame = None  # summary.json threshold_evidence.curve

    def __repr__(self) -> str:
        status = "complete" if self.completed else "not complete (no _SUCCESS)"
        return (
            f"<bucketscore run {self.run_id}: {len(self.predictions)} predictions, "
            f"{len(self.errors)} errors, {status}>"
        )


def storage_flags(options: Options) -> list[str]:
    """Storage options as Beam flags: a list of flags as it is, a dict as --key=value
    (True: --key; None/False: left out). Unknown flags raise ResultsError."""
    if options is None:
        return []
    if isinstance(options, dict):
        flags = [
            f"--{k}" if v is True else f"--{k}={v}"
            for k, v in options.items()
            if v is not None and v is not False
        ]
    elif isinstance(options, (list, tuple)):
        flags = [str(f) for f in options]
    else:
        raise ResultsError(
            f"options must be a list of flags or a dict, not {type(options).__name__}"
        )
    if flags:
        from bucketscore.private_apis import beam_option_parser

        _known, unknown = beam_option_parser().parse_known_args(flags)
        if unknown:
            raise ResultsError(f"unknown storage option(s): {' '.join(unknown)}")
    return flags


def _use(options: Options) -> None:
    flags = storage_flags(options)
    if flags:
        uris.set_options(flags)


def load(run_uri: str, options: Options = None) -> Run:
    """The run folder `run_uri` (`<output>/<run_id>/`; local, s3:// or gs://) as a Run."""
    _use(options)
    try:
        prefix = check_prefix(run_uri)
        names = sorted(uris.relative_to(m.path, prefix) for m in list_folder(prefix))
    except RunHistoryError as e:
        raise ResultsError(str(e)) from None
    top = {n for n in names if "/" not in n and not n.startswith(TEMP_PREFIX)}
    if not looks_like_run(top):
        raise ResultsError(
            not_a_run_message(run_uri, names, f"bucketscore.results.runs({run_uri!r})")
        )
    summary = read_json(prefix + SUMMARY) if SUMMARY in top else None
    manifest = read_json(prefix + MANIFEST) if MANIFEST in top else None
    return Run(
        uri=prefix,
        run_id=prefix.rstrip("/").rsplit("/", 1)[-1],
        completed=SUCCESS in top,
        predictions=_predictions(prefix, top),
        errors=_errors(prefix, top),
        summary=summary or {},
        per_class=per_class_frame(summary or {}),
        confusion=confusion_frame(summary or {}),
        manifest=manifest or {},
        suspect_labels=_table(prefix, top, SUSPECTS, SUSPECT_COLUMNS, SUSPECT_TYPES),
        duplicates=_table(prefix, top, DUPLICATES, DUPLICATE_COLUMNS, DUPLICATE_TYPES),
        thresholds=thresholds_frame(summary or {}),
    )


SUSPECT_TYPES = {"given_score": float, "suggested_score": float, "margin": float}
DUPLICATE_TYPES = {"copies": int, "labels_differ": lambda text: text == "true"}


def _table(prefix: str, top: set[str], name: str, columns, types: dict) -> pd.DataFrame:
    """A small CSV table of the run (empty with its columns when the run has none)."""
    rows = parse_csv(_read(prefix + name).decode("utf-8")) if name in top else []
    rows = [{k: types[k](v) if k in types else (v or None) for k, v in r.items()} for r in rows]
    return pd.DataFrame(rows, columns=list(columns))


def thresholds_frame(summary: dict) -> pd.DataFrame:
    """summary.json's coverage-accuracy curve: one row per threshold (ascending)."""
    points = (summary.get("threshold_evidence") or {}).get("curve") or []
    return pd.DataFrame(points, columns=["threshold", "kept", "correct", "coverage", "accuracy"])


def _read(uri: str) -> bytes:
    try:
        return uris.read_bytes(uri)
    except Exception as e:  # noqa: BLE001 - every storage error means the same here
        raise ResultsError(f"cannot read {uri}: {described(e)}") from None


def _predictions(prefix: str, top: set[str]) -> pd.DataFrame:
    """Every predictions shard: the Parquet files, else the CSV files; typed as
    PREDICTIONS_SCHEMA, list columns as Python lists."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = sorted(n for n in top if n.startswith(PREDICTIONS) and n.endswith(".parquet"))
    csvs = sorted(n for n in top if n.startswith(PREDICTIONS) and n.endswith(".csv"))
    tables = []
    if parquet:
        for name in parquet:
            try:
                tables.append(pq.read_table(io.BytesIO(_read(prefix + name))))
            except pa.ArrowException as e:
                raise ResultsError(
                    f"{prefix + name}: not a readable Parquet file: {described(e)}"
                ) from None
        tables = [_conformed(t) for t in tables]
    else:
        rows = [
            row
            for name in csvs
            for row in parse_predictions_csv(_read(prefix + name).decode("utf-8"))
        ]
        tables.append(pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA))
    table = pa.concat_tables(tables) if tables else PREDICTIONS_SCHEMA.empty_table()
    frame = table.to_pandas()
    for column in LIST_COLUMNS:  # pyarrow gives numpy arrays; the API promises lists
        frame[column] = pd.Series(table.column(column).to_pylist(), index=frame.index, dtype=object)
    return frame


def _conformed(table):
    """A predictions table as PREDICTIONS_SCHEMA; columns a run of an older version did not
    write (true_label_score, sha256) are there, empty."""
    import pyarrow as pa

    for field in PREDICTIONS_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(len(table), field.type))
    return table.select(PREDICTIONS_SCHEMA.names).cast(PREDICTIONS_SCHEMA)


def _errors(prefix: str, top: set[str]) -> pd.DataFrame:
    rows = parse_csv(_read(prefix + ERRORS_CSV).decode("utf-8")) if ERRORS_CSV in top else []
    return pd.DataFrame(rows, columns=list(ERROR_COLUMNS))


def per_class_frame(summary: dict) -> pd.DataFrame:
    """summary.json's per_class list as a DataFrame (the columns of per_class.csv)."""
    return pd.DataFrame(summary.get("per_class") or [], columns=list(PER_CLASS_COLUMNS))


def confusion_frame(summary: dict) -> pd.DataFrame:
    """summary.json's confusion matrix: rows = true label, columns = predicted label."""
    cm = summary.get("confusion_matrix") or {}
    labels = list(cm.get("labels") or [])
    frame = pd.DataFrame(cm.get("matrix") or [], index=labels, columns=labels, dtype="int64")
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame


TIME_COLUMNS = ("started_at", "finished_at")


def runs(output_uri: str, options: Options = None) -> pd.DataFrame:
    """The runs under a results prefix, newest first: what `bucketscore runs` lists (one row
    per run folder, the columns of run_folder.history.RunRecord; times as UTC timestamps)."""
    try:
        records = list_runs(output_uri, storage_flags(options))
    except RunHistoryError as e:
        raise ResultsError(str(e)) from None
    if not records and looks_like_run_folder(output_uri, storage_flags(options)):
        raise ResultsError(
            run_folder_given_message(output_uri, "bucketscore.results.runs({!r})")
            + "; load it with bucketscore.results.load"
        )
    columns = list(RunRecord.__dataclass_fields__)
    frame = pd.DataFrame([r.as_dict() for r in records], columns=columns)
    for column in TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    frame["last_modified"] = pd.to_datetime(frame["last_modified"], unit="s", utc=True)
    return frame
