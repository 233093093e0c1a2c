"""Running a plan: verify the bundle, prepare the run folder, build the graph, run it.

`run(plan)` is everything after the decisions (pipelines/plan.py): every file of the bundle
is verified (a tampered or half-copied bundle fails here, in seconds), the run folder's
lease is taken (run_folder/lease.py: one writer per run folder; another live run's lease is
a UsageError naming it), a re-used run folder is cleared, the graph is built
(pipelines/graph.py) and run with the plan's worker environment and, for a local run, live
progress. The final Beam counters of a run the command waited for go into summary.json
(run_folder/finish.py: a local run is completed here, counters then `_SUCCESS`; a remote job
completed itself and gets them added). A template plan is built and staged instead
(pipelines/features/template.py). `say` receives the lines a person reads.

The lease is held, and renewed, for as long as this process is responsible for the folder:
to the end of a run the command waits for, success or failure. A job the command does not
wait for (--no_wait_until_finish) holds it only while the folder is cleared and the job
submitted: the launcher cannot renew it once it has returned, and a lease left behind would
only make the next launch wait for it to go stale. A template writes no lease: its job
prepares its own folder, long after the build.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from bucketscore.bundle.verified import fetch_verified
from bucketscore.errors import UsageError
from bucketscore.pipelines.beam_options import flag_value
from bucketscore.pipelines.features import template
from bucketscore.pipelines.workers import worker_environment
from bucketscore.run_folder import layout, lease
from bucketscore.run_folder.finish import add_counters, complete_run
from bucketscore.run_folder.layout import NotARunFolder, clear_run_folder
from bucketscore.storage import uris

Say = Callable[[str], None]


@dataclass
class ScoreRun:
    """A started (and, when the command waits, finished) run."""

    plan: object  # the RunPlan it ran
    result: object  # Beam's PipelineResult; None: the in-process executor ran it
    submitted_only: bool = False  # --no_wait_until_finish: the job runs on after we return
    template: Optional[str] = None  # --template_location: a template was built, nothing ran

    def summary(self) -> Optional[dict]:
        """summary.json as written by the run, or None if it has none."""
        path = layout.file_uri(self.plan.run_uri, layout.SUMMARY)
        if not uris.exists(path):
            return None
        return json.loads(uris.read_text(path))


def _quiet(_line: str) -> None:
    pass


class _NotNews(logging.Filter):
    """Beam's RunInference warns on every run, through the root logger, that it cannot read
    memory usage on this platform: not news to a person running bucketscore."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()


logging.getLogger().addFilter(_NotNews())


def pipeline_of(plan):
    """A Beam pipeline with the plan's options and runner (nothing is pickled from
    __main__: the code is a package, installed on workers by setup.py)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

    from bucketscore.pipelines.runners import make_runner
    from bucketscore.transforms import beam_without_torch

    options = PipelineOptions(list(plan.beam_args))
    if not any(f.startswith("--save_main_session") for f in plan.beam_args):
        options.view_as(SetupOptions).save_main_session = False
    # Every worker imports this first: Beam's RunInference then does not import torch
    # (transforms/beam_without_torch.py).
    setup = options.view_as(SetupOptions)
    setup.beam_plugins = sorted(set(setup.beam_plugins or []) | {beam_without_torch.PLUGIN})
    return beam.Pipeline(runner=make_runner(plan.runner, options), options=options)


def run(plan, show_progress: bool = False, say: Say = _quiet) -> ScoreRun:
    """Run `plan`; returns when it finished (or, not waiting, once it is submitted)."""
    # Every digest, before anything runs (workers verify again when they load the bundle).
    fetch_verified(plan.config.model)
    if plan.runner.template:
        return build_template(plan, say)
    try:
        held = lease.take(plan.run_uri)
    except lease.LeaseHeld as e:
        raise UsageError(str(e)) from None
    if held.takeover:
        print(f"bucketscore: {plan.run_uri}: {held.takeover}", file=sys.stderr)
    held.start_renewing()
    try:
        return _run_holding(plan, held, show_progress)
    finally:
        held.release()  # success or failure: the folder is free for the next run


def _run_holding(plan, held: "lease.Lease", show_progress: bool) -> ScoreRun:
    """run() once the lease `held` is taken: clear, build, run, complete."""
    try:
        clear_run_folder(plan.run_uri)  # a re-run replaces a run completely
    except NotARunFolder as e:
        raise UsageError(str(e)) from None
    if plan.inline:
        return _run_inline(plan, held, show_progress)
    from bucketscore.pipelines.graph import build_pipeline
    from bucketscore.transforms.counters import beam_counters

    p = pipeline_of(plan)
    build_pipeline(p, plan)
    with worker_environment(plan.workers):
        if not plan.waits:
            return ScoreRun(plan, p.run(), submitted_only=True)
        try:
            if show_progress:
                from bucketscore.pipelines.progress import ProgressPrinter

                with ProgressPrinter() as printer:
                    result = p.run()
                    result.wait_until_finish()
                    counters = beam_counters(result)
                    printer.finish(counters)  # the last line: the true totals
            else:
                result = p.run()
                result.wait_until_finish()
                counters = beam_counters(result)
        except Exception:
            # A failed run leaves no temporary folders of Beam's sinks behind (a killed one:
            # the next run with this id clears them).
            layout.remove_temp(plan.run_uri)
            raise
    if held.lost:  # another launch cleared and wrote this folder too: nothing to vouch for
        raise RuntimeError(f"{held.lost}; no _SUCCESS written")
    if plan.completes_after_run:
        complete_run(plan.info, counters)
    else:
        add_counters(plan.info, counters)
    return ScoreRun(plan, result)


def _run_inline(plan, held: "lease.Lease", show_progress: bool) -> ScoreRun:
    """_run_holding for the in-process executor (pipelines/inline_run.py): the same
    environment, progress and completion as a local Beam run."""
    from bucketscore.pipelines.inline_run import run_inline
    from bucketscore.transforms import counters as board

    board.reset()
    with worker_environment(plan.workers):
        if show_progress:
            from bucketscore.pipelines.progress import ProgressPrinter

            with ProgressPrinter() as printer:
                counters = run_inline(plan)
                printer.finish(counters)
        else:
            counters = run_inline(plan)
    if held.lost:
        raise RuntimeError(f"{held.lost}; no _SUCCESS written")
    complete_run(plan.info, counters)
    return ScoreRun(plan, None)


def build_template(plan, say: Say = _quiet) -> ScoreRun:
    """Build and stage a classic template: input, output and run id are launch parameters,
    the run folder is prepared in the job; writes `<template>_metadata` beside it."""
    from bucketscore.pipelines.graph import build_pipeline

    p = pipeline_of(plan)
    build_pipeline(p, plan)
    result = p.run()  # with --template_location: stages the graph, starts no job
    location = plan.runner.template_location
    metadata_uri = template.write_metadata(location, template.metadata(plan.config, plan.meta.name))
    say(f"bucketscore: template written to {location} (parameters: {metadata_uri})")
    say(template.launch_hint(location, plan.config, flag_value(plan.beam_args, "region")))
    return ScoreRun(plan, result, submitted_only=True, template=location)
