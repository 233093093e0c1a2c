"""The program `make bench-listing` measures: bucketscore's listing stage alone, counted.

    python -m benchmarks.listing_pipeline --input URI --rounds R --result FILE [Beam flags]

Runs `ListImages([URI], rounds=R) | Count.Globally()` on the runner `bucketscore score`
uses on this machine (Beam's FnApiRunner, `--direct_num_workers` worker processes) and
writes `{"listed": count, "seconds": time from run() to the end}` to FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _write(count: int, path: str) -> None:
    with open(path, "w") as f:
        f.write(str(count))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--workers", type=int, default=2)
    args, beam_args = ap.parse_known_args(argv)

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from bucketscore.pipelines.runners import make_runner, runner_of
    from bucketscore.storage import uris
    from bucketscore.transforms.listing import ListImages

    options = PipelineOptions(
        beam_args
        + [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
    )
    uris.set_options(options)
    p = beam.Pipeline(runner=make_runner(runner_of(beam_args), options), options=options)
    count_file = args.result + ".count"
    (
        p
        | "ListImages" >> ListImages([args.input], rounds=args.rounds)
        | "Count" >> beam.combiners.Count.Globally()
        | "Write" >> beam.Map(_write, count_file)
    )
    started = time.perf_counter()
    p.run().wait_until_finish()
    seconds = time.perf_counter() - started
    with open(count_file) as f:
        listed = int(f.read())
    with open(args.result, "w") as f:
        json.dump({"listed": listed, "seconds": seconds}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
