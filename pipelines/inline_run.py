"""The in-process executor: a run on this machine executed in this process, without Beam.

What a small or medium local run spent was mostly Beam's, not scoring's: importing it
(~2 s), building the graph (~1 s), starting its runner (~1.5 s), its stages' hand-offs and
its teardown (docs/performance.md, "Fixed cost"). This executor runs the same stages as the
graph (pipelines/graph.py), on the same per-image functions (transforms/per_image.py) and
the same run-folder code, as one stream:

    list -> select -> label -> read + decode (a thread pool, in order) -> batches -> infer
         -> rows -> tables (run_folder/table_files.py), summary, report items, hash sketch
    tables closed -> label checks (the written Parquet read back) -> finish_run

(--incremental with a base run small enough to hold, run_folder/carry_over.py: unchanged
images keep their rows, written to predictions-carried-*, before anything is read.)

Reads and decoding run ahead in threads (Pillow and storage reads release the GIL) while
the model infers on the main thread, so decoding overlaps inference. Memory is bounded as
in the graph: the listing streams, rows go to the tables as they are made, the report and
the suspects keep their n best (`Top`), the hashes a fixed-size sketch. Outputs are the
graph's, file for file (tests/pipelines/test_inline_run.py compares the two executors); the
counts summary.json calls `beam_counters` are this process's board (transforms/counters.py).

Which runs use it is decided by the plan (pipelines/executor.py); `run_inline(plan)` returns
the final counters.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Optional

from bucketscore.bundle.label_sources import csv_candidates, label_of, read_labels_csv
from bucketscore.bundle.predictor import load_predictor
from bucketscore.pipelines.features import selection
from bucketscore.run_folder import accuracy, layout
from bucketscore.run_folder.carry_over import carried_row, read_base, unchanged
from bucketscore.run_folder.duplicates import RepeatSketch, group_rows
from bucketscore.run_folder.finish import finish_run
from bucketscore.run_folder.label_checks import COLUMNS, assemble, check_row, new_tally
from bucketscore.run_folder.report_figures import warm_up
from bucketscore.run_folder.report_selection import (
    DEFAULT_REPORT_ITEMS,
    PER_CLASS_ITEMS,
    assemble_items,
    failure_dict,
    failure_key,
    has_prediction,
    is_mistake,
    least_confident_key,
    mistake_key,
    per_class_items,
)
from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    OBJECTS_SCHEMA,
    PREDICTION_COLUMNS,
    PREDICTIONS_SCHEMA,
    csv_line,
    embeddings_schema,
    error_csv_line,
    prediction_csv_line,
)
from bucketscore.run_folder.suspects import suspect_key
from bucketscore.run_folder.table_files import CsvTable, ParquetTable, shard_uri
from bucketscore.storage import manifests, uris
from bucketscore.storage.errors import StorageUnavailable, describe_error
from bucketscore.storage.listing import expand, label_bases, resolve_inputs, root_tasks
from bucketscore.storage.selection import excluded, sample_key
from bucketscore.transforms.counters import snapshot, tally
from bucketscore.transforms.per_image import (
    csv_row_without_image,
    decode_example,
    embedding_row,
    keep_one,
    listed_pages,
    normalize_input,
    object_record,
    predict_batch,
    prediction_row,
)
from bucketscore.transforms.records import ErrorRow, ImageBytes, ImageExample, ListedImage

# Reads and decodes in flight per thread of the pool (results are taken in input order).
AHEAD_PER_THREAD = 2
REMOTE_READ_THREADS = 16  # objects in a bucket are latency-bound (decisions.md, "Many reads")
ROWS_PER_BATCH = 1024  # rows read back at a time by the label checks


class Top:
    """The n items with the largest `key` (ties: the first seen), as Beam's Top.Of keeps
    them; `smallest`: the n with the smallest. `items()`: best first."""

    def __init__(self, n: int, key: Callable, smallest: bool = False):
        self._n = n
        self._key = key
        self._sign = -1 if smallest else 1
        self._heap: list = []
        self._seen = itertools.count()

    def add(self, item) -> None:
        if self._n <= 0:
            return
        entry = (_Ordered(self._key(item), self._sign), -next(self._seen), item)
        if len(self._heap) < self._n:
            heapq.heappush(self._heap, entry)
        elif self._heap[0] < entry:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list:
        return [item for _k, _s, item in sorted(self._heap, reverse=True)]


class _Ordered:
    """A key compared as is (sign 1) or backwards (sign -1: works for any ordered key)."""

    __slots__ = ("key", "sign")

    def __init__(self, key, sign: int):
        self.key, self.sign = key, sign

    def __lt__(self, other: "_Ordered") -> bool:
        return self.key < other.key if self.sign > 0 else other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and self.key == other.key


def ordered_map(fn: Callable, items: Iterable, pool: ThreadPoolExecutor, ahead: int) -> Iterator:
    """fn(item) for each item, computed in `pool` with up to `ahead` in flight, yielded in
    input order (an exception is raised where its item's result is taken)."""
    pending: collections.deque = collections.deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        while len(pending) >= ahead or (pending and pending[0].done()):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# -- listing, selection, labels --------------------------------------------------------------


def listed_images(inputs: list[str], rounds: int) -> Iterator[ListedImage]:
    """Every image the inputs name, each once (counted: listed, bytes_listed). Manifests
    may name an image twice, or one a prefix also lists: with one, the listing is held
    and deduplicated by URI (keep_one), as the graph's dedupe step does."""
    inputs = [normalize_input(u) for u in inputs]
    tasks = root_tasks(resolve_inputs(inputs))
    if rounds > 0:  # explored once, as the graph's first round (finer key ranges)
        tasks = [t for task in tasks for t in expand(task)]

    def every() -> Iterator[ListedImage]:
        for task in tasks:
            for page in listed_pages(task):
                tally("listed", len(page))
                tally("bytes_listed", sum(int(i.size or 0) for i in page))
                yield from page

    if not any(manifests.is_manifest(u) for u in inputs):
        yield from every()
        return
    by_uri: dict[str, list] = collections.defaultdict(list)
    for image in every():
        by_uri[image.uri].append(image)
    for uri, images in by_uri.items():
        yield images[0] if len(images) == 1 else keep_one(uri, images)


class _Selection:
    """--exclude / --sample / --limit over the listing; `record()` once it is consumed."""

    def __init__(self, config):
        self._config = config
        self.listed = 0
        self.selected = 0

    def __call__(self, images: Iterator[ListedImage]) -> Iterator[ListedImage]:
        c = self._config
        kept = self._count_listed(images)
        if c.exclude:
            kept = self._leave_out(kept, tuple(c.exclude))
        if c.sample or c.limit:
            key = (lambda i: sample_key(i.uri)) if c.sample else (lambda i: i.uri)
            first = heapq.nsmallest(c.sample or c.limit, kept, key=key)
            tally("selected", len(first))
            kept = iter(first)
        for image in kept:
            self.selected += 1
            yield image

    def _count_listed(self, images):
        for image in images:
            self.listed += 1
            yield image

    @staticmethod
    def _leave_out(images, patterns):
        for image in images:
            if excluded(image, patterns):
                tally("excluded")
            else:
                yield image

    def record(self) -> Optional[dict]:
        if not selection.active(self._config):
            return None
        return selection.record(self._config, self.listed, self.selected)


class _Labels:
    """The labels stage: each image's true label; with a labels CSV, the listed URIs are
    kept to report the CSV rows that name none of them (`missing()`)."""

    def __init__(self, source, inputs: list[str]):
        self._source = source
        self._inputs = inputs
        self._pattern = re.compile(source.argument) if source.kind == "regex" else None
        self._table = read_labels_csv(source.argument) if source.kind == "csv" else None
        self._seen: Optional[set] = set() if source.kind == "csv" else None

    def seen(self, images: Iterator[ListedImage]) -> Iterator[ListedImage]:
        """The whole listing passes here (before selection): what the CSV is checked on."""
        for image in images:
            if self._seen is not None:
                self._seen.add(image.uri)
            yield image

    def attach(self, images: Iterator[ListedImage]) -> Iterator[ListedImage]:
        for image in images:
            yield image.with_label(label_of(self._source, image, self._pattern, self._table))

    def missing(self) -> list[ErrorRow]:
        if self._table is None:
            return []
        bases = label_bases(self._inputs)
        csv_uri = self._source.argument
        return [
            csv_row_without_image(path, csv_uri)
            for path in self._table
            if not any(c in self._seen for c in csv_candidates(path, bases))
        ]


# -- reading and decoding ----------------------------------------------------------------


def _loader(spec, max_pixels: int) -> Callable[[ListedImage], object]:
    """ListedImage -> ImageExample, or ErrorRow (read or decode); StorageUnavailable raised
    (storage failed, not the image: the run fails)."""

    def load(image: ListedImage):
        try:
            data = uris.read_bytes(image.uri)
        except StorageUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - the object's error, not the run's
            tally("failed")
            return ErrorRow(image.uri, "read", describe_error(e))
        tally("read")
        tally("bytes_read", len(data))
        out = decode_example(ImageBytes(image, data), spec, max_pixels)
        tally("failed" if isinstance(out, ErrorRow) else "decoded")
        return out

    return load


# -- the run -----------------------------------------------------------------------------


class _Predictions:
    """predictions-*.csv and .parquet (or predictions-carried-*: rows an --incremental run
    carries over)."""

    def __init__(self, run: str, name: str):
        self.csv = CsvTable(shard_uri(run, name, ".csv"), csv_line(PREDICTION_COLUMNS))
        self.parquet = ParquetTable(shard_uri(run, name, ".parquet"), PREDICTIONS_SCHEMA)

    def write(self, row: dict) -> None:
        self.csv.write(prediction_csv_line(row))
        self.parquet.write(row)


class _Tables:
    """The run's table files, open while it scores."""

    def __init__(self, run: str, embeddings_dim: Optional[int], carries: bool):
        self.predictions = _Predictions(run, layout.PREDICTIONS)
        self.carried = _Predictions(run, layout.CARRIED_PREDICTIONS) if carries else None
        self.errors = CsvTable(uris.join(run, layout.ERRORS_CSV), csv_line(ERROR_COLUMNS))
        self.objects = ParquetTable(shard_uri(run, layout.OBJECTS, ".parquet"), OBJECTS_SCHEMA)
        self.embeddings = (
            None
            if embeddings_dim is None
            else ParquetTable(
                shard_uri(run, layout.EMBEDDINGS, ".parquet"), embeddings_schema(embeddings_dim)
            )
        )

    def _all(self) -> list:
        tables = [self.predictions.csv, self.predictions.parquet]
        if self.carried is not None:
            tables += [self.carried.csv, self.carried.parquet]
        return tables + [t for t in (self.errors, self.objects, self.embeddings) if t]

    def close(self) -> list[str]:
        return [t.close() for t in self._all()]

    def discard(self) -> None:
        for t in self._all():
            t.discard()


class _Scoring:
    """What the run accumulates while it scores: counts, summary, report candidates,
    hash sketch. With `carries` (an --incremental run with a base run), report.html draws
    on each side's n most confident mistakes only, as the graph's ReportCandidates does."""

    def __init__(self, labels: list[str], n: int, carries: bool = False):
        self.known = set(labels)
        self.summary = accuracy.new_accumulator()
        self.sketch = RepeatSketch()
        self.failed = 0
        self.carried = 0
        self.mistakes = Top(n, mistake_key)
        self.least = Top(n, least_confident_key)
        self.failures = Top(n, failure_key, smallest=True)
        self.per_class: dict[str, Top] = {}
        self.sides = (Top(n, mistake_key), Top(n, mistake_key)) if carries else None

    def row(self, row: dict, carried: bool = False) -> None:
        accuracy.add_row(self.summary, row, self.known)
        if row.get("sha256"):
            self.sketch.add(row["sha256"])
        self.carried += carried
        if self.sides is None:
            self._candidate(row)
        elif is_mistake(row, self.known):
            self.sides[carried].add(row)

    def _candidate(self, row: dict) -> None:
        """A row report.html may show."""
        if is_mistake(row, self.known):
            self.mistakes.add(row)
        self.least.add(row)
        if has_prediction(row):
            label = row["predicted_label"]
            top = self.per_class.get(label)
            if top is None:
                top = self.per_class[label] = Top(PER_CLASS_ITEMS, mistake_key)
            top.add(row)

    def failure(self, error: ErrorRow) -> None:
        self.failed += 1
        self.failures.add(failure_dict(error))

    def report_items(self, labels: list[str]) -> dict:
        from bucketscore.run_folder.thumbnails import add_thumbnails

        for side in self.sides or ():
            for row in side.items():
                self._candidate(row)
        best = [(label, top.items()) for label, top in self.per_class.items()]
        items = assemble_items(
            self.mistakes.items(),
            self.failures.items(),
            self.least.items(),
            per_class_items(best, labels),
        )
        with_thumbnails, made = add_thumbnails(items)
        tally("report_thumbnails", made)
        return with_thumbnails


def run_inline(plan) -> dict[str, int]:
    """Run `plan` in this process (the run folder is cleared and leased by the caller,
    pipelines/run.py); the run folder is then finished but not completed (no `_SUCCESS`:
    run_folder.finish.complete_run, with the counters returned). Raises as the graph's
    run would: StorageUnavailable, RunFailed, a model that cannot be loaded."""
    config, meta = plan.config, plan.meta
    run = plan.run_uri
    labels = list(meta.labels)
    dim = int(meta.extra.get("embedding_dim") or 0) if config.embeddings else None
    # The report's plotting library is loaded while the images are scored, not after.
    threading.Thread(target=warm_up, name="bucketscore-report-warm-up", daemon=True).start()
    model = load_predictor(
        config.model, plan.inference.backend, plan.inference.device, plan.inference.precision
    )
    chosen = _Selection(config)
    source = _Labels(config.labels, list(config.inputs))
    base = read_base(plan.base_run) if plan.base_run else None  # small: held (plan decided)
    scoring = _Scoring(labels, DEFAULT_REPORT_ITEMS, carries=base is not None)
    tables = _Tables(run, dim, carries=base is not None)
    try:
        _score(plan, model, chosen, source, scoring, tables, base)
        missing = source.missing()
        for error in missing:
            tables.errors.write(error_csv_line(error))
        written = tables.close()
    except BaseException:
        tables.discard()  # nothing half-written stays behind
        raise
    scores = accuracy.summarise(scoring.summary, labels)
    checks = None
    if not config.no_label_checks:
        checks = check_written(
            [w for w in written if w.endswith(".parquet") and _is_predictions(w)],
            scores,
            scoring.sketch,
            config.max_suspects,
        )
    finish_run(
        plan.info,
        scores,
        chosen.selected,
        scoring.failed,
        len(missing),
        scoring.carried,
        written,
        scoring.report_items(labels),
        complete=False,
        selection=chosen.record(),
        checks=checks,
    )
    return snapshot()


def _is_predictions(uri: str) -> bool:
    return uri.rsplit("/", 1)[-1].startswith(layout.PREDICTIONS + "-")


def _score(plan, model, selection, source, scoring, tables, base: Optional[dict]) -> None:
    """List, read, decode, infer and write every image of the run; with `base` (an
    --incremental run's base run: run_folder.carry_over.read_base), unchanged images keep
    their rows (predictions-carried-*) instead."""
    config, meta = plan.config, plan.meta
    labels = list(meta.labels)
    index = {label: i for i, label in enumerate(labels)}
    images = source.attach(
        selection(source.seen(listed_images(list(config.inputs), config.listing_rounds)))
    )
    remote = any(uris.is_remote(u) for u in config.inputs)
    threads = REMOTE_READ_THREADS if remote else max(1, plan.workers.cores)

    def objects(images):
        for image in images:
            tables.objects.write(object_record(image))
            yield image

    def to_score(images):
        """Images to score; the unchanged ones of an --incremental run carried over."""
        for image in images:
            known = base.get(image.uri) if base is not None else None
            if known and unchanged(image.size, image.mtime, [known[0]], [known[1]]):
                tally("carried")
                row = carried_row(known[1], image.true_label)
                tables.carried.write(row)
                scoring.row(row, carried=True)
            else:
                yield image

    batch: list[ImageExample] = []

    def infer(batch):
        outs = predict_batch(model, batch, config.embeddings)
        tally("num_inferences", len(batch))
        for out in outs:
            if out.error is not None:
                tally("failed")
                failure(ErrorRow(out.example.uri, "inference", out.error))
                continue
            tally("scored")
            row = prediction_row(
                out,
                labels,
                k=plan.top_k,
                min_confidence=config.min_confidence,
                model_version=meta.version,
                run_id=config.run_id,
                label_index=index,
            )
            tables.predictions.write(row)
            if tables.embeddings is not None:
                tables.embeddings.write(embedding_row(out))
            scoring.row(row)

    def failure(error: ErrorRow) -> None:
        tables.errors.write(error_csv_line(error))
        scoring.failure(error)

    load = _loader(meta.input, config.max_pixels)
    with ThreadPoolExecutor(threads, thread_name_prefix="bucketscore-load") as pool:
        todo = to_score(objects(images))
        for out in ordered_map(load, todo, pool, AHEAD_PER_THREAD * threads):
            if isinstance(out, ErrorRow):
                failure(out)
                continue
            batch.append(out)
            if len(batch) >= plan.inference.batch_size:
                infer(batch)
                batch = []
        if batch:
            infer(batch)


def check_written(files: list[str], summary: dict, sketch: RepeatSketch, max_rows: int) -> dict:
    """Suspect labels and duplicate candidates of the written prediction files (read back,
    COLUMNS only, ROWS_PER_BATCH rows at a time), as transforms/label_checks.py finds them."""
    thresholds = summary.get("true_label_score_means") or {}
    tally_ = new_tally()
    kept = Top(max_rows, suspect_key)
    candidates: dict[str, list] = collections.defaultdict(list)
    for uri in files:
        for rows in _written_rows(uri):
            for row in rows:
                suspect, candidate = check_row(row, thresholds, sketch, tally_)
                if suspect is not None:
                    kept.add(suspect)
                if candidate is not None:
                    candidates[candidate[0]].append(candidate[1])
    tally("suspect_labels", tally_["suspects"])
    rows = [r for digest, members in candidates.items() for r in group_rows(digest, members)]
    grouped = sum(len(members) for members in candidates.values())
    return assemble(
        kept.items(), tuple(tally_.values()), (rows, grouped), sketch, DEFAULT_REPORT_ITEMS
    )


def _written_rows(uri: str) -> Iterator[list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pa.BufferReader(uris.read_bytes(uri)) if uris.is_remote(uri) else uri
    parquet = pq.ParquetFile(source)
    for part in parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=COLUMNS, use_threads=False):
        yield part.to_pylist()
