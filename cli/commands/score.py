"""`bucketscore score`: score every image under prefixes or globs with a model bundle."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap

NAME = "score"
HELP = "score the images under one or more prefixes"
DESCRIPTION = "Score every image under the input prefixes or globs with a model bundle."
EPILOG = textwrap.dedent("""\
    On this machine a run goes in this process, without Beam (the same results; --executor
    beam for Beam's local runner). Any other --flag is passed to Beam as a pipeline option,
    for example:
      --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
      --direct_num_workers 2 --direct_running_mode multi_processing   # Beam's local workers
      --s3_endpoint_url http://127.0.0.1:8333 --s3_region_name us-east-1
    Unknown flags are refused. Credentials: prefer AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), GOOGLE_APPLICATION_CREDENTIALS for gs://; the
    flags --s3_access_key_id/--s3_secret_access_key work too and are redacted (***).
    Paths are checked before anything runs (form, local inputs, one request per bucket):
    a bad path, wrong keys, a missing bucket or an unreachable endpoint is exit 2 in seconds.

    examples:
      bucketscore score --input demo_data/digits/ --model models/digits --output results/
      bucketscore score --input s3://my-images/2026-11/ --model s3://models/cartoons \\
          --output s3://my-results/ --labels 'regex:(.+)_pic_\\d+' --top_k 3
      bucketscore score --input gs://b/a/ gs://b/b/*.png --model gs://m/v2 \\
          --output gs://r/ --labels csv:gs://b/labels.csv --min_confidence 0.5
      bucketscore score --model gs://m/v2 --output gs://r/ --runner DataflowRunner \\
          --project P --region R --temp_location gs://t/tmp \\
          --template_location gs://t/templates/v2.json      # a classic template: input,
                                                            # output, run_id at launch
      bucketscore score --input manifest:s3://lists/audit.jsonl --labels manifest \\
          --model s3://m/v2 --output s3://r/                # the images a manifest names
      bucketscore score --input s3://b/cats/001.jpg --model models/digits --output r/
      bucketscore score --input s3://b/images/ --model s3://m/v2 --output s3://r/ \\
          --runner PortableRunner --job_endpoint localhost:8099 \\
          --environment_type EXTERNAL --environment_config localhost:50000
      bucketscore score --input s3://b/2026-11/ --model s3://m/v2 --output s3://r/ \\
          --incremental --plan                      # what it would do; nothing runs
      bucketscore score --input /data/labelled/ --model models/digits --output results/ \\
          --target_accuracy 0.99        # also: the threshold that keeps 99% accuracy

    Results go to <output>/<run_id>/: predictions*.csv, predictions*.parquet, errors.csv,
    summary.json, per_class.csv, confusion_matrix.csv, suspect_labels.csv, duplicates.csv,
    report.html, manifest.json, and _SUCCESS last. With --no_wait_until_finish (Dataflow)
    the command returns once the job is submitted.
    Exit status: 0 completed, 1 the run failed, 2 the command was wrong (or another
    run with the same --run_id is still writing its folder: the line names it).""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.pipelines.options import add_score_arguments

    parser.usage = (
        "bucketscore score --input URI [URI ...] --output URI --model URI [options]\n"
        "       bucketscore score --model URI --template_location URI --runner DataflowRunner "
        "[options]"
    )
    add_score_arguments(parser)
    parser.add_argument(
        "--no_progress",
        action="store_true",
        help="do not print progress (listed, scored, failed, rate, ETA) while a local run goes on",
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print what the run would do (inputs and their image count, "
        "model and version, backend, device, batch size, workers, output "
        "folder, the base of an incremental run) and exit without "
        "running or writing anything",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli.failures import cause_line
    from bucketscore.cli.run_log import capture
    from bucketscore.errors import UsageError
    from bucketscore.pipelines.options import config_from_args
    from bucketscore.pipelines.plan import plan as plan_run
    from bucketscore.pipelines.run import run as run_plan

    config = config_from_args(args, extra)
    plan = plan_run(config, count=args.plan)  # paths, bundle, every decision: seconds
    if args.plan:
        print("\n".join(plan.describe()))
        return 0
    for line in plan.start_lines():
        print(line)
    building_template = plan.runner.template
    verbose = bool(getattr(args, "verbose", False))
    with capture(config.run_id or "template-build", enabled=not verbose) as log:
        try:
            run_ = run_plan(
                plan, show_progress=not args.no_progress and plan.runner.local, say=print
            )
        except UsageError:
            raise
        except Exception as e:
            what = "building the template failed" if building_template else "the run failed"
            print(f"bucketscore score: {what}: {cause_line(e)}", file=sys.stderr)
            if not building_template:
                print(
                    f"bucketscore score: no _SUCCESS was written under {config.run_uri}",
                    file=sys.stderr,
                )
            if log.path:
                print(f"bucketscore score: details: {log.path}", file=sys.stderr)
                logging.getLogger(__name__).error("the run failed", exc_info=e)
            return 1
    if run_.template:
        return 0  # built and staged; the run printed where and how to launch it
    if run_.submitted_only:
        print(
            f"bucketscore: submitted; the results will be under {config.run_uri} "
            f"(_SUCCESS when complete)"
        )
        return 0
    summary = run_.summary()
    if summary is None:
        print(
            f"bucketscore score: the pipeline ended but wrote no summary under {config.run_uri}",
            file=sys.stderr,
        )
        return 1
    print(headline(summary, config.run_uri))
    return 0


def headline(summary: dict, run_uri: str) -> str:
    """The few figures people want first, and where the rest is."""
    from bucketscore.run_folder.summary import scored_text, selection_text

    chosen = selection_text(summary.get("selection"))
    listed = f"selected: {chosen}" if chosen else f"listed: {summary['counts']['listed']}"
    c = summary["counts"]
    acc = summary.get("accuracy")
    if acc is not None:
        acc_text = f"{acc:.4f}"
    elif c.get("unknown_label"):
        acc_text = "n/a (no image has a label this model knows: see the warning below)"
    else:
        acc_text = "n/a (no labelled images)"
    top = summary.get("top_k_accuracy")
    lines = [
        f"images {listed}  scored: {scored_text(c['scored'], c.get('carried_over'))}"
        f"  failed: {c['failed']}",
        f"accuracy: {acc_text}  (over {c.get('labelled', 0)} labelled images; "
        f"top-{summary.get('top_k', '')} accuracy: "
        + (f"{top:.4f}" if top is not None else "n/a")
        + ")",
        f"results: {run_uri}",
    ]
    below = c.get("below_threshold") or 0
    if below:
        lines.insert(
            2,
            f"below --min_confidence: {below} of {c['scored']} images "
            f"({below / max(c['scored'], 1):.1%}) got no predicted label (they count as misses)",
        )
    lines.append(f"report:  {run_uri.rstrip('/')}/report.html")
    if c["failed"]:
        lines.append(f"errors:  {run_uri.rstrip('/')}/errors.csv")
    shift = summary.get("drift")
    if shift:
        lines.append(
            f"drift:   total variation {shift['total_variation']:.4f} of the predicted "
            f"classes since run {shift.get('previous_run_id') or shift['previous_run']}"
        )
    lines += _acting_lines(summary, run_uri)
    lines += [f"warning: {w}" for w in summary.get("warnings") or []]
    return "\n".join(lines)


def _acting_lines(summary: dict, run_uri: str) -> list[str]:
    """The target threshold, calibration, suspect labels and duplicates, when there are."""
    from bucketscore.run_folder.calibration import described

    lines = []
    target = summary.get("target_accuracy")
    if target:
        lines.append(f"threshold: {target['text']}")
    if (summary.get("calibration") or {}).get("ece") is not None:
        lines.append(f"calibration: {described(summary['calibration'])}")
    run = run_uri.rstrip("/")
    suspects = summary.get("suspect_labels")
    if suspects and suspects["count"]:
        lines.append(f"suspect labels: {suspects['count']}  ({run}/suspect_labels.csv)")
    duplicates = summary.get("duplicates")
    if duplicates and duplicates["groups"]:
        lines.append(
            f"duplicates: {duplicates['images']} images in {duplicates['groups']} groups of "
            f"identical bytes  ({run}/duplicates.csv)"
        )
    return lines
