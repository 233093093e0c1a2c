"""Incremental runs at scale: a run where 1% of N images changed reads only those 1%.

    python -m benchmarks.incremental_bench                  # N = 100000
    python -m benchmarks.incremental_bench --sizes 1000000  # about an hour here

(also `make bench-listing BENCH_ARGS='--incremental 100000'`, after the listing tables).

For each N: a local folder of N tiny images (100 folders of hard links to one 28x28 PNG),
scored in full once with the demo digits model (`base`); then every 100th image is
replaced by another PNG (a new file: other bytes, other size and modification time) and
`bucketscore score --incremental` runs on the folder. Measured for both runs: wall seconds,
peak RSS of the runner process (what Beam's local runner holds: the incremental join is a
CoGroupByKey there) and of the largest worker process; for the incremental run, the read
counters of its summary (`read`, `bytes_read`) against the changed images' count and
bytes, and the carried-over rows. Results: benchmarks/results/incremental-<time>.json and
incremental-latest.json, and a table for docs/performance.md. Exit 1 when the incremental run read
anything but the changed images.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import sys
import time

from benchmarks.listing_bench import FOLDERS, fmt, key, log, run_sampled, tiny_png

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVERY = 100  # one image in EVERY changes: 1%


def other_png(i: int) -> bytes:
    """A PNG unlike tiny_png(): 28x28 noise seeded by i (other bytes, other size)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(1_000 + i).integers(0, 255, (28, 28, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def make_folder(work: str, n: int, body: bytes) -> str:
    """<work>/incremental-<n>/: n hard links to one file, in FOLDERS folders (made anew)."""
    folder = os.path.join(work, f"incremental-{n}")
    shutil.rmtree(folder, ignore_errors=True)
    src = os.path.join(work, "incremental-src.png")
    with open(src, "wb") as f:
        f.write(body)
    for d in range(FOLDERS):
        os.makedirs(os.path.join(folder, f"d{d:02d}"), exist_ok=True)
    links_per_file = 60_000  # ext4 allows 65,000 links per file
    sources = [src]
    for i in range(n):
        k = i // links_per_file
        if k >= len(sources):
            extra = os.path.join(work, f"incremental-src-{k}.png")
            shutil.copy(src, extra)
            os.utime(extra, (os.stat(src).st_atime, os.stat(src).st_mtime))
            sources.append(extra)
        os.link(sources[k], os.path.join(folder, key("tree", i)))
    return folder


def change_one_percent(folder: str, n: int) -> tuple[int, int]:
    """Replace every EVERY-th image by a new file; -> (images changed, their bytes)."""
    count = nbytes = 0
    for i in range(0, n, EVERY):
        path = os.path.join(folder, key("tree", i))
        os.unlink(path)  # a new inode: the hard-linked siblings keep their mtime
        body = other_png(i)
        with open(path, "wb") as f:
            f.write(body)
        count += 1
        nbytes += len(body)
    return count, nbytes


def score(
    folder: str, model: str, out: str, run_id: str, incremental: bool, env: dict, timeout: float
) -> dict:
    """One `bucketscore score` run: wall seconds, peak RSS, its summary's counters."""
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    cmd = [
        exe,
        "score",
        "--input",
        folder + "/",
        "--model",
        model,
        "--output",
        out,
        "--run_id",
        run_id,
        "--labels",
        "none",
        "--no_progress",
    ]
    if incremental:
        cmd.append("--incremental")
    load = os.getloadavg()
    seconds, peaks = run_sampled(cmd, env, timeout)
    with open(os.path.join(out, run_id, "summary.json")) as f:
        summary = json.load(f)
    return {
        "seconds": seconds,
        **peaks,
        "counters": summary.get("beam_counters", {}),
        "counts": summary.get("counts", {}),
        "load_before": load,
        "load_after": os.getloadavg(),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| images | run | s | images/s | images read | bytes read | carried over "
        "| runner peak RSS MB | worker peak RSS MB | load |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        for name in ("base", "incremental"):
            run = r[name]
            c = run["counters"]
            # small runs score in the runner process itself: no worker to report
            worker = (
                f"{run['worker_peak_rss_mb']:,.0f}" if run["worker_peak_rss_mb"] else "(in runner)"
            )
            lines.append(
                f"| {r['n']:,} | {name} | {run['seconds']:.0f} | "
                f"{r['n'] / run['seconds']:,.0f} | {fmt(c.get('read'), ',')} | "
                f"{fmt(c.get('bytes_read'), ',')} | "
                f"{fmt(run['counts'].get('carried_over'), ',')} | "
                f"{run['runner_peak_rss_mb']:,.0f} | {worker} | "
                f"{run['load_before'][0]:.1f}-{run['load_after'][0]:.1f} |"
            )
    return "\n".join(lines)


def run_sizes(sizes: list[int], work: str, out_dir: str, timeout: float, tag: str = "") -> int:
    """Measure each size, write the results; -> 0, or 1 when a run read too much."""
    from bucketscore.model_export.digits_demo import ensure_demo

    work = os.path.abspath(work)
    os.makedirs(work, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    started = dt.datetime.now(dt.timezone.utc)
    model = os.path.join(work, "demo", "models", "digits")
    log("demo model (trained once)")
    ensure_demo(model, os.path.join(work, "demo", "data"), say=log)
    body = tiny_png()
    rows, ok = [], True
    for n in sizes:
        log(f"incremental {n:,}: {n:,} hard links")
        folder = make_folder(work, n, body)
        out = os.path.join(work, f"incremental-out-{n}")
        shutil.rmtree(out, ignore_errors=True)
        base = score(folder, model, out, "base", False, env, timeout)
        log(f"  base: {base['seconds']:.0f} s, runner peak {base['runner_peak_rss_mb']:.0f} MB")
        changed, changed_bytes = change_one_percent(folder, n)
        time.sleep(0.01)
        inc = score(folder, model, out, "incremental", True, env, timeout)
        c = inc["counters"]
        good = (c.get("read"), c.get("bytes_read")) == (changed, changed_bytes) and inc[
            "counts"
        ].get("carried_over") == n - changed
        ok = ok and good
        rows.append(
            {
                "n": n,
                "changed": changed,
                "changed_bytes": changed_bytes,
                "base": base,
                "incremental": inc,
                "reads_only_changed": good,
            }
        )
        log(
            f"  incremental: {inc['seconds']:.0f} s, read {c.get('read')} images "
            f"({c.get('bytes_read')} bytes; changed: {changed}, {changed_bytes} bytes), "
            f"carried {inc['counts'].get('carried_over')}, runner peak "
            f"{inc['runner_peak_rss_mb']:.0f} MB: {'ok' if good else 'READ TOO MUCH'}"
        )
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    text = table(rows)
    print(text)
    result = {
        "tag": tag,
        "started": started.isoformat(),
        "sizes": sizes,
        "cores": os.cpu_count(),
        "rows": rows,
        "table": text,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"incremental-{stamp}.json", "incremental-latest.json"):
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(result, f, indent=2)
    log(f"results: {os.path.join(out_dir, f'incremental-{stamp}.json')}")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000], help="images per run (default 100000)"
    )
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "listing"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if any(n < EVERY for n in args.sizes):
        ap.error(f"--sizes: at least {EVERY} images (1% of them change)")
    return run_sizes(args.sizes, args.work, args.out, args.timeout, args.tag)


if __name__ == "__main__":
    sys.exit(main())
