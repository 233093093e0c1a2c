"""Small runs: whole-process time of `bucketscore score` in one process against worker
processes, by number of images (the break-even behind pipelines/workers.py SMALL_RUN_IMAGES),
and start-up: seconds from the command to the first image read.

Part of `make bench` (run_bench calls `measure`), or alone:
    python -m benchmarks.small_runs --sizes 60,500,2000,4000,8000 [--repeats 2]
It uses the benchmark corpus and bundle of `make bench` (benchmarks/work/), made if missing.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import save_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {
    "one process": ["--direct_num_workers", "1", "--direct_running_mode", "in_memory"],
    "worker processes": ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
}


def timed_run(inp: str, bundle: str, out: str, extra: list[str], env: dict) -> dict:
    """{wall_s, first_read_s} of one `bucketscore score` run (first read: from the live
    counts the processes write to $BUCKETSCORE_PROGRESS_DIR)."""
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    # the live counts are local files whatever the output (an S3 output has no folder here)
    counts = tempfile.mkdtemp(prefix="bench-counts-")
    cmd = [
        exe,
        "score",
        "--input",
        inp,
        "--model",
        bundle,
        "--output",
        out,
        "--run_id",
        "r",
        "--no_progress",
        *extra,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=dict(env, BUCKETSCORE_PROGRESS_DIR=counts),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = None
    while proc.poll() is None:
        if first is None:
            for path in glob.glob(os.path.join(counts, "*.json")):
                try:
                    if json.load(open(path)).get("read", 0) > 0:
                        first = time.monotonic() - started
                except (OSError, ValueError):
                    pass
        time.sleep(0.01)
    wall = time.monotonic() - started
    shutil.rmtree(counts, ignore_errors=True)
    err = proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-1500:]}")
    return {"wall_s": wall, "first_read_s": first}


def measure(
    sets: dict, bundle: str, work: str, sizes: list[int], repeats: int = 1, env: dict | None = None
) -> dict:
    """Per size and mode the fastest of `repeats` runs; the break-even (the smallest size at
    which worker processes are faster), start-up of the default at the smallest size."""
    env = dict(os.environ if env is None else env)
    out = os.path.join(work, "out", "small-runs")
    os.makedirs(out, exist_ok=True)
    rows = []
    for n in sizes:
        row = {"n": n}
        for mode, flags in MODES.items():
            best = min(
                (timed_run(sets[n] + "/", bundle, out, flags, env) for _ in range(repeats)),
                key=lambda r: r["wall_s"],
            )
            row[mode] = best
        row["default"] = min(
            (timed_run(sets[n] + "/", bundle, out, [], env) for _ in range(repeats)),
            key=lambda r: r["wall_s"],
        )
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(
            f"[small runs] n={n}: one process {row['one process']['wall_s']:.1f} s, worker "
            f"processes {row['worker processes']['wall_s']:.1f} s, default "
            f"{row['default']['wall_s']:.1f} s (first read {row['default']['first_read_s']}"
            f" s), load {row['load']:.2f}",
            file=sys.stderr,
            flush=True,
        )
    faster = [r["n"] for r in rows if r["worker processes"]["wall_s"] < r["one process"]["wall_s"]]
    return {"rows": rows, "break_even_n": min(faster) if faster else None}


def measure_s3_output(
    inp: str,
    s3_inp: str,
    n: int,
    bundle: str,
    work: str,
    server,
    bucket: str,
    repeats: int = 1,
    env: dict | None = None,
) -> dict:
    """A small run (the default settings) written to a local folder against the same run
    written to S3 (the benchmark's SeaweedFS server), from a local folder and from S3;
    fastest of `repeats` each. `s3_write_s` = S3 output - local output, from local input:
    what writing the run's few result files to S3 costs."""
    env = dict(os.environ if env is None else env)
    flags = server.beam_options()
    local_out = os.path.join(work, "out", "small-runs-s3")
    os.makedirs(local_out, exist_ok=True)
    s3_out = f"s3://{bucket}/small-runs-out"

    def best(source: str, out: str) -> dict:
        return min(
            (timed_run(source, bundle, out, flags, env) for _ in range(repeats)),
            key=lambda r: r["wall_s"],
        )

    rows = {
        "local -> local": best(inp, local_out),
        "local -> S3": best(inp, s3_out),
        "S3 -> S3": best(s3_inp, s3_out),
    }
    return {
        "n": n,
        "rows": rows,
        "load": os.getloadavg()[0],
        "s3_write_s": rows["local -> S3"]["wall_s"] - rows["local -> local"]["wall_s"],
    }


def s3_table(result: dict) -> str:
    lines = [
        f"| {result['n']} images | whole run s | first image read s |",
        "| --- | ---: | ---: |",
    ]
    for name, r in result["rows"].items():
        first = r["first_read_s"]
        lines.append(f"| {name} | {r['wall_s']:.1f} | {'-' if first is None else f'{first:.1f}'} |")
    lines.append("")
    lines.append(
        f"writing the results to S3: {result['s3_write_s']:+.1f} s against a local "
        f"folder (load {result['load']:.2f})"
    )
    return "\n".join(lines)


def table(result: dict) -> str:
    lines = [
        "| images | one process s | worker processes s | default s | default: first "
        "image read s | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        first = r["default"]["first_read_s"]
        lines.append(
            f"| {r['n']} | {r['one process']['wall_s']:.1f} | "
            f"{r['worker processes']['wall_s']:.1f} | {r['default']['wall_s']:.1f} | "
            f"{'-' if first is None else f'{first:.1f}'} | {r['load']:.2f} |"
        )
    be = result["break_even_n"]
    lines.append("")
    lines.append(f"worker processes first faster at: {be if be else 'none of these sizes'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.small_runs", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--sizes", default="60,500,2000,4000,8000")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    from benchmarks.model import write_bench_bundle
    from benchmarks.run_bench import make_sets

    sets = make_sets(args.work, sizes, 0, max(sizes))
    bundle = os.path.join(args.work, "bundle")
    write_bench_bundle(bundle)
    result = measure(
        sets, bundle, args.work, sizes, args.repeats, dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    )
    print(table(result))
    print(f"results: {save_results(args.out, 'small-runs', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
