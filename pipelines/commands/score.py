"""`bucketscore score`: score every image under prefixes or globs with a model bundle."""
from __future__ import annotations

import argparse
import sys
import textwrap

NAME = "score"
HELP = "score the images under one or more prefixes"
DESCRIPTION = "Score every image under the input prefixes or globs with a model bundle."
EPILOG = textwrap.dedent("""\
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
      bucketscore score --model gs://m/v2 --output gs://r/ --runner DataflowRunner \\
          --project P --region R --temp_location gs://t/tmp \\
          --template_location gs://t/templates/v2.json      # a classic template: input,
                                                            # output, run_id at launch

    Results go to <output>/<run_id>/: predictions*.csv, predictions*.parquet, errors.csv,
    summary.json, per_class.csv, confusion_matrix.csv, report.html, manifest.json, and
    _SUCCESS last. With --no_wait_until_finish (Dataflow) the command returns once the job
    is submitted.
    Exit status: 0 completed, 1 the run failed, 2 the command was wrong.""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.pipelines.options import add_score_arguments

    add_score_arguments(parser)
    parser.add_argument("--no_progress", action="store_true",
                        help="do not print progress (listed, scored, failed, rate, ETA) while "
                             "a DirectRunner run goes on")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.pipelines.launcher import start
    from bucketscore.pipelines.options import config_from_args
    from bucketscore.pipelines.validators import UsageError
    from bucketscore.run_folder.finish import FAILURE_MARK

    config = config_from_args(args, extra)
    building_template = not config.run_id  # --template_location: the run id comes at launch
    if building_template:
        print(f"bucketscore: building a classic template scoring with {config.model}")
    else:
        print(f"bucketscore: scoring {' '.join(config.inputs)} with {config.model}")
        print(f"bucketscore: run {config.run_id} -> {config.run_uri}")
    try:
        run_ = start(config, show_progress=not args.no_progress and _is_direct(extra), say=print)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - report any run failure in one clear message
        if building_template:
            print(f"bucketscore score: building the template failed: "
                  f"{failure_reason(e, FAILURE_MARK)}", file=sys.stderr)
            return 1
        print(f"bucketscore score: the run failed: {failure_reason(e, FAILURE_MARK)}",
              file=sys.stderr)
        print(f"bucketscore score: no _SUCCESS was written under {config.run_uri}",
              file=sys.stderr)
        return 1
    if run_.template:
        return 0  # built and staged; start() printed where and how to launch it
    if run_.submitted_only:
        print(f"bucketscore: submitted; the results will be under {config.run_uri} "
              f"(_SUCCESS when complete)")
        return 0
    summary = run_.summary()
    if summary is None:
        print(f"bucketscore score: the pipeline ended but wrote no summary under "
              f"{config.run_uri}", file=sys.stderr)
        return 1
    print(headline(summary, config.run_uri))
    return 0


def _is_direct(beam_args: list[str]) -> bool:
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner
    return runner in (None, "DirectRunner", "direct", "BundleBasedDirectRunner")


def failure_reason(e: BaseException, mark: str) -> str:
    """The one line that says why: our RunFailed message if present, else the last line."""
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
    top = summary.get("top_k_accuracy")
    lines = [
        f"images listed: {c['listed']}  scored: {c['scored']}  failed: {c['failed']}",
        f"accuracy: {acc_text}  (over {c.get('labelled', 0)} labelled images; "
        f"top-{summary.get('top_k', '')} accuracy: "
        + (f"{top:.4f}" if top is not None else "n/a") + ")",
        f"results: {run_uri}",
    ]
    lines.append(f"report:  {run_uri.rstrip('/')}/report.html")
    if c["failed"]:
        lines.append(f"errors:  {run_uri.rstrip('/')}/errors.csv")
    return "\n".join(lines)
