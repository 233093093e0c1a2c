"""What suspect labels and duplicate images cost a run: `bucketscore score` with and without
`--no_label_checks`, whole process each, on the benchmark corpus (500x375 JPEGs, a folder
per class) and model (MobileNetV2 224, random weights: its probabilities are flat, so most
images are judged and the rule has work to do).

    python -m benchmarks.label_checks_bench                       # 4,000 images, 2 repeats
    python -m benchmarks.label_checks_bench --n 1000 --mem_n 0    # smoke
    python -m benchmarks.label_checks_bench --mem_n 40000         # + memory at 40,000
    python -m benchmarks.label_checks_bench --mem_n 40000 --mem_off   # and without the checks

Per repeat, both variants in alternating order (on, off, then off, on): wall seconds, CPU
seconds of the process tree, peak PSS. Reported: the median of each, the slowdown
(on / off - 1; target < 3%), and, with --mem_n, the peak PSS of a run with the checks on
over --mem_n distinct images against the --n run (target: flat). Load average beside each
figure. Results: benchmarks/results/label-checks-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys

from benchmarks import corpus as corpus_mod
from benchmarks import save_results
from benchmarks.proctree import measure

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(work: str, images: str, model: str, name: str, checks: bool) -> dict:
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "bucketscore"),
        "score",
        "--input",
        images,
        "--model",
        model,
        "--output",
        os.path.join(work, "out"),
        "--run_id",
        name,
        "--no_progress",
    ] + ([] if checks else ["--no_label_checks"])
    m = measure(cmd, log_path=os.path.join(work, f"{name}.log"))
    if m.rc:
        raise SystemExit(f"{' '.join(cmd)} failed: see {work}/{name}.log")
    out = {
        "checks": checks,
        "wall_s": round(m.wall_s, 2),
        "cpu_s": round(m.cpu_s, 2),
        "peak_pss_mb": round(m.peak_pss_mb, 1),
        "load": [round(x, 2) for x in m.load_before],
    }
    print(f"  {name:<14} {out}", flush=True)
    return out


def _memory_run(args, images: str, model: str, checks: bool, result: dict) -> None:
    """One run over --mem_n images; its growth against the --n runs' median goes into
    `result` (memory/memory_growth with the checks, memory_off/memory_growth_off without)."""
    suffix, word = ("", "with") if checks else ("_off", "without")
    name = f"mem{'' if checks else '-off'}-{args.mem_n}"
    mem = _run(args.work, images, model, name, checks)
    base = result["pss_on_mb"] if checks else result["pss_off_mb"]
    result[f"memory{suffix}"] = mem
    result[f"memory_growth{suffix}"] = round(mem["peak_pss_mb"] / base - 1, 4)
    print(
        f"{args.mem_n} images {word} the checks: peak PSS {mem['peak_pss_mb']} MB, "
        f"{result[f'memory_growth{suffix}']:+.1%} against {args.n} (load {mem['load']})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mem_n", type=int, default=0, help="also a memory run over this many")
    ap.add_argument(
        "--mem_off", action="store_true", help="and one without the checks over --mem_n"
    )
    ap.add_argument("--work", default=os.path.join(REPO, "benchmarks", "work", "label-checks"))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    from benchmarks.model import write_bench_bundle

    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, "model")
    write_bench_bundle(model)
    images = os.path.join(args.work, f"n{args.n}")
    corpus_mod.write_local(images, args.n)
    runs = []
    for r in range(args.repeats):
        order = (True, False) if r % 2 == 0 else (False, True)
        for checks in order:
            runs.append(_run(args.work, images, model, f"{'on' if checks else 'off'}-{r}", checks))

    def median(key, checks):
        return statistics.median(x[key] for x in runs if x["checks"] == checks)

    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n": args.n,
        "runs": runs,
        "wall_on_s": median("wall_s", True),
        "wall_off_s": median("wall_s", False),
        "cpu_on_s": median("cpu_s", True),
        "cpu_off_s": median("cpu_s", False),
        "pss_on_mb": median("peak_pss_mb", True),
        "pss_off_mb": median("peak_pss_mb", False),
    }
    result["slowdown"] = round(result["wall_on_s"] / result["wall_off_s"] - 1, 4)
    result["cpu_overhead"] = round(result["cpu_on_s"] / result["cpu_off_s"] - 1, 4)
    print(
        f"{args.n} images: wall {result['wall_on_s']} s with the checks, "
        f"{result['wall_off_s']} s without ({result['slowdown']:+.1%}; target < +3%); CPU "
        f"{result['cpu_overhead']:+.1%}; peak PSS {result['pss_on_mb']} vs "
        f"{result['pss_off_mb']} MB (load {runs[0]['load']} .. {runs[-1]['load']})"
    )
    if args.mem_n:
        big = os.path.join(args.work, f"n{args.mem_n}")
        corpus_mod.write_local(big, args.mem_n)
        for checks in (True, False) if args.mem_off else (True,):
            _memory_run(args, big, model, checks, result)
    print(f"results: {save_results(args.out, 'label-checks', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
