"""`--incremental`: score only the images new or changed since the last completed run with
the same model version under the same output; the others keep their earlier rows.

The base run is found when the run is planned (run_folder/state.py: a pointer written after
`_SUCCESS`); in the graph the listing is joined with the base run's object index and rows
(transforms/carry_over.py, the rule in run_folder/carry_over.py). Carried rows have their
own sink (`predictions-carried-*`), summary part and report candidates: they never meet the
scored rows in a Flatten (docs/decisions.md, "No Flatten of prediction rows").
"""

from __future__ import annotations

from typing import Optional

from bucketscore.pipelines.flags import option

# A base run of up to this many images is held in each worker's memory (~1 KB an image) and
# looked up without a join: a small incremental run then costs what scoring its new images
# costs. Larger ones are joined (CoGroupByKey; docs/decisions.md, "Incremental runs in one
# process").
IN_MEMORY_BASE_IMAGES = 50_000

FLAG = option(
    "incremental",
    False,
    action="store_true",
    help="score only images new or changed (size, modification time) since the last "
    "completed run with the same model version under --output; the others keep "
    "their earlier predictions, and the summary covers the whole current set",
)


def check(config) -> None:
    """Nothing of the options alone: manifests (labels), embeddings and templates say what
    they cannot be combined with."""


def check_bundle(config, meta) -> None:
    """Nothing needs checking against the bundle."""


def base_run(config, model_version: str) -> tuple[Optional[str], str]:
    """(the run folder this run builds on or None, the line that says so) for an
    --incremental run; (None, "") otherwise."""
    if not config.incremental:
        return None, ""
    from bucketscore.run_folder.state import last_completed_run

    base = last_completed_run(config.output, model_version)
    if base and base.rstrip("/") == config.run_uri.rstrip("/"):
        return None, (
            "bucketscore: incremental: the last completed run is the run being "
            "replaced (same --run_id); scoring everything"
        )
    if base:
        return base, f"bucketscore: incremental: building on {base}"
    return None, (
        f"bucketscore: incremental: no completed run with model version "
        f"{model_version} under {config.output}; scoring everything"
    )


def carry_over_mode(base: Optional[str]) -> Optional[str]:
    """How the base run is matched: "memory" (looked up in each worker's memory) when it
    listed at most IN_MEMORY_BASE_IMAGES images, else "join"; None without a base run."""
    if not base:
        return None
    import json

    from bucketscore.run_folder import layout
    from bucketscore.storage import uris

    try:
        summary = json.loads(uris.read_text(layout.file_uri(base, layout.SUMMARY)))
        listed = int((summary.get("counts") or {}).get("listed"))
    except (OSError, ValueError, TypeError):
        return "join"  # its size unknown: the way that scales
    return "memory" if listed <= IN_MEMORY_BASE_IMAGES else "join"


def split(labelled, plan):
    """ListedImage -> (images to score, rows carried over or None without a base run)."""
    if not plan.base_run:
        return labelled, None
    from bucketscore.transforms.carry_over import CarryOverFromMemory, CarryOverUnchanged

    carry = CarryOverFromMemory if plan.carry_over == "memory" else CarryOverUnchanged
    return labelled | "CarryOverUnchanged" >> carry(plan.base_run)


def sinks(carried, plan) -> list:
    """The carried rows' own files, predictions-carried-*.csv|parquet."""
    if carried is None:
        return []
    from bucketscore.run_folder.layout import CARRIED_PREDICTIONS
    from bucketscore.transforms.sinks import WritePredictions

    return [
        carried
        | "WriteCarriedPredictions"
        >> WritePredictions(plan.target.run_uri, plan.shards, name=CARRIED_PREDICTIONS)
    ]


def summary_and_report_rows(rows, carried, plan, n: int):
    """(the summary over scored and carried rows, the rows report.html may show)."""
    from bucketscore.transforms.report_items import ReportCandidates
    from bucketscore.transforms.summarising import SummariseRows

    labels = plan.meta.labels
    scores = (rows, carried) | "Summarise" >> SummariseRows(labels)
    report_rows = (rows, carried) | "ReportCandidates" >> ReportCandidates(n, labels)
    return scores, report_rows


def count(carried, p):
    """How many rows were carried over (0 without a base run)."""
    import apache_beam as beam

    if carried is None:
        carried = p | "NothingCarried" >> beam.Create([])
    return carried | "CountCarried" >> beam.combiners.Count.Globally()
