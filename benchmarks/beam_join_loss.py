"""Beam-only reproduction: Beam's local runner loses elements going into a large CoGroupByKey
when it runs 2 or more workers. No bucketscore code; for an upstream report and to re-check
after a Beam upgrade (pipelines/workers.py: INCREMENTAL_WORKERS).

    python -m benchmarks.beam_join_loss                     # 1M keys, 2 worker processes
    python -m benchmarks.beam_join_loss --runs 5 --mode multi_threading
    python -m benchmarks.beam_join_loss --workers 1 --mode in_memory

The graph is an incremental run's join, shrunk to Beam: a "listing" (Create of 100 tasks |
FlatMap to N tuples) and two Parquet files sets of N rows each (`uri,size,mtime` and a
prediction row), keyed by URI, CoGroupByKey, then the (current, previous, row) counts of
each group counted. Every group must be (1, 1, 1): N of them. Inputs are written once under
--work (about 150 MB at 1M). Exit 1 when a run lost anything.

Measured here (2 cores, Beam 2.77.0, Python 3.11, 1M keys, ~870 MB into the group):
with 2 workers 8 of 28 runs lost values (multi_processing and multi_threading alike; 7 of
the first 10, then 1 of 18: it depends on timing; the first 4 runs used bucketscore's
element type for the listing, the rest these tuples), e.g. groups (1, 0, 1) x 542,434;
the runner's grouping table had received 59 data chunks instead of 60-61 (172,319 of
3,000,000 values missing). With one worker (in_memory) 9 of 9 runs were complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = 100
SHARDS = 4


def uri(k: int) -> str:
    return f"/data/incremental/d{k % 100:02d}/image-{k:08d}.png"


def write_inputs(folder: str, n: int) -> None:
    """<folder>/objects-*.parquet and predictions-*.parquet, n rows each (made once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = os.path.join(folder, f"done-{n}")
    if os.path.exists(done):
        return
    os.makedirs(folder, exist_ok=True)
    per = n // SHARDS
    for s in range(SHARDS):
        ks = range(s * per, (s + 1) * per)
        uris = [uri(k) for k in ks]
        pq.write_table(
            pa.table({"uri": uris, "size": [880] * per, "mtime": [1.5e9] * per}),
            os.path.join(folder, f"objects-{s}.parquet"),
        )
        pq.write_table(
            pa.table(
                {
                    "uri": uris,
                    "true_label": pa.array([None] * per, pa.string()),
                    "predicted_label": ["7"] * per,
                    "confidence": pa.array([0.9] * per, pa.float32()),
                    "correct": pa.array([None] * per, pa.bool_()),
                    "top_k_labels": [["7", "1", "9"]] * per,
                    "top_k_scores": pa.array([[0.9, 0.05, 0.01]] * per, pa.list_(pa.float32())),
                    "below_threshold": [False] * per,
                    "width": pa.array([28] * per, pa.int32()),
                    "height": pa.array([28] * per, pa.int32()),
                    "model_version": ["v1"] * per,
                    "run_id": ["base"] * per,
                }
            ),
            os.path.join(folder, f"predictions-{s}.parquet"),
        )
    open(done, "w").close()


def run_once(folder: str, n: int, workers: int, mode: str) -> dict:
    """One pipeline run -> {(current, previous, row) group shape: how many groups}."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    per = n // TASKS

    def listing(t):
        for i in range(per):
            k = t * per + i
            yield (uri(k), "/data/incremental/", 880, 1.5e9, None)

    def shape(kv):
        _key, g = kv
        return len(list(g["current"])), len(list(g["previous"])), len(list(g["row"]))

    shapes: dict = {}
    out = os.path.join(folder, f"shapes-{os.getpid()}.txt")
    opts = PipelineOptions([f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"])
    with beam.Pipeline(runner=fn_runner.FnApiRunner(), options=opts) as p:
        current = (
            p
            | "Tasks" >> beam.Create(range(TASKS))
            | beam.FlatMap(listing)
            | "KeyCurrent" >> beam.Map(lambda i: (i[0], i))
        )
        previous = (
            p
            | "ReadObjects" >> beam.io.ReadFromParquet(os.path.join(folder, "objects-*.parquet"))
            | beam.Map(lambda r: (r["uri"], (int(r["size"]), float(r["mtime"]))))
        )
        rows = (
            p
            | "ReadRows" >> beam.io.ReadFromParquet(os.path.join(folder, "predictions-*.parquet"))
            | beam.Map(lambda r: (r["uri"], r))
        )
        (
            {"current": current, "previous": previous, "row": rows}
            | beam.CoGroupByKey()
            | beam.Map(shape)
            | beam.combiners.Count.PerElement()
            | beam.Map(repr)
            | beam.io.WriteToText(out, shard_name_template="")
        )
    import ast

    with open(out) as f:
        for line in f:
            key, count = ast.literal_eval(line)
            shapes[key] = count
    os.remove(out)
    return shapes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument("--keys", type=int, default=1_000_000, help="groups (default 1000000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--mode",
        default="multi_processing",
        choices=("multi_processing", "multi_threading", "in_memory"),
    )
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "join_loss"))
    args = ap.parse_args(argv)
    if args.keys % (TASKS * SHARDS):
        ap.error(f"--keys: a multiple of {TASKS * SHARDS}")
    write_inputs(args.work, args.keys)
    lossy = 0
    for r in range(args.runs):
        started = time.perf_counter()
        shapes = run_once(args.work, args.keys, args.workers, args.mode)
        complete = shapes == {(1, 1, 1): args.keys}
        lossy += not complete
        print(
            f"run {r + 1}: {time.perf_counter() - started:.0f} s, "
            f"{'complete' if complete else 'LOST ELEMENTS'}: {dict(sorted(shapes.items()))}",
            flush=True,
        )
    print(f"{lossy} of {args.runs} runs lost elements ({args.workers} workers, {args.mode})")
    return 1 if lossy else 0


if __name__ == "__main__":
    sys.exit(main())
