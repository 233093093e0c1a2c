"""`bucketscore download`: copy a run's CSV and JSON results to a local folder."""

from __future__ import annotations

import argparse
import os
import sys

NAME = "download"
HELP = "copy a run's CSV, JSON and report files to a local folder"
DESCRIPTION = (
    "Copy the CSV and JSON files and report.html of a run (any storage) to a local folder "
    "(./downloads/<run_id>/ by default: apart from results/, where local runs are written)."
)
EPILOG = (
    "examples:\n  bucketscore download s3://my-results/20261124T101500Z-ab12cd/ ~/runs/"
    "\n  bucketscore download gs://my-results/nightly/nightly-20261201/   # to ./downloads/"
    "\nStorage options (--s3_endpoint_url, --s3_access_key_id, ...) are accepted as for "
    "score."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_URI", help="the run folder <output>/<run_id>/")
    parser.add_argument(
        "dest",
        nargs="?",
        default="downloads",
        help="local folder (default ./downloads); files go to DEST/<run_id>/",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.storage_flags import check_paths
    from bucketscore.run_folder.download import download_run
    from bucketscore.storage.preflight import Target

    check_paths([Target("RUN_URI", args.run)], extra)
    copied, dest = download_run(args.run, args.dest, extra)
    if not copied:
        print(f"bucketscore download: no CSV or JSON files under {args.run}", file=sys.stderr)
        return 1
    for name in copied:
        print(os.path.join(dest, name))
    return 0
