"""The `bucketscore` command line.

Exit status: 0 the run completed; 1 the run failed; 2 the command was wrong.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from typing import Optional

# TensorFlow's C++ start-up chatter is noise on a command line; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipelines.options import UsageError  # noqa: E402


class _DropNoise(logging.Filter):
    """Beam's RunInference warns on every run that it cannot read memory usage: not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()

EPILOG_SCORE = textwrap.dedent("""\
    Any other --flag is passed to Beam as a pipeline option, for example:
      --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
      --direct_num_workers 2 --direct_running_mode multi_processing
      --s3_endpoint_url http://127.0.0.1:8333 --s3_access_key_id K --s3_secret_access_key S
    Unknown flags are refused.

    examples:
      bucketscore score --input demo_data/digits/ --model models/digits --output results/
      bucketscore score --input s3://my-images/2026-11/ --model s3://models/cartoons \\
          --output s3://my-results/ --labels 'regex:(.+)_pic_\\d+' --top_k 3
      bucketscore score --input gs://b/a/ gs://b/b/*.png --model gs://m/v2 \\
          --output gs://r/ --labels csv:gs://b/labels.csv --min_confidence 0.5

    Results go to <output>/<run_id>/: predictions*.csv, predictions*.parquet, errors.csv,
    summary.json, per_class.csv, confusion_matrix.csv, manifest.json, and _SUCCESS last.
    Exit status: 0 completed, 1 the run failed, 2 the command was wrong.""")


def _parser() -> argparse.ArgumentParser:
    from pipelines.options import add_score_arguments

    parser = argparse.ArgumentParser(
        prog="bucketscore",
        description="Score buckets of images with an image classifier, in batch, on Apache "
                    "Beam; write predictions, accuracy summaries and errors back.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              bucketscore demo                      # build the demo model and images
              bucketscore score --input demo_data/digits/ --model models/digits --output results/
              bucketscore download results/<run_id>/ results/
            Run `bucketscore COMMAND --help` for each command's options."""))
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's progress")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = sub.add_parser(
        "score", help="score the images under one or more prefixes",
        description="Score every image under the input prefixes or globs with a model bundle.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_SCORE)
    add_score_arguments(score)

    demo = sub.add_parser(
        "demo", help="train the demo model (digits) and write the demo images",
        description="Train a LeNet-style CNN on scikit-learn's handwritten digits and write "
                    "the held-out test split as PNG files, one folder per class. Skips what "
                    "already exists.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  bucketscore demo --model models/digits --data demo_data/digits")
    demo.add_argument("--model", default="models/digits", help="bundle to write")
    demo.add_argument("--data", default="demo_data/digits", help="folder for the test images")
    demo.add_argument("--force", action="store_true", help="retrain even if the bundle exists")

    download = sub.add_parser(
        "download", help="copy a run's CSV and JSON results to a local folder",
        description="Copy the CSV and JSON files of a run (any storage) to a local folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  bucketscore download s3://my-results/20261124T101500Z-ab12cd/ results/")
    download.add_argument("run", metavar="RUN_URI", help="the run folder <output>/<run_id>/")
    download.add_argument("dest", nargs="?", default="results",
                          help="local folder (default ./results); files go to DEST/<run_id>/")
    download.epilog += ("\nStorage options (--s3_endpoint_url, --s3_access_key_id, ...) are "
                        "accepted as for score.")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropNoise())
    if args.command is None:
        parser.print_help()
        return 2
    if rest and args.command not in ("score", "download"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "score":
            return _score(args, rest)
        if args.command == "demo":
            return _demo(args)
        if args.command == "download":
            return _download(args, rest)
    except UsageError as e:
        print(f"bucketscore {args.command}: error: {e}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _score(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.options import config_from_args
    from pipelines.score import start
    from transforms.sinks import FAILURE_MARK

    config = config_from_args(args, beam_args)
    print(f"bucketscore: scoring {' '.join(config.inputs)} with {config.model}")
    print(f"bucketscore: run {config.run_id} -> {config.run_uri}")
    try:
        run = start(config)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - report any run failure in one clear message
        print(f"bucketscore score: the run failed: {_failure_reason(e, FAILURE_MARK)}",
              file=sys.stderr)
        print(f"bucketscore score: no _SUCCESS was written under {config.run_uri}",
              file=sys.stderr)
        return 1
    summary = run.summary()
    if summary is None:
        print(f"bucketscore score: the pipeline ended but wrote no summary under "
              f"{config.run_uri}", file=sys.stderr)
        return 1
    print(headline(summary, config.run_uri))
    return 0


def _failure_reason(e: BaseException, mark: str) -> str:
    text = str(e)
    if mark in text:
        return text[text.index(mark) + len(mark):].strip().splitlines()[0]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"


def headline(summary: dict, run_uri: str) -> str:
    """The few figures people want first, and where the rest is."""
    c = summary["counts"]
    acc = summary.get("accuracy")
    acc_text = f"{acc:.4f}" if acc is not None else "n/a (no labelled images)"
    lines = [
        f"images listed: {c['listed']}  scored: {c['scored']}  failed: {c['failed']}",
        f"accuracy: {acc_text}  (over {c.get('labelled', 0)} labelled images; "
        f"top-{summary.get('top_k', '')} accuracy: "
        + (f"{summary['top_k_accuracy']:.4f}" if summary.get("top_k_accuracy") is not None
           else "n/a") + ")",
        f"results: {run_uri}",
    ]
    if c["failed"]:
        lines.append(f"errors:  {run_uri.rstrip('/')}/errors.csv")
    return "\n".join(lines)


def _demo(args: argparse.Namespace) -> int:
    from model_export.digits_demo import ensure_demo

    meta = ensure_demo(args.model, args.data, force=args.force)
    print(f"demo model: {os.path.abspath(args.model)} (version {meta.version}, "
          f"test accuracy {meta.metrics.get('test_accuracy', float('nan')):.4f})")
    print(f"demo images: {os.path.abspath(args.data)}")
    return 0


def _download(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.download import download_run
    from pipelines.options import unknown_beam_flags

    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)}")
    copied, dest = download_run(args.run, args.dest, beam_args)
    if not copied:
        print(f"bucketscore download: no CSV or JSON files under {args.run}", file=sys.stderr)
        return 1
    for name in copied:
        print(os.path.join(dest, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
