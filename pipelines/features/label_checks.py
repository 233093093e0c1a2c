"""Suspect labels and duplicate images (on by default; `--no_label_checks` turns both
off): after scoring, the rows are judged against per-class thresholds
(transforms/suspect_labels.py) and grouped by the hash of their bytes
(transforms/duplicates.py); the finishing step writes suspect_labels.csv and
duplicates.csv. `--max_suspects` caps the rows of suspect_labels.csv (the count in
summary.json covers all). `--target_accuracy A` prints the lowest confidence threshold that
reaches accuracy A on the run (run_folder/thresholds.py) and records it in summary.json.

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


def find(rows, carried, scores, plan, shown: int):
    """(scored rows, carried rows or None, the summary) -> ONE {"suspects", "duplicates"}
    element for the finishing step, or None with --no_label_checks. `shown`: suspects
    given a thumbnail for report.html."""
    if plan.config.no_label_checks:
        return None
    import apache_beam as beam

    from bucketscore.transforms.duplicates import FindDuplicates
    from bucketscore.transforms.suspect_labels import FindSuspects

    row_sets = (rows,) if carried is None else (rows, carried)
    suspects = (*row_sets, scores) | "FindSuspects" >> FindSuspects(
        plan.config.max_suspects, shown=shown
    )
    duplicates = row_sets | "FindDuplicates" >> FindDuplicates()
    return (
        rows.pipeline
        | "LabelChecksOnce" >> beam.Create([None])
        | "LabelChecks"
        >> beam.Map(
            lambda _, suspects, duplicates: {"suspects": suspects, "duplicates": duplicates},
            suspects=beam.pvalue.AsSingleton(suspects),
            duplicates=beam.pvalue.AsSingleton(duplicates),
        )
    )


def describe(plan) -> str:
    if plan.config.no_label_checks:
        return "off (--no_label_checks)"
    return f"suspect_labels.csv (up to {plan.config.max_suspects:,} rows), duplicates.csv"
