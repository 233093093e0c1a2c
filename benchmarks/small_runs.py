"""Small and medium runs: whole-process time (command to exit) and peak PSS of the process
tree of the plain loop, `bucketscore score` by default (a local run: the in-process
executor), the same with the bundle's int8 twin (`--precision int8`) and `bucketscore
score --executor beam` (Beam's local runner), by number of images, in alternation, with the
load beside each row.

Part of `make bench` (run_bench calls `measure`), or alone:
    python -m benchmarks.small_runs --sizes 60,1000,4000 [--repeats 3]
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


def _score_cmd(inp: str, bundle: str, out: str, extra: list[str]) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "bucketscore")
    return [exe, "score", "--input", inp, "--model", bundle, "--output", out] + [
        "--run_id",
        "r",
        "--no_progress",
        *extra,
    ]


def _plain_cmd(inp: str, bundle: str, out: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.variants", "plain", "--input", inp, "--bundle"] + [
        bundle,
        "--backend",
        "onnx",
        "--output",
        os.path.join(out, "plain.csv"),
    ]


def _measured(cmd: list[str], env: dict) -> dict:
    """wall_s, cpu_s, peak PSS of the whole process tree, load before and after."""
    from benchmarks.proctree import measure as measure_tree

    m = measure_tree(cmd, env=env, cwd=REPO)
    if m.rc:
        raise RuntimeError(f"{' '.join(cmd)} failed: {m.output_tail[-1500:]}")
    return {
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "peak_pss_mb": m.peak_pss_mb,
        "load": [m.load_before[0], m.load_after[0]],
    }


# What each size is measured with: the plain loop, bucketscore's default (a local run: the
# in-process executor, pipelines/inline_run.py), the same with the bundle's int8 twin
# (--precision int8; when an int8 bundle is given) and the same run through Beam's local
# runner (--executor beam: one process up to SMALL_RUN_IMAGES, else worker processes).
PROGRAMS = ("plain loop", "default", "default int8", "beam")


def int8_bundle(bundle: str, work: str) -> str:
    """A copy of the bench bundle with its int8 twin (bucketscore quantize, calibrated on 128
    corpus images; no agreement floor: these weights are random, benchmarks/int8_bench.py
    says why), made once under `work`."""
    import shutil

    from bucketscore.model_export.quantizing import quantize_bundle

    out = os.path.join(work, "bundle-int8")
    if os.path.exists(os.path.join(out, "model.int8.onnx")):
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(bundle, out)
    quantize_bundle(
        out,
        calibration=os.path.join(work, "corpus"),
        samples=128,
        labels="none",
        min_agreement=0.0,
        log=lambda _: None,
    )
    return out


def measure(
    sets: dict,
    bundle: str,
    work: str,
    sizes: list[int],
    repeats: int = 1,
    env: dict | None = None,
    int8: str | None = None,
) -> dict:
    """Per size and program the median of `repeats` runs, in alternation (plain, default,
    default int8 (with `int8`: a bundle with its twin), beam, plain, ...): whole-process
    time and peak PSS; ratios to the plain loop."""
    env = dict(os.environ if env is None else env)
    out = os.path.join(work, "out", "small-runs")
    os.makedirs(out, exist_ok=True)
    rows = []
    for n in sizes:
        inp = sets[n] + "/"
        cmds = {
            "plain loop": _plain_cmd(inp, bundle, out),
            "default": _score_cmd(inp, bundle, out, []),
            "beam": _score_cmd(inp, bundle, out, ["--executor", "beam"]),
        }
        if int8:
            cmds["default int8"] = _score_cmd(inp, int8, out, ["--precision", "int8"])
        programs = [name for name in PROGRAMS if name in cmds]
        runs: dict = {name: [] for name in programs}
        for _ in range(repeats):
            for name in programs:
                runs[name].append(_measured(cmds[name], env))
        row = {"n": n, "runs": runs}
        for name in programs:
            walls = sorted(r["wall_s"] for r in runs[name])
            pss = sorted(r["peak_pss_mb"] for r in runs[name])
            row[name] = {"wall_s": walls[len(walls) // 2], "peak_pss_mb": pss[len(pss) // 2]}
        plain = row["plain loop"]["wall_s"]
        for name in programs[1:]:
            row[f"{name} x plain"] = row[name]["wall_s"] / plain
        loads = [x for name in programs for r in runs[name] for x in r["load"]]
        row["load"] = [min(loads), max(loads)]
        rows.append(row)
        said = ", ".join(
            f"{name} {row[name]['wall_s']:.2f} s ({row[f'{name} x plain']:.2f}x, "
            f"{row[name]['peak_pss_mb']:.0f} MB)"
            for name in programs[1:]
        )
        print(
            f"[small runs] n={n}: plain {plain:.2f} s, {said}, load "
            f"{row['load'][0]:.2f}-{row['load'][1]:.2f}",
            file=sys.stderr,
            flush=True,
        )
    return {"rows": rows, "repeats": repeats}


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
    """One line per size and program: time, x the plain loop, peak PSS, load."""
    lines = [
        "| images | program | whole process s (median) | x plain loop | peak PSS MB | load |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for r in result["rows"]:
        for name in PROGRAMS:
            if name not in r:
                continue
            ratio = "" if name == "plain loop" else f"{r[f'{name} x plain']:.2f}"
            lines.append(
                f"| {r['n']:,} | {name} | {r[name]['wall_s']:.2f} | {ratio} | "
                f"{r[name]['peak_pss_mb']:.0f} | {r['load'][0]:.2f}-{r['load'][1]:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.small_runs", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--sizes", default="60,1000,4000")
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
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = measure(
        sets, bundle, args.work, sizes, args.repeats, env, int8_bundle(bundle, args.work)
    )
    print(table(result))
    print(f"results: {save_results(args.out, 'small-runs', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
