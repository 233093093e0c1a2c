"""`bucketscore compare`: two runs side by side, to decide if a new model may replace the old."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from bucketscore.pipelines.validators import non_negative_int, probability

NAME = "compare"
HELP = "compare two runs: accuracy and per-class deltas, changed predictions"
DESCRIPTION = (
    "Compare run B with run A (typically: the same images scored by an old and a "
    "new model): accuracy, top-k accuracy, macro F1 and per-class precision/recall/"
    "F1 with their deltas (B - A), over the images both runs scored, and every "
    "image whose prediction changed: fixed (B right, A wrong), broken (A right, B "
    "wrong) or changed."
)
EPILOG = textwrap.dedent("""\
    examples:
      bucketscore compare results/20261124T101500Z-ab12cd results/20261125T101500Z-ef34ab
      bucketscore compare s3://r/old-run/ s3://r/new-run/ --json > comparison.json
      bucketscore compare gs://r/v1/ gs://r/v2/ --max_accuracy_drop 0.005   # gate a release
    Exit status: 0 compared (and B is no worse than allowed); 1 a run cannot be read, or B's
    accuracy is lower than A's by more than --max_accuracy_drop; 2 the command was wrong.
    Storage options (--s3_endpoint_url, --s3_access_key_id, ...) are accepted as for score.""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_a", metavar="RUN_A", help="the reference run folder <output>/<run_id>/"
    )
    parser.add_argument("run_b", metavar="RUN_B", help="the candidate run folder")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the whole comparison as JSON (every changed image)",
    )
    parser.add_argument(
        "--show",
        type=non_negative_int,
        default=20,
        metavar="N",
        help="changed images listed in the text output (default 20)",
    )
    parser.add_argument(
        "--max_accuracy_drop",
        type=probability,
        default=None,
        metavar="D",
        help="exit 1 when B's accuracy (over the labelled images in both) is "
        "below A's by more than D, e.g. 0 or 0.005",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.storage_flags import check_paths
    from bucketscore.run_folder.comparison import compare_runs, format_comparison
    from bucketscore.run_folder.history import RunHistoryError
    from bucketscore.storage.preflight import Target

    check_paths([Target("RUN_A", args.run_a), Target("RUN_B", args.run_b)], extra)
    try:
        comparison = compare_runs(args.run_a, args.run_b, extra)
    except RunHistoryError as e:
        print(f"bucketscore compare: {e}", file=sys.stderr)
        return 1
    status = 0
    verdict = None
    if args.max_accuracy_drop is not None:
        delta = comparison["accuracy"]["delta"]
        if delta is None:
            verdict = "no labelled images in both runs: cannot check --max_accuracy_drop"
            status = 1
        elif delta < -args.max_accuracy_drop - 1e-12:
            verdict = (
                f"B is worse: accuracy {delta:+.4f} is below the allowed drop of "
                f"-{args.max_accuracy_drop}"
            )
            status = 1
        else:
            verdict = f"B passes: accuracy {delta:+.4f} (allowed drop {args.max_accuracy_drop})"
        comparison["verdict"] = {
            "passed": status == 0,
            "message": verdict,
            "max_accuracy_drop": args.max_accuracy_drop,
        }
    if args.json:
        print(json.dumps(comparison, indent=2))
    else:
        print(format_comparison(comparison, show=args.show))
        if verdict:
            print(f"\n{verdict}")
    if status and args.json:
        print(f"bucketscore compare: {verdict}", file=sys.stderr)
    return status
