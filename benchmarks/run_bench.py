"""`make bench`: bucketscore's throughput and memory against this machine's ceiling and Beam's stock
RunInference pipeline, on the same photographs and the same model.

    python -m benchmarks.run_bench                      # N = 4,000 (about 15-20 minutes on 2 cores)
    python -m benchmarks.run_bench --n 400 --n_small 100 --n_startup 20 --mem_factor 2   # smoke

What it does, in one run:

1. corpus: N JPEGs (500x375, q90, crops of scikit-image's sample photographs, folder per
   class) under <work>/corpus, and sets of n_startup, n_small and N images (hard links);
   uploaded to a local SeaweedFS S3 server started for the run (tests/support/storage_servers.py).
2. model: MobileNetV2 224x224, 10 classes, random (BatchNorm-calibrated) weights, written
   as a bundle with saved_model/, model.keras and model.onnx.
3. ceiling: decode+resize CPU time per image and the best inference CPU time per image
   (backends x threads x batch sizes): ceiling = cores / (decode + inference).
4. programs, each as its own process, timed on n_startup, n_small and N images; peak RSS
   (and PSS) summed over the process tree:
     plain-<backend>   a Python loop: Pillow + one model call per image (local folder)
     stock             MatchFiles -> ReadMatches -> Pillow -> RunInference(TFModelHandlerNumpy)
                       -> WriteToText, DirectRunner defaults (local folder and S3)
     bucketscore-<b>   `bucketscore score --backend <b>` (local folder and S3)
   steady-state rate = (N - n_small) / (t(N) - t(n_small)); start-up = t(n_startup).
5. memory: bucketscore (default backend) on mem_factor x N images (hard-linked copies of
   the corpus under distinct paths): peak RSS against the N-image run.
6. prints the table, the ratios and the targets; writes <out>/bench-<time>.json and
   <out>/latest.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from benchmarks import corpus as corpus_mod
from benchmarks.proctree import measure

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "bench"
TARGET_CEILING_RATIO = 0.8
TARGET_STOCK_RATIO = 2.0
TARGET_PEAK_MB = 1536
TARGET_GROWTH = 0.10


def log(msg: str) -> None:
    load = os.getloadavg()
    print(f"[{time.strftime('%H:%M:%S')} load {load[0]:.2f}] {msg}", flush=True)


# -- inputs ------------------------------------------------------------------------------
def make_sets(work: str, n_values: list[int], mem_total: int, n: int) -> dict:
    """Hard-linked image sets: <work>/sets/n<k>/ and <work>/sets/mem<M>/ (copies of N)."""
    src = os.path.join(work, "corpus")
    rels = corpus_mod.write_local(src, max(n_values))
    sets = {}
    for k in n_values:
        folder = os.path.join(work, "sets", f"n{k}")
        if not _complete(folder, k):
            shutil.rmtree(folder, ignore_errors=True)
            for rel in rels[:k]:
                dst = os.path.join(folder, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.link(os.path.join(src, rel), dst)
        sets[k] = folder
    if mem_total:
        copies = mem_total // n
        folder = os.path.join(work, "sets", f"mem{copies * n}")
        if not _complete(folder, copies * n):
            shutil.rmtree(folder, ignore_errors=True)
            corpus_mod.link_copies(src, rels[:n], folder, copies)
        sets["mem"] = folder
    return sets


def _complete(folder: str, k: int) -> bool:
    if not os.path.isdir(folder):
        return False
    count = sum(len(files) for _root, _dirs, files in os.walk(folder))
    return count == k


def start_s3(work: str, sets: dict, n_values: list[int]):
    from benchmarks.servers import storage_servers

    start_seaweedfs = storage_servers().start_seaweedfs
    where = os.path.join(work, "seaweedfs")
    shutil.rmtree(where, ignore_errors=True)
    server = start_seaweedfs(where)
    server.create_bucket(BUCKET)
    client = server.boto3_client()
    uris = {}
    for k in n_values:
        rels = sorted(
            os.path.relpath(os.path.join(r, f), sets[k])
            for r, _d, fs in os.walk(sets[k])
            for f in fs
        )
        corpus_mod.upload(sets[k], rels, client, BUCKET, f"n{k}")
        uris[k] = f"s3://{BUCKET}/n{k}/"
    return server, uris


# -- commands ----------------------------------------------------------------------------
def bucketscore_cmd(
    inp: str, bundle: str, out: str, run_id: str, backend: str, extra: list[str]
) -> list[str]:
    """The installed `bucketscore score`, exactly as a user runs it."""
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    return [
        exe,
        "score",
        "--input",
        inp,
        "--model",
        bundle,
        "--output",
        out,
        "--run_id",
        run_id,
        "--backend",
        backend,
    ] + extra


def large_run_flags(backend: str, extra: list[str]) -> list[str]:
    """The worker flags bucketscore's DirectRunner default picks for a run above
    SMALL_RUN_IMAGES here (one process per core with ONNX Runtime, threads with TensorFlow),
    given explicitly: the steady-state runs (n_small -> N, 1,000 -> 4,000 by default) would
    otherwise be small runs in one process, and the table is about runs of any size (the
    small-run default is measured apart: benchmarks/small_runs.py). [] when the user's
    --bucketscore_args choose the workers themselves."""
    from bucketscore.pipelines.runners import runner_of
    from bucketscore.pipelines.workers import plan_workers, user_chose_workers

    if user_chose_workers(extra) or not runner_of(extra).local:
        return []
    return list(plan_workers(runner_of(extra), extra, backend, images=None).added_args)


def count_scored(m, variant: str, out: str) -> int:
    if variant.startswith("bucketscore"):
        for line in m.output_tail.splitlines():
            if line.startswith("images listed:"):
                return int(line.split("scored:")[1].split()[0])
        return -1
    if variant.startswith("plain"):
        with open(out) as f:
            return sum(1 for _ in f) - 1
    total = 0
    for name in os.listdir(os.path.dirname(out)):
        if name.endswith(".csv"):
            with open(os.path.join(os.path.dirname(out), name)) as f:
                total += sum(1 for _ in f)
    return total


def process_cpu_s(pid: int | None) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 when unknown."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def run_one(
    variant: str,
    source: str,
    n: int,
    inp: str,
    args,
    env: dict,
    s3_flags: list[str],
    server_pid: int | None = None,
) -> dict:
    py = sys.executable
    tag = f"{variant}_{source}_{n}"
    out_dir = os.path.join(args.work, "out", tag)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    flags = s3_flags if source == "s3" else []
    if variant.startswith("plain"):
        backend = variant.split("-", 1)[1]
        out = os.path.join(out_dir, "plain.csv")
        cmd = [
            py,
            "-m",
            "benchmarks.variants",
            "plain",
            "--input",
            inp,
            "--bundle",
            args.bundle,
            "--backend",
            backend,
            "--output",
            out,
        ]
    elif variant == "stock":
        out = os.path.join(out_dir, "out")
        pattern = inp.rstrip("/") + "/**"
        cmd = [
            py,
            "-m",
            "benchmarks.variants",
            "stock",
            "--input",
            pattern,
            "--model",
            os.path.join(args.bundle, "model.keras"),
            "--output",
            out,
        ] + flags
    else:
        backend = variant.split("-", 1)[1]
        out = out_dir
        cmd = bucketscore_cmd(
            inp,
            args.bundle,
            out_dir,
            "run",
            backend,
            flags + large_run_flags(backend, args.bucketscore_args) + args.bucketscore_args,
        )
    server0 = process_cpu_s(server_pid) if source == "s3" else 0.0
    m = measure(
        cmd,
        env=env,
        cwd=REPO,
        timeout=args.timeout,
        log_path=os.path.join(args.work, "logs", f"{tag}.log"),
        limit_mb=args.limit_mb,
    )
    scored = count_scored(m, variant, out) if m.rc == 0 else -1
    row = {"variant": variant, "source": source, "n": n, "scored": scored, **m.as_dict()}
    # The S3 server runs on the same cores: its CPU for this run is a cost of reading.
    row["server_cpu_s"] = process_cpu_s(server_pid) - server0 if source == "s3" else 0.0
    row.pop("output_tail")
    ok = m.rc == 0 and scored == n
    row["ok"] = ok
    log(
        f"{tag:28s} rc={m.rc} scored={scored} wall={m.wall_s:7.2f}s cpu={m.cpu_s:7.2f}s "
        f"peak_rss={m.peak_rss_mb:7.1f}MB pss={m.peak_pss_mb:7.1f}MB procs={m.peak_processes}"
    )
    if not ok:
        log(
            f"  FAILED: see {os.path.join(args.work, 'logs', tag + '.log')}\n"
            + m.output_tail[-1500:]
        )
    shutil.rmtree(out_dir, ignore_errors=True)
    return row


def sizes_for(variant: str, source: str, args) -> tuple[int, int, int]:
    """(start-up, small, large) image counts for one program and source. Beam's stock
    pipeline reads each S3 object through a new boto3 client (~0.2 s of CPU per object
    here), so on S3 it is timed on n_startup -> stock_s3_n images instead of n_small -> N."""
    if variant == "stock" and source == "s3":
        return args.n_startup, args.n_startup, args.stock_s3_n
    return args.n_startup, args.n_small, args.n


# -- analysis ----------------------------------------------------------------------------
def summarise(runs: list[dict], args) -> list[dict]:
    by = {}
    for r in runs:
        by.setdefault((r["variant"], r["source"]), {}).setdefault(r["n"], []).append(r)
    rows = []
    for (variant, source), sizes in by.items():

        def best(k, sizes=sizes):
            ok = [r for r in sizes.get(k, []) if r["ok"]]
            return min(ok, key=lambda r: r["wall_s"]) if ok else None

        n_start, n_small, n_big = sizes_for(variant, source, args)
        small, big, start = best(n_small), best(n_big), best(n_start)
        row = {"variant": variant, "source": source, "rate_from": [n_small, n_big]}
        if small and big and big["wall_s"] > small["wall_s"]:
            row["steady_images_per_s"] = (n_big - n_small) / (big["wall_s"] - small["wall_s"])
            row["steady_cpu_ms_per_image"] = (
                1000 * (big["cpu_s"] - small["cpu_s"]) / (n_big - n_small)
            )
            if source == "s3":
                row["s3_server_cpu_ms_per_image"] = (
                    1000 * (big["server_cpu_s"] - small["server_cpu_s"]) / (n_big - n_small)
                )
        if big:
            row["wall_s_N"] = big["wall_s"]
            row["overall_images_per_s_N"] = n_big / big["wall_s"]
            row["peak_rss_mb_N"] = big["peak_rss_mb"]
            row["peak_pss_mb_N"] = big["peak_pss_mb"]
        if start:
            row["startup_s"] = start["wall_s"]
            row["peak_rss_mb_startup"] = start["peak_rss_mb"]
        mem = best("mem")
        if mem:
            row["mem_n"] = mem["n_images"] if "n_images" in mem else None
            row["peak_rss_mb_mem"] = mem["peak_rss_mb"]
            row["peak_pss_mb_mem"] = mem["peak_pss_mb"]
            row["mem_images_per_s"] = mem["scored"] / mem["wall_s"] if mem["wall_s"] else None
            if big:
                row["rss_growth"] = mem["peak_rss_mb"] / big["peak_rss_mb"] - 1
                row["pss_growth"] = mem["peak_pss_mb"] / big["peak_pss_mb"] - 1
        rows.append(row)
    return rows


def judge(
    rows: list[dict],
    ceiling: float | None,
    default_backend: str,
    ceiling_parts: dict | None = None,
    per_backend: dict | None = None,
) -> dict:
    get = {(r["variant"], r["source"]): r for r in rows}
    out = {"ceiling_images_per_s": ceiling, "checks": []}
    if ceiling_parts:
        # On this one machine the S3 server competes for the same cores: the ceiling for
        # reading from it adds the server's measured CPU per image.
        for r in rows:
            ms = r.get("s3_server_cpu_ms_per_image")
            if ms is not None and r.get("steady_images_per_s"):
                c = ceiling_parts["cores"] / (
                    (ceiling_parts["decode_ms"] + ceiling_parts["infer_ms"] + ms) / 1000
                )
                r["ceiling_with_s3_server"] = c
                r["ratio_to_ceiling_with_s3_server"] = r["steady_images_per_s"] / c

    def check(name, value, target, ok):
        out["checks"].append(
            {
                "check": name,
                "value": value,
                "target": target,
                "met": bool(ok) if value is not None else None,
            }
        )

    for r in rows:
        if not r["variant"].startswith("bucketscore"):
            continue
        v, s = r["variant"], r["source"]
        rate = r.get("steady_images_per_s")
        stock = get.get(("stock", s), {}).get("steady_images_per_s")
        own = (per_backend or {}).get(v.split("-", 1)[1])
        if rate is not None and own:
            # What this backend's own inference allows (the target uses the best backend's).
            r["backend_ceiling"] = own
            r["ratio_to_backend_ceiling"] = rate / own
        if rate is not None and ceiling:
            r["ratio_to_ceiling"] = rate / ceiling
            check(
                f"{v} {s}: steady rate / ceiling",
                r["ratio_to_ceiling"],
                f">= {TARGET_CEILING_RATIO}",
                r["ratio_to_ceiling"] >= TARGET_CEILING_RATIO,
            )
        if rate is not None and stock:
            r["ratio_to_stock"] = rate / stock
            check(
                f"{v} {s}: steady rate / stock",
                r["ratio_to_stock"],
                f">= {TARGET_STOCK_RATIO}",
                r["ratio_to_stock"] >= TARGET_STOCK_RATIO,
            )
        if "peak_rss_mb_N" in r:
            check(
                f"{v} {s}: peak RSS (MB) at N",
                r["peak_rss_mb_N"],
                f"< {TARGET_PEAK_MB}",
                r["peak_rss_mb_N"] < TARGET_PEAK_MB,
            )
        if "rss_growth" in r:
            check(
                f"{v} {s}: peak RSS growth at {r.get('mem_n')} images",
                r["rss_growth"],
                f"< {TARGET_GROWTH}",
                r["rss_growth"] < TARGET_GROWTH,
            )
        stock_start = get.get(("stock", s), {}).get("startup_s")
        if "startup_s" in r and stock_start:
            check(
                f"{v} {s}: start-up (s) vs stock {stock_start:.1f}s",
                r["startup_s"],
                f"<= {stock_start:.1f}",
                r["startup_s"] <= stock_start,
            )
    return out


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def print_table(rows: list[dict], ceiling: float | None, args) -> str:
    lines = [
        f"N = {args.n} (steady state from {args.n_small} -> {args.n}), start-up = "
        f"{args.n_startup} images; ceiling = {fmt(ceiling, '.0f')} images/s",
        "",
        "| program | source | steady images/s | CPU ms/image | x ceiling "
        "| x own backend's ceiling | x stock | "
        f"whole s ({args.n_startup}) | whole s ({args.n}) | peak RSS MB (N) | "
        f"peak PSS MB (N) | peak RSS MB ({args.mem_factor}xN) | growth |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    order = {"plain": 0, "stock": 1, "bucketscore": 2}
    for r in sorted(
        rows, key=lambda r: (order.get(r["variant"].split("-")[0], 9), r["variant"], r["source"])
    ):
        lines.append(
            f"| {r['variant']} | {r['source']} | {fmt(r.get('steady_images_per_s'), '.0f')} | "
            f"{fmt(r.get('steady_cpu_ms_per_image'), '.1f')}"
            + (
                f" (+{r['s3_server_cpu_ms_per_image']:.1f} S3 server)"
                if r.get("s3_server_cpu_ms_per_image")
                else ""
            )
            + " | "
            f"{fmt(r.get('ratio_to_ceiling'), '.2f')} | "
            f"{fmt(r.get('ratio_to_backend_ceiling'), '.2f')} | "
            f"{fmt(r.get('ratio_to_stock'), '.2f')} | "
            f"{fmt(r.get('startup_s'), '.1f')} | {fmt(r.get('wall_s_N'), '.1f')} | "
            f"{fmt(r.get('peak_rss_mb_N'), '.0f')} | "
            f"{fmt(r.get('peak_pss_mb_N'), '.0f')} | {fmt(r.get('peak_rss_mb_mem'), '.0f')} | "
            f"{fmt(r.get('rss_growth'), '+.1%')} |"
        )
    text = "\n".join(lines)
    print(text)
    return text


# -- main ----------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument("--n", type=int, default=4000, help="images in the large run (default 4000)")
    ap.add_argument(
        "--n_small",
        type=int,
        default=1000,
        help="images in the small run; steady rate = (n - n_small) / dt",
    )
    ap.add_argument(
        "--n_startup",
        type=int,
        default=60,
        help="images in the start-up run (its whole-process time is reported)",
    )
    ap.add_argument(
        "--small_sizes",
        default="60,1000,4000",
        help="sizes of the small-run comparison (the plain loop, the default and "
        "--executor beam: whole-process time and peak PSS; '' to skip)",
    )
    ap.add_argument(
        "--mem_factor",
        type=int,
        default=10,
        help="memory run on mem_factor x N images (0: skip; default 10)",
    )
    ap.add_argument("--repeats", type=int, default=1, help="runs per size; the fastest counts")
    ap.add_argument(
        "--stock_s3_n",
        type=int,
        default=500,
        help="Beam's stock pipeline on S3 is timed on n_startup -> stock_s3_n images "
        "(it spends ~0.2 s of CPU per object; default 500)",
    )
    ap.add_argument(
        "--variants",
        default="plain-onnx,plain-tf,stock,bucketscore-onnx,bucketscore-tf",
        help="comma-separated, from: plain-onnx, plain-tf, stock, bucketscore-onnx, bucketscore-tf",
    )
    ap.add_argument("--sources", default="local,s3")
    ap.add_argument(
        "--bucketscore_args",
        default="",
        help="extra flags for every bucketscore run (quoted), e.g. '--direct_num_workers 2'",
    )
    ap.add_argument("--skip_ceiling", action="store_true")
    ap.add_argument(
        "--ceiling_images",
        type=int,
        default=256,
        help="images per inference timing (per backend x threads x batch size)",
    )
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument(
        "--limit_mb",
        type=float,
        default=12000,
        help="kill a program whose process tree passes this RSS (protects the "
        "machine; default 12000)",
    )
    ap.add_argument("--tag", default="", help="a name for this run, kept in the JSON")
    args = ap.parse_args(argv)
    args.bucketscore_args = args.bucketscore_args.split()
    args.work = os.path.abspath(args.work)
    os.makedirs(os.path.join(args.work, "logs"), exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    variants = [v for v in args.variants.split(",") if v]
    sources = [s for s in args.sources.split(",") if s]
    slow_s3 = "stock" in variants and "s3" in sources
    small_sizes = [int(v) for v in args.small_sizes.split(",") if v]
    n_values = sorted(
        {args.n_startup, args.n_small, args.n}
        | ({args.stock_s3_n} if slow_s3 else set())
        | set(small_sizes)
    )
    started = dt.datetime.now(dt.timezone.utc)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)

    load = os.getloadavg()[0]
    if load > 1.5:
        log(
            f"WARNING: load average {load:.2f} before starting: other work shares the cores and "
            f"the rates will be low and noisy (the JSON records the load of every run)"
        )
    log(f"corpus and sets under {args.work}")
    sets = make_sets(
        args.work, n_values, args.mem_factor * args.n if args.mem_factor else 0, args.n
    )
    log("model bundle")
    from benchmarks.model import write_bench_bundle

    args.bundle = os.path.join(args.work, "bundle")
    meta = write_bench_bundle(args.bundle)
    default_backend = "onnx" if meta.has_onnx else "tf"

    server, s3_uris, s3_flags = None, {}, []
    if "s3" in sources:
        log("SeaweedFS S3 server and uploads")
        server, s3_uris = start_s3(args.work, sets, n_values)
        s3_flags = server.beam_options()

    ceiling = None
    result = {
        "tag": args.tag,
        "started": started.isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu": _cpu_model(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        },
        "params": {
            "n": args.n,
            "n_small": args.n_small,
            "n_startup": args.n_startup,
            "mem_factor": args.mem_factor,
            "repeats": args.repeats,
            "bucketscore_args": args.bucketscore_args,
            "variants": variants,
            "code_version": _code_version(),
            "sources": sources,
            "bundle_version": meta.version,
        },
        "load_at_start": os.getloadavg(),
    }
    try:
        if not args.skip_ceiling:
            log("ceiling: decode and inference CPU time per image")
            from benchmarks.ceiling import measure as measure_ceiling

            c = measure_ceiling(
                args.bundle,
                os.path.join(args.work, "corpus"),
                os.cpu_count() or 1,
                infer_images=args.ceiling_images,
            )
            ceiling = c["ceiling_images_per_s"]
            result["ceiling"] = c
            log(
                f"decode {c['decode_cpu_ms_per_image']} ms; best inference "
                f"{c['best_inference']}; ceiling {ceiling:.0f} images/s"
            )
        runs = []
        for variant in variants:
            for source in sources:
                if source == "s3" and variant.startswith("plain"):
                    continue  # the plain loop reads the local folder only
                for n in sorted(set(sizes_for(variant, source, args))):
                    inp = sets[n] + "/" if source == "local" else s3_uris[n]
                    for _ in range(args.repeats if n != args.n_startup else 1):
                        runs.append(
                            run_one(
                                variant,
                                source,
                                n,
                                inp,
                                args,
                                env,
                                s3_flags,
                                server.pid if server else None,
                            )
                        )
        if args.mem_factor:
            variant = f"bucketscore-{default_backend}"
            log(f"memory run: {variant} on {args.mem_factor} x {args.n} images")
            r = run_one(
                variant, "local", args.mem_factor * args.n, sets["mem"] + "/", args, env, s3_flags
            )
            r["n_images"] = r["n"]
            r["n"] = "mem"
            runs.append(r)
        result["runs"] = runs
        if small_sizes:
            log(f"small runs: plain loop, default, --executor beam: {small_sizes} images")
            from benchmarks.small_runs import int8_bundle
            from benchmarks.small_runs import measure as measure_small

            result["small_runs"] = measure_small(
                sets,
                args.bundle,
                args.work,
                small_sizes,
                args.repeats,
                env,
                int8_bundle(args.bundle, args.work),
            )
            if server is not None:
                from benchmarks.small_runs import measure_s3_output

                n = min(small_sizes)
                if n not in s3_uris:
                    raise RuntimeError(f"no S3 copy of the {n}-image set")
                log(f"small runs: results written to S3 against a local folder, {n} images")
                try:
                    result["small_runs_s3"] = measure_s3_output(
                        sets[n] + "/",
                        s3_uris[n],
                        n,
                        args.bundle,
                        args.work,
                        server,
                        BUCKET,
                        args.repeats,
                        env,
                    )
                except Exception as e:  # noqa: BLE001 - the half hour measured so far is kept
                    log(f"small runs to S3 failed: {e}")
                    result["small_runs_s3"] = {"error": str(e)[-2000:]}
    finally:
        if server is not None:
            server.stop()
    rows = summarise(runs, args)
    parts = None
    if "ceiling" in result:
        c = result["ceiling"]
        parts = {
            "cores": c["cores"],
            "infer_ms": c["best_inference"]["cpu_ms_per_image"],
            "decode_ms": min(
                c["decode_cpu_ms_per_image"]["pillow"], c["decode_cpu_ms_per_image"]["decode_image"]
            ),
        }
    result["targets"] = judge(
        rows, ceiling, default_backend, parts, result.get("ceiling", {}).get("ceiling_per_backend")
    )
    result["summary"] = rows
    result["load_at_end"] = os.getloadavg()
    result["finished"] = dt.datetime.now(dt.timezone.utc).isoformat()
    print()
    result["table"] = print_table(rows, ceiling, args)
    print()
    if "small_runs" in result:
        from benchmarks.small_runs import table as small_table

        result["small_runs_table"] = small_table(result["small_runs"])
        print(result["small_runs_table"])
        print()
    if "rows" in result.get("small_runs_s3", {}):
        from benchmarks.small_runs import s3_table

        result["small_runs_s3_table"] = s3_table(result["small_runs_s3"])
        print(result["small_runs_s3_table"])
        print()
    for c in result["targets"]["checks"]:
        met = {True: "MET   ", False: "MISSED", None: "n/a   "}[c["met"]]
        print(f"{met} {c['check']}: {fmt(c['value'], '.3g')} (target {c['target']})")
    for r in rows:
        if "ratio_to_ceiling_with_s3_server" in r:
            print(
                f"note   {r['variant']} s3: the S3 server used "
                f"{r['s3_server_cpu_ms_per_image']:.2f} ms CPU/image on the same cores; "
                f"ceiling including it {r['ceiling_with_s3_server']:.0f} images/s, ratio "
                f"{r['ratio_to_ceiling_with_s3_server']:.2f}"
            )
    if "ceiling" in result:
        c = result["ceiling"]
        print(
            f"ceiling: decode+resize {parts['decode_ms']:.2f} ms CPU/image, best inference "
            f"{parts['infer_ms']:.2f} ms CPU/image ({c['best_inference']['backend']}, "
            f"{c['best_inference']['threads']} thread(s), batch {c['best_inference']['batch']}) "
            f"-> {c['cores']} / {parts['decode_ms'] + parts['infer_ms']:.2f} ms = "
            f"{ceiling:.0f} images/s"
        )
    loads = [r["load_before"][0] for r in runs] + [r["load_after"][0] for r in runs]
    print(f"\nload average (1 min) during the runs: min {min(loads):.2f}, max {max(loads):.2f}")
    name = f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}{'-' + args.tag if args.tag else ''}.json"
    for path in (os.path.join(args.out, name), os.path.join(args.out, "latest.json")):
        with open(path, "w") as f:
            json.dump(result, f, indent=1, default=str)
    print(f"results: {os.path.join(args.out, name)}")
    return 0 if all(r["ok"] for r in runs) else 1


def _code_version() -> str:
    from bucketscore.pipelines.version import code_version

    version = code_version()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return version + (" (uncommitted changes)" if dirty else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
