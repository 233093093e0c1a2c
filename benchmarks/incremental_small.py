"""A small --incremental run against a full run of the same images, whole process each.

    python -m benchmarks.incremental_small                  # 200 + 10 images, 3 repeats
    python -m benchmarks.incremental_small --n 2000 --repeats 2

The demo digits model and its held-out PNGs (copied to reach --n images). Per repeat, in
this order: a full run of N images (the base), 10 new images added, an --incremental run
(scores the 10, carries N over), an --incremental run with nothing new, and a full run of
the N + 10 images (the comparison). Reported: the median whole-process seconds of each
(command to exit), the ratio incremental / full of the same N + 10 images, the load
average around the runs. Results: benchmarks/results/incremental-small-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTRA = 10


def copy_images(src: str, dest: str, n: int, offset: int = 0) -> None:
    """n PNGs of the demo set, in their class folders, renamed so that copies differ."""
    files = sorted(os.path.join(root, name) for root, _d, names in os.walk(src) for name in names)
    for i in range(n):
        path = files[(offset + i) % len(files)]
        label = os.path.basename(os.path.dirname(path))
        os.makedirs(os.path.join(dest, label), exist_ok=True)
        shutil.copy(path, os.path.join(dest, label, f"img_{offset + i:06d}.png"))


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images of the base run (default 200)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "inc-small"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)

    from bucketscore.model_export.digits_demo import ensure_demo

    model = os.path.join(args.work, "model")
    data = os.path.join(args.work, "demo_data")
    ensure_demo(model, data)
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    times: dict[str, list[float]] = {"base": [], "incremental": [], "nothing_new": [], "full": []}
    loads = [os.getloadavg()[0]]
    for r in range(args.repeats):
        images = os.path.join(args.work, f"images-{r}")
        out = os.path.join(args.work, f"out-{r}")
        shutil.rmtree(images, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        copy_images(data, images, args.n)

        def score(run_id, *extra, images=images, out=out):
            return timed(
                [
                    exe,
                    "score",
                    "--input",
                    images,
                    "--model",
                    model,
                    "--output",
                    out,
                    "--run_id",
                    run_id,
                    "--no_progress",
                    *extra,
                ]
            )

        times["base"].append(score("base", "--incremental"))
        copy_images(data, images, EXTRA, offset=args.n)
        times["incremental"].append(score("incremental", "--incremental"))
        times["nothing_new"].append(score("nothing-new", "--incremental"))
        times["full"].append(score("full"))
        loads.append(os.getloadavg()[0])
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n": args.n,
        "extra": EXTRA,
        "repeats": args.repeats,
        "seconds": times,
        "median_seconds": median,
        "load_1min": loads,
        "ratio_incremental_to_full": median["incremental"] / median["full"],
        "ratio_nothing_new_to_full": median["nothing_new"] / median["full"],
    }
    print(f"{args.n} images, then +{EXTRA}; median of {args.repeats} (whole process, s):")
    for k in ("base", "incremental", "nothing_new", "full"):
        print(f"  {k:12s} {median[k]:6.1f}   {times[k]}")
    print(
        f"incremental / full of the same {args.n + EXTRA} images: "
        f"{result['ratio_incremental_to_full']:.2f}; nothing new / full: "
        f"{result['ratio_nothing_new_to_full']:.2f}; load {min(loads):.1f}-{max(loads):.1f}"
    )
    os.makedirs(args.out, exist_ok=True)
    name = f"incremental-small-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump(result, f, indent=1)
    print(f"results: {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
