"""`bucketscore threshold`: from a finished run, what each confidence threshold keeps and how
accurate the kept images are; with --target_accuracy, the threshold to deploy."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from bucketscore.pipelines.validators import probability

NAME = "threshold"
HELP = "pick a confidence threshold from a finished run (coverage, accuracy, calibration)"
DESCRIPTION = (
    "Read a finished run's summary.json and show, for a few confidence thresholds, the "
    "share of labelled images kept (top-1 probability >= threshold) and the accuracy of "
    "the kept ones; the run's calibration error, suspect labels and duplicate images. "
    "With --target_accuracy A: the lowest threshold whose kept images reach accuracy A, "
    "and what it keeps."
)
EPILOG = textwrap.dedent("""\
    examples:
      bucketscore threshold results/20261124T101500Z-ab12cd --target_accuracy 0.99
      bucketscore threshold s3://r/nightly/ --json
    Exit status: 0 shown (and, with --target_accuracy, a threshold reaches it); 1 the run
    cannot be read or no threshold reaches the target; 2 the command was wrong.
    Every threshold (0.01 steps, 0.001 above 0.9) is in summary.json, threshold_evidence.
    Storage options (--s3_endpoint_url, --s3_access_key_id, ...) are accepted as for score.""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="the run folder <output>/<run_id>/")
    parser.add_argument(
        "--target_accuracy",
        type=probability,
        default=None,
        metavar="A",
        help="the accuracy the kept images must reach, e.g. 0.99",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.storage_flags import check_paths
    from bucketscore.run_folder.evidence_text import NoEvidence, evidence_lines, evidence_record
    from bucketscore.run_folder.history import RunHistoryError, check_prefix, read_json
    from bucketscore.run_folder.layout import SUMMARY
    from bucketscore.storage.preflight import Target

    if args.target_accuracy is not None and args.target_accuracy <= 0:
        print("bucketscore threshold: error: --target_accuracy must be above 0", file=sys.stderr)
        return 2
    check_paths([Target("RUN", args.run)], extra)
    try:
        prefix = check_prefix(args.run)
    except RunHistoryError as e:
        print(f"bucketscore threshold: {e}", file=sys.stderr)
        return 1
    summary = read_json(prefix + SUMMARY)
    if summary is None:
        print(
            f"bucketscore threshold: {prefix} has no readable summary.json (not a finished "
            f"run: `bucketscore runs --output <prefix>` lists the runs)",
            file=sys.stderr,
        )
        return 1
    try:
        record = evidence_record(summary, args.target_accuracy)
        lines = evidence_lines(summary, args.target_accuracy)
    except NoEvidence as e:
        print(f"bucketscore threshold: {prefix}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2) if args.json else "\n".join(lines))
    reached = args.target_accuracy is None or record["target"]["threshold"] is not None
    return 0 if reached else 1
