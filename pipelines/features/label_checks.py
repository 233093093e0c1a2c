"""Suspect labels and duplicate images (on by default; `--no_label_checks` turns both
off): once the rows are written, they are read back and judged against per-class
thresholds, and those whose hash may repeat are grouped by it (transforms/label_checks.py);
the finishing step writes suspect_labels.csv and duplicates.csv. `--max_suspects` caps
the rows of suspect_labels.csv (the count in summary.json covers all). `--target_accuracy
A` prints the lowest confidence threshold that reaches accuracy A on the run
(run_folder/thresholds.py) and records it in summary.json.

(Beam and the stages are imported where the graph is built: declaring the flags must not
load them.)
"""

from __future__ import annotations

from bucketscore.errors import UsageError
from bucketscore.pipelines.flags import option
from bucketscore.pipelines.validators import positive_int, probability
from bucketscore.run_folder.suspects import DEFAULT_MAX_SUSPECTS

NO_LABEL_CHECKS = option(
    "no_label_checks",
    False,
    action="store_true",
    help="do not look for suspect labels and duplicate images (no suspect_labels.csv, "
    "duplicates.csv)",
)
MAX_SUSPECTS = option(
    "max_suspects",
    DEFAULT_MAX_SUSPECTS,
    type=positive_int,
    metavar="N",
    help="rows kept in suspect_labels.csv, largest margin first (default "
    f"{DEFAULT_MAX_SUSPECTS:,}; summary.json counts every suspect)",
)
TARGET_ACCURACY = option(
    "target_accuracy",
    None,
    type=probability,
    metavar="A",
    help="print (and record in summary.json) the lowest confidence threshold whose kept "
    "images reach accuracy A on this run, and the share of images it keeps, e.g. 0.99",
)


def check(config) -> None:
    """The options alone."""
    if config.target_accuracy is not None and config.target_accuracy <= 0:
        raise UsageError("--target_accuracy must be above 0 (a share, e.g. 0.99)")


def check_bundle(config, meta) -> None:
    """Nothing in model.json decides these."""


def find(prediction_files, row_sets, scores, plan, shown: int):
    """(the prediction sinks' file names (a PCollection each: scored, carried), the rows
    they hold (for the hash sketch), the summary) -> ONE {"suspects", "duplicates"}
    element for the finishing step, or None with --no_label_checks. `shown`: suspects
    given a thumbnail for report.html."""
    if plan.config.no_label_checks:
        return None
    import apache_beam as beam

    from bucketscore.transforms.duplicates import SketchHashes
    from bucketscore.transforms.label_checks import CheckWrittenRows

    sketch = tuple(row_sets) | "SketchHashes" >> SketchHashes()
    files = tuple(prediction_files) | "PredictionFiles" >> beam.Flatten()
    return (files, scores, sketch) | "LabelChecks" >> CheckWrittenRows(
        plan.config.max_suspects, shown=shown
    )


def describe(plan) -> str:
    if plan.config.no_label_checks:
        return "off (--no_label_checks)"
    return f"suspect_labels.csv (up to {plan.config.max_suspects:,} rows), duplicates.csv"
