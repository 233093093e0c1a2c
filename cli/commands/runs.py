"""`bucketscore runs`: the runs under a results prefix, newest first."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from bucketscore.pipelines.validators import positive_int

NAME = "runs"
HELP = "list the runs under a results prefix, newest first"
DESCRIPTION = (
    "List the runs under a results prefix (local folder, s3://, gs://), newest "
    "first: when each started, whether it completed (has _SUCCESS), its counts, "
    "accuracy and model version."
)
EPILOG = textwrap.dedent("""\
    STATUS is complete (_SUCCESS written), failed (the run stopped itself, e.g. too many
    errors; see its manifest.json) or incomplete (still running, or it died).

    examples:
      bucketscore runs --output results/
      bucketscore runs --output s3://my-results/ --limit 5
      bucketscore runs --output gs://my-results/nightly/ --json
    Storage options (--s3_endpoint_url, --s3_access_key_id, ...) are accepted as for score.""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        required=True,
        metavar="URI",
        help="the results prefix given to `score --output`",
    )
    parser.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="show only the N newest runs"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list (one object per run) instead of a table",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.storage_flags import check_paths
    from bucketscore.run_folder import history
    from bucketscore.storage.preflight import Target

    check_paths([Target("--output", args.output)], extra)
    try:
        records = history.list_runs(args.output, extra)
    except history.RunHistoryError as e:
        print(f"bucketscore runs: {e}", file=sys.stderr)
        return 1
    if not records and history.looks_like_run_folder(args.output, extra):
        message = history.run_folder_given_message(args.output, "bucketscore runs --output {}")
        print(f"bucketscore runs: {message}", file=sys.stderr)
        return 1
    if args.limit:
        records = records[: args.limit]
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    if not records:
        print(f"bucketscore runs: no runs under {args.output}", file=sys.stderr)
        return 0
    print(history.format_runs(records))
    return 0
