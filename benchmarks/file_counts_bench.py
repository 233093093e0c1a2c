"""What the finishing step's file check costs (run_folder/file_counts.py), on local files.

    python -m benchmarks.file_counts_bench                 # 100k rows, 4 parts per table
    python -m benchmarks.file_counts_bench --rows 1000000 --parts 16
    python -m benchmarks.file_counts_bench --s3           # the files in a local SeaweedFS bucket

Writes a run folder's tables as the sinks do (predictions in Parquet and CSV, the object
index in Parquet, an errors.csv with 1% of the rows), with realistic URIs, then times
`verify_files` over them (best of --repeat, after a first run that warms the page cache:
what is timed is the counting, not the disk) and each half of it: Parquet footers alone and
the CSV scan alone. With --s3 the files are uploaded to a bucket of a SeaweedFS server
started for the run (benchmarks/servers.py) and counted there: ranged GETs and streamed
downloads over HTTP on this machine, no network latency. Prints one JSON line with the
times and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

from bucketscore.run_folder import file_counts
from bucketscore.run_folder.file_counts import Expected, verify_files
from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    OBJECTS_SCHEMA,
    PREDICTION_COLUMNS,
    PREDICTIONS_SCHEMA,
    csv_line,
    prediction_csv_line,
)


def _rows(start: int, stop: int) -> list[dict]:
    return [
        {
            "uri": f"gs://bucket/images/{i % 1000:04d}/{os.urandom(8).hex()}-{i}.jpg",
            "true_label": str(i % 10),
            "predicted_label": str((i * 7) % 10),
            "confidence": 0.87,
            "correct": i % 7 == 0,
            "top_k_labels": [str(i % 10), str((i + 1) % 10), str((i + 2) % 10)],
            "top_k_scores": [0.87, 0.1, 0.03],
            "below_threshold": False,
            "width": 640,
            "height": 480,
            "model_version": "digits-0123456789ab",
            "run_id": "20261203T000000Z-abcdef",
        }
        for i in range(start, stop)
    ]


def write_run(folder: str, rows: int, parts: int) -> tuple[list[str], Expected]:
    """A run folder's tables under `folder`; (their paths, the counts they hold)."""
    failed = rows // 100
    scored = rows - failed
    written = []
    step = -(-scored // parts)
    for k in range(parts):
        part = _rows(k * step, min(scored, (k + 1) * step))
        name = f"{folder}/predictions-{k:05d}-of-{parts:05d}"
        pq.write_table(pa.Table.from_pylist(part, schema=PREDICTIONS_SCHEMA), name + ".parquet")
        with open(name + ".csv", "w", encoding="utf-8") as f:
            f.write(csv_line(PREDICTION_COLUMNS) + "\n")
            f.writelines(prediction_csv_line(r) + "\n" for r in part)
        objects = [{"uri": r["uri"], "size": 12345, "mtime": 1.7e9} for r in part]
        if k == 0:
            objects += [
                {"uri": f"gs://bucket/bad/{i}.jpg", "size": 1, "mtime": 1.7e9}
                for i in range(failed)
            ]
        obj = f"{folder}/objects-{k:05d}-of-{parts:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(objects, schema=OBJECTS_SCHEMA), obj)
        written += [name + ".parquet", name + ".csv", obj]
    with open(f"{folder}/errors.csv", "w", encoding="utf-8") as f:
        f.write(csv_line(ERROR_COLUMNS) + "\n")
        f.writelines(
            csv_line((f"gs://bucket/bad/{i}.jpg", "decode", "cannot identify image")) + "\n"
            for i in range(failed)
        )
    written.append(f"{folder}/errors.csv")
    return written, Expected(listed=rows, scored=scored, failed=failed)


def _best(fn, repeat: int) -> float:
    fn()  # warm: the page cache, pyarrow's first import
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--s3", action="store_true", help="count the files in a SeaweedFS bucket")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        written, expected = write_run(folder, args.rows, args.parts)
        sizes = {
            kind: sum(os.path.getsize(w) for w in written if w.endswith("." + kind))
            for kind in ("parquet", "csv")
        }
        server = None
        if args.s3:
            server, written = _to_s3(folder, written)
        try:
            times = _measure(written, expected, args.repeat)
        finally:
            if server is not None:
                server.stop()
    result = {
        "store": "s3" if args.s3 else "local",
        "rows": args.rows,
        "parts": args.parts,
        "bytes": sizes,
        **{name: round(t, 4) for name, t in times.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


def _to_s3(folder: str, written: list[str]):
    """(a SeaweedFS server, the files' s3:// URIs) after uploading `written` to a bucket."""
    from benchmarks.servers import storage_servers
    from bucketscore.storage import uris

    servers = storage_servers()
    server = servers.start_seaweedfs(os.path.join(folder, "seaweedfs"))
    bucket = server.create_bucket(servers.unique_bucket_name("counts"))
    uris.set_options(server.beam_options())
    client = server.boto3_client()
    out = []
    for path in written:
        key = "run/" + os.path.basename(path)
        client.upload_file(path, bucket, key)
        out.append(f"s3://{bucket}/{key}")
    return server, out


def _measure(written: list[str], expected: Expected, repeat: int) -> dict:
    """verify_files over `written`, then its Parquet and CSV halves alone: best times (s)."""
    assert verify_files(written, expected).problems == []
    parquet = [w for w in written if w.endswith(".parquet")]
    csvs = [w for w in written if w.endswith(".csv")]
    return {
        "verify_files_s": _best(lambda: verify_files(written, expected), repeat),
        "parquet_footers_s": _best(lambda: [file_counts.parquet_rows(w) for w in parquet], repeat),
        "csv_scan_s": _best(lambda: [file_counts.csv_rows(w) for w in csvs], repeat),
    }


if __name__ == "__main__":
    raise SystemExit(main())
