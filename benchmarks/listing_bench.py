"""`make bench-listing`: bucketscore's listing at 10k, 100k and 1M objects, one lister vs fan-out.

    python -m benchmarks.listing_bench                      # sizes 10000 100000 1000000
    python -m benchmarks.listing_bench --sizes 10000        # a few minutes
    python -m benchmarks.listing_bench --incremental 100000 --only_incremental
                                  # incremental runs where 1% changed (incremental_bench.py)

For each store (a local folder; a bucket on a SeaweedFS S3 server started for the run),
layout (`tree`: N objects in 100 folders; `flat`: N objects under one prefix), size N and
listing mode (`one`: `--listing_rounds 0`, one lister per input; `fanout`: the default
planning rounds), with N tiny objects (one 28x28 PNG):

* keys/s: N / (t(N) - t(empty)), t = the listing stage alone (benchmarks/listing_pipeline.py:
  ListImages | Count on bucketscore's local runner, 2 worker processes), start-up of an
  empty listing subtracted;
* peak RSS of the listing worker (the largest worker process, VmHWM) and of the runner
  process that holds what Beam shuffles;
* time to first scored image: `bucketscore score` on the same input with the demo digits
  model, from start to the first image scored (the progress counters its workers write),
  and how many images were listed by then; the run is then stopped.

Memory flat in N: the listing worker's peak at the largest size against 100k (target:
within 10%). Local objects are hard links to a few files (ext4 allows 65,000 links per
file); buckets are filled once by copying the local set into the server (`weed filer.copy`)
and kept, with the server's data folder, between runs (a marker object says a prefix is
complete). Results:
benchmarks/results/listing-<time>.json and listing-latest.json, and a table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.proctree import _status_kb, tree
from benchmarks.servers import storage_servers
from bucketscore.storage.listing import PLANNING_ROUNDS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "listing"
FOLDERS = 100  # of the tree layout
LINKS_PER_FILE = 60_000
TARGET_GROWTH = 0.10
MODES = {"one": 0, "fanout": PLANNING_ROUNDS}  # --listing_rounds, given explicitly


def log(msg: str) -> None:
    load = os.getloadavg()
    print(f"[{time.strftime('%H:%M:%S')} load {load[0]:.2f}] {msg}", flush=True)


def tiny_png() -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def key(layout: str, i: int) -> str:
    return f"d{i % FOLDERS:02d}/{i:07d}.png" if layout == "tree" else f"{i:07d}.png"


# -- objects -------------------------------------------------------------------------------
def local_set(work: str, layout: str, n: int, body: bytes) -> str:
    """<work>/local/<layout>-<n>/ with n hard links (made once)."""
    root = os.path.join(work, "local")
    folder = os.path.join(root, f"{layout}-{n}")
    marker = folder + ".complete"
    if os.path.exists(marker):
        return folder + "/"
    shutil.rmtree(folder, ignore_errors=True)
    sources = []
    for k in range(-(-n // LINKS_PER_FILE)):
        # sources per set: ext4 allows 65,000 links per file, and the sets share a folder
        src = os.path.join(root, "src", f"{layout}-{n}-{k}.png")
        os.makedirs(os.path.dirname(src), exist_ok=True)
        if not os.path.exists(src):
            with open(src, "wb") as f:
                f.write(body)
        sources.append(src)
    made = set()
    for i in range(n):
        path = os.path.join(folder, key(layout, i))
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        os.link(sources[i // LINKS_PER_FILE], path)
    open(marker, "w").close()
    return folder + "/"


def s3_client(server, pool: int = 64):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(
            max_pool_connections=pool,
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def s3_set(server, client, work: str, layout: str, n: int, body: bytes, threads: int) -> str:
    """s3://listing/<layout>-<n>/ with n objects (filled once; a marker object says done).

    Filled by copying the local set of the same layout and size (the same keys and bytes)
    into the server's filer with SeaweedFS's own `weed filer.copy` (Go, `threads`
    goroutines): 1,000,000 objects in 264-286 s here (3,500-3,800/s) against ~700/s for boto3
    PUTs from 32 Python threads (100,000 in 137-153 s: a 1M-object bucket took 25 minutes).
    The S3 gateway serves the filer's files as the bucket's objects."""
    prefix = f"{layout}-{n}/"
    marker = f"_complete/{layout}-{n}"
    try:
        client.head_object(Bucket=BUCKET, Key=marker)
        return f"s3://{BUCKET}/{prefix}"
    except client.exceptions.ClientError:
        pass
    source = local_set(work, layout, n, body)
    started = time.perf_counter()
    p = server.ports
    target = f"http://127.0.0.1:{p['filer']}.{p['filer_grpc']}/buckets/{BUCKET}/"
    weed = storage_servers().find_binary("weed")
    done = subprocess.run(
        [weed, "filer.copy", "-c", str(threads), source.rstrip("/"), target],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"weed filer.copy {source} -> {target} failed: "
            f"{(done.stderr or done.stdout).strip()[-500:]}"
        )
    listed = sum(
        page.get("KeyCount", 0)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    )
    if listed != n:
        raise RuntimeError(f"s3://{BUCKET}/{prefix}: {listed:,} objects after the copy, not {n:,}")
    client.put_object(Bucket=BUCKET, Key=marker, Body=b"")
    log(f"  {prefix}: {n:,} objects in {time.perf_counter() - started:.0f} s (weed filer.copy)")
    return f"s3://{BUCKET}/{prefix}"


class PeakSampler(threading.Thread):
    """Peak RSS (VmHWM) of each process of a tree, sampled every 100 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for p in tree(self.pid):
                self.peaks[p] = max(self.peaks.get(p, 0), _status_kb(p, b"VmHWM:"))
            self._halt.wait(0.1)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        workers = [kb for p, kb in self.peaks.items() if p != self.pid]
        return {
            "runner_peak_rss_mb": self.peaks.get(self.pid, 0) / 1024,
            "worker_peak_rss_mb": max(workers, default=0) / 1024,
            "processes": len(self.peaks),
        }


def _kill_tree(pid: int) -> None:
    for p in reversed(tree(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def run_sampled(cmd: list[str], env: dict, timeout: float) -> tuple[float, dict]:
    """Run `cmd` to its end (killed with its children after `timeout`), sampling the peak
    RSS of its process tree -> (wall seconds, peaks). RuntimeError with its output's tail
    when it exits non-zero."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    sampler = PeakSampler(proc.pid)
    sampler.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    peaks = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{out.decode(errors='replace')[-3000:]}"
        )
    return seconds, peaks


def list_only(
    uri: str, rounds: int, flags: list[str], work: str, env: dict, timeout: float
) -> dict:
    """The listing stage alone on `uri`: seconds, count, peak RSS of its processes."""
    result = os.path.join(work, "listing-result.json")
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.listing_pipeline",
        "--input",
        uri,
        "--rounds",
        str(rounds),
        "--result",
        result,
    ] + flags
    load = os.getloadavg()
    _seconds, peaks = run_sampled(cmd, env, timeout)
    with open(result) as f:
        got = json.load(f)
    return {**got, **peaks, "load_before": load, "load_after": os.getloadavg()}


def first_scored(
    uri: str, rounds, model: str, flags: list[str], work: str, env: dict, timeout: float
) -> dict:
    """`bucketscore score` on `uri` until its first image is scored: seconds, listed then."""
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    out = os.path.join(work, "score-out")
    shutil.rmtree(out, ignore_errors=True)
    progress = tempfile.mkdtemp(prefix="progress-", dir=work)
    cmd = [
        exe,
        "score",
        "--input",
        uri,
        "--model",
        model,
        "--output",
        out,
        "--run_id",
        "b",
        "--no_progress",
        "--max_error_ratio",
        "1",
    ] + flags
    if rounds is not None:
        cmd += ["--listing_rounds", str(rounds)]
    env = dict(env, BUCKETSCORE_PROGRESS_DIR=progress)
    load = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seconds, listed = None, None
    try:
        while time.perf_counter() - started < timeout and proc.poll() is None:
            counts = _progress(progress)
            if counts.get("scored", 0) > 0:
                seconds, listed = time.perf_counter() - started, counts.get("listed", 0)
                break
            time.sleep(0.05)
    finally:
        _kill_tree(proc.pid)
        proc.wait()
        shutil.rmtree(progress, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return {
        "first_scored_s": seconds,
        "listed_at_first_scored": listed,
        "load_before": load,
        "load_after": os.getloadavg(),
    }


def _progress(folder: str) -> dict:
    total: dict = {}
    for name in os.listdir(folder):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                for k, v in json.load(f).items():
                    total[k] = total.get(k, 0) + v
        except (OSError, ValueError):
            continue
    return total


# -- report --------------------------------------------------------------------------------
def fmt(v, spec: str) -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def table(rows: list[dict]) -> str:
    lines = [
        "| store | layout | objects | listing | keys/s | listing s | worker peak RSS MB "
        "| runner peak RSS MB | first scored s | listed by then |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['store']} | {r['layout']} | {r['n']:,} | {r['mode']} | "
            f"{fmt(r.get('keys_per_s'), ',.0f')} | {fmt(r.get('seconds'), '.1f')} | "
            f"{fmt(r.get('worker_peak_rss_mb'), '.0f')} | "
            f"{fmt(r.get('runner_peak_rss_mb'), '.0f')} | "
            f"{fmt(r.get('first_scored_s'), '.1f')} | "
            f"{fmt(r.get('listed_at_first_scored'), ',')} |"
        )
    return "\n".join(lines)


def memory_checks(rows: list[dict]) -> list[dict]:
    """The listing worker's peak at the largest size against 100k, per store/layout/mode."""
    out = []
    by = {}
    for r in rows:
        by.setdefault((r["store"], r["layout"], r["mode"]), {})[r["n"]] = r
    for (store, layout, mode), sizes in sorted(by.items()):
        top = max(sizes)
        if 100_000 in sizes and top > 100_000:
            a = sizes[100_000]["worker_peak_rss_mb"]
            b = sizes[top]["worker_peak_rss_mb"]
            growth = b / a - 1 if a else None
            out.append(
                {
                    "store": store,
                    "layout": layout,
                    "mode": mode,
                    "from": 100_000,
                    "to": top,
                    "growth": growth,
                    "ok": growth is not None and growth <= TARGET_GROWTH,
                }
            )
    return out


# -- main ----------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--stores", default="local,s3")
    ap.add_argument("--layouts", default="tree,flat")
    ap.add_argument("--modes", default="one,fanout")
    ap.add_argument(
        "--no_scoring", action="store_true", help="skip the time-to-first-scored-image runs"
    )
    ap.add_argument(
        "--copy_threads",
        type=int,
        default=32,
        help="goroutines of `weed filer.copy` filling a bucket (default 32)",
    )
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "listing"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--tag", default="")
    ap.add_argument(
        "--incremental",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="then measure incremental runs of N images where 1%% changed "
        "(benchmarks/incremental_bench.py)",
    )
    ap.add_argument(
        "--only_incremental",
        action="store_true",
        help="skip the listing tables (with --incremental)",
    )
    args = ap.parse_args(argv)
    if args.only_incremental and not args.incremental:
        ap.error("--only_incremental needs --incremental N")
    if args.incremental and min(args.incremental) < 100:
        ap.error("--incremental: at least 100 images (1%% of them change)")
    code = 0 if args.only_incremental else _listing_tables(args)
    if args.incremental:
        from benchmarks.incremental_bench import run_sizes

        code = run_sizes(args.incremental, args.work, args.out, args.timeout, args.tag) or code
    return code


def _listing_tables(args) -> int:
    stores = [s for s in args.stores.split(",") if s]
    layouts = [s for s in args.layouts.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    started = dt.datetime.now(dt.timezone.utc)
    body = tiny_png()

    model = os.path.join(work, "demo", "models", "digits")
    if not args.no_scoring:
        from bucketscore.model_export.digits_demo import ensure_demo

        log("demo model (trained once)")
        ensure_demo(model, os.path.join(work, "demo", "data"), say=log)

    inputs: dict = {}
    server = None
    flags: dict = {"local": [], "s3": []}
    if "local" in stores:
        os.makedirs(os.path.join(work, "local", "empty"), exist_ok=True)
        inputs[("local", "empty", 0)] = os.path.join(work, "local", "empty") + "/"
        for layout in layouts:
            for n in args.sizes:
                log(f"local {layout} {n:,}")
                inputs[("local", layout, n)] = local_set(work, layout, n, body)
    try:
        if "s3" in stores:
            server = storage_servers().start_seaweedfs(os.path.join(work, "seaweedfs"))
            server.create_bucket(BUCKET)
            flags["s3"] = server.beam_options()
            client = s3_client(server)
            inputs[("s3", "empty", 0)] = f"s3://{BUCKET}/empty/"
            for layout in layouts:
                for n in args.sizes:
                    log(f"s3 {layout} {n:,}")
                    inputs[("s3", layout, n)] = s3_set(
                        server, client, work, layout, n, body, args.copy_threads
                    )
        rows = []
        for store in stores:
            for mode in modes:
                rounds = MODES[mode]
                plan = PLANNING_ROUNDS if rounds is None else rounds
                empty = list_only(
                    inputs[(store, "empty", 0)], plan, flags[store], work, env, args.timeout
                )
                log(f"{store} empty {mode}: {empty['seconds']:.1f} s (start-up)")
                for layout in layouts:
                    for n in args.sizes:
                        uri = inputs[(store, layout, n)]
                        r = {
                            "store": store,
                            "layout": layout,
                            "n": n,
                            "mode": mode,
                            "rounds": plan,
                            "empty_seconds": empty["seconds"],
                        }
                        r.update(list_only(uri, plan, flags[store], work, env, args.timeout))
                        if r["listed"] != n:
                            raise RuntimeError(f"{uri}: listed {r['listed']}, not {n}")
                        steady = r["seconds"] - empty["seconds"]
                        r["keys_per_s"] = n / steady if steady > 0 else None
                        if not args.no_scoring:
                            scored = first_scored(
                                uri, rounds, model, flags[store], work, env, args.timeout
                            )
                            r.update({k: v for k, v in scored.items() if not k.startswith("load")})
                        rows.append(r)
                        log(
                            f"{store} {layout} {n:,} {mode}: {r['seconds']:.1f} s, "
                            f"{fmt(r['keys_per_s'], ',.0f')} keys/s, worker peak "
                            f"{r['worker_peak_rss_mb']:.0f} MB, runner "
                            f"{r['runner_peak_rss_mb']:.0f} MB, first scored "
                            f"{fmt(r.get('first_scored_s'), '.1f')} s "
                            f"({fmt(r.get('listed_at_first_scored'), ',')} listed)"
                        )
    finally:
        if server is not None:
            server.stop()
    text = table(rows)
    print(text)
    checks = memory_checks(rows)
    for c in checks:
        log(
            f"memory {c['store']} {c['layout']} {c['mode']}: {c['from']:,} -> {c['to']:,}: "
            f"{fmt(c['growth'], '+.1%')} ({'ok' if c['ok'] else 'MISSED'}, target "
            f"<= {TARGET_GROWTH:.0%})"
        )
    result = {
        "tag": args.tag,
        "started": started.isoformat(),
        "sizes": args.sizes,
        "cores": os.cpu_count(),
        "rows": rows,
        "memory_checks": checks,
        "table": text,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"listing-{stamp}.json", "listing-latest.json"):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(result, f, indent=2)
    log(f"results: {os.path.join(args.out, f'listing-{stamp}.json')}")
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
