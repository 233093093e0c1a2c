"""What a big run costs on Dataflow, computed from this project's own measurements.

    python -m benchmarks.dataflow_cost                 # from benchmarks/results/latest.json
    python -m benchmarks.dataflow_cost --bench PATH --listing PATH --workers 10 250

Inputs (measured, never assumed): `make bench`'s steady-state images/s of the default
backend reading from S3 (the SeaweedFS server: one GET per object, the same code path as
gs://) and the cores it ran on -> images/s per vCPU; its peak RSS -> memory per worker
process; `make bench-listing`'s keys/s of one lister (S3, the largest size measured).

Model: Dataflow runs one SDK worker process per vCPU, as the local runner here does, so a
worker of V vCPUs scores V x (images/s per vCPU). Per run of N images on W workers:
vCPU-hours = N / (images/s per vCPU) / 3600; wall hours = that / (W x V) (+ worker start-up,
not measured here); Dataflow cost = vCPU-h x vCPU price + GB-h x memory price + PD GB-h x PD
price; Cloud Storage: one GET (class B) per image, one list request (class A) per 1,000 keys,
a few writes. A run without --incremental shuffles almost nothing (the listing tasks, the
sinks' file names, one summary accumulator per bundle): no Shuffle charge is counted.

Prices: Dataflow batch list prices (us-central1; vCPU/h, GB/h, PD GB/h, Shuffle GB) and
Cloud Storage operation prices (Standard class: class A and class B per 10,000), both as of
2026-12-01 (PRICES_READ). The pages (https://cloud.google.com/dataflow/pricing,
https://cloud.google.com/storage/pricing) could not be opened from the project's machine:
the figures are those quoted from them by public cost scripts and pages; check them before
relying on the dollars (they scale linearly).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "benchmarks", "results")

PRICES_READ = "2026-12-01"
VCPU_HOUR = 0.056  # $ per vCPU-hour, Dataflow batch
MEMORY_GB_HOUR = 0.003557  # $ per GB-hour
PD_GB_HOUR = 0.000054  # $ per GB-hour of standard persistent disk
SHUFFLE_GB = 0.011  # $ per GB of Dataflow Shuffle data processed (batch)
GCS_CLASS_A = 0.05 / 10_000  # $ per list / insert request
GCS_CLASS_B = 0.004 / 10_000  # $ per get request

# The recommended worker: n1-standard-4 (4 vCPUs, 15 GB): one SDK process per vCPU, each
# holding its own model copy (~0.4 GB measured for MobileNetV2 with ONNX Runtime) leaves
# room for models 5-10x larger; 50 GB of disk holds the container image (~3 GB) with room
# (infra/README.md: worker options).
WORKER = {"machine_type": "n1-standard-4", "vcpus": 4, "memory_gb": 15.0, "disk_gb": 50}
KEYS_PER_LIST = 1_000


def measured(bench: dict, listing: dict | None) -> dict:
    """The figures the model needs, from `make bench` (and `make bench-listing`) results."""
    cores = bench["machine"]["cores"]
    backend = "onnx" if any(r["variant"] == "bucketscore-onnx" for r in bench["summary"]) else "tf"
    rows = {(r["variant"], r["source"]): r for r in bench["summary"]}
    row = rows.get((f"bucketscore-{backend}", "s3")) or rows[(f"bucketscore-{backend}", "local")]
    out = {
        "backend": backend,
        "source": row["source"],
        "cores": cores,
        "images_per_s": row["steady_images_per_s"],
        "images_per_s_per_vcpu": row["steady_images_per_s"] / cores,
        "cpu_ms_per_image": row["steady_cpu_ms_per_image"],
        "peak_rss_mb": row.get("peak_rss_mb_N"),
        "process_rss_mb": (row.get("peak_rss_mb_N") or 0) / cores,
        "bench_started": bench.get("started"),
        "load": [bench.get("load_at_start", [None])[0], bench.get("load_at_end", [None])[0]],
    }
    if listing:
        one = [
            r
            for r in listing["rows"]
            if r["store"] == "s3" and r["mode"] == "one" and r.get("keys_per_s")
        ]
        if one:
            top = max(one, key=lambda r: r["n"])
            out["lister_keys_per_s"] = top["keys_per_s"]
            out["lister_measured_at"] = top["n"]
    return out


def cost(n: int, workers: int, m: dict, worker: dict = WORKER) -> dict:
    """One run of n images on `workers` workers -> hours and dollars (see the module doc)."""
    vcpu_hours = n / m["images_per_s_per_vcpu"] / 3600
    wall_hours = vcpu_hours / (workers * worker["vcpus"])
    worker_hours = wall_hours * workers
    dataflow = (
        vcpu_hours * VCPU_HOUR
        + worker_hours * worker["memory_gb"] * MEMORY_GB_HOUR
        + worker_hours * worker["disk_gb"] * PD_GB_HOUR
    )
    gets = n * GCS_CLASS_B
    lists = -(-n // KEYS_PER_LIST) * GCS_CLASS_A
    out = {
        "images": n,
        "workers": workers,
        "vcpus": workers * worker["vcpus"],
        "wall_hours": wall_hours,
        "vcpu_hours": vcpu_hours,
        "dataflow_usd": dataflow,
        "gcs_get_usd": gets,
        "gcs_list_usd": lists,
        "total_usd": dataflow + gets + lists,
    }
    if m.get("lister_keys_per_s"):
        out["one_lister_hours"] = n / m["lister_keys_per_s"] / 3600
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| images | workers (vCPUs) | wall hours | vCPU-hours | Dataflow $ | GCS reads $ "
        "| GCS lists $ | total $ | one lister alone, hours |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lister = r.get("one_lister_hours")
        lines.append(
            f"| {r['images']:,} | {r['workers']:,} ({r['vcpus']:,}) | {r['wall_hours']:.2f} | "
            f"{r['vcpu_hours']:,.1f} | {r['dataflow_usd']:,.2f} | {r['gcs_get_usd']:,.2f} | "
            f"{r['gcs_list_usd']:,.2f} | {r['total_usd']:,.2f} | "
            f"{'-' if lister is None else f'{lister:.2f}'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.dataflow_cost",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument(
        "--bench",
        default=os.path.join(RESULTS, "latest.json"),
        help="make bench results (default: the latest)",
    )
    ap.add_argument(
        "--listing",
        default=os.path.join(RESULTS, "listing-latest.json"),
        help="make bench-listing results (optional)",
    )
    ap.add_argument("--images", type=int, nargs="+", default=[1_000_000, 100_000_000])
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[10, 250],
        help="workers for each --images value (default 10 and 250)",
    )
    args = ap.parse_args(argv)
    if len(args.workers) != len(args.images):
        ap.error("--workers: one value per --images value")
    try:
        with open(args.bench) as f:
            bench = json.load(f)
    except OSError as e:
        ap.error(f"--bench {args.bench}: {e.strerror}: run `make bench` first")
    listing = None
    if os.path.exists(args.listing):
        with open(args.listing) as f:
            listing = json.load(f)
    m = measured(bench, listing)
    rows = [cost(n, w, m) for n, w in zip(args.images, args.workers)]
    print(
        f"measured: {m['images_per_s']:.0f} images/s on {m['cores']} cores from "
        f"{m['source']} ({m['backend']}) = {m['images_per_s_per_vcpu']:.1f} images/s per "
        f"vCPU, {m['cpu_ms_per_image']:.1f} ms CPU/image, {m['process_rss_mb']:.0f} MB per "
        f"process; bench of {m['bench_started']}, load {m['load']}"
    )
    if "lister_keys_per_s" in m:
        print(
            f"one lister: {m['lister_keys_per_s']:,.0f} keys/s (S3, "
            f"{m['lister_measured_at']:,} keys)"
        )
    print(
        f"worker: {WORKER['machine_type']}; prices of {PRICES_READ}: vCPU-h ${VCPU_HOUR}, "
        f"GB-h ${MEMORY_GB_HOUR}, PD GB-h ${PD_GB_HOUR}, GCS class A "
        f"${GCS_CLASS_A * 10_000}/10k, class B ${GCS_CLASS_B * 10_000}/10k"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
