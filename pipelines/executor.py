"""Which executor runs a run: Beam (the graph of pipelines/graph.py, on any runner) or the
in-process executor (pipelines/inline_run.py: this process, no Beam), decided once, by the
plan, from the options and what the plan found.

`--executor auto` (the default) runs a local run in process unless it needs Beam:

* another runner than the local DirectRunner (Dataflow, Flink, Spark, a portable job
  service, Beam's in-process BundleBasedDirectRunner), or a classic template build;
* `--no_wait_until_finish` (a job that outlives the command);
* `--direct_num_workers` / `--direct_running_mode` (the user chose Beam's local workers);
* `--incremental` with a base run of more than IN_MEMORY_BASE_IMAGES images (its rows are
  joined in the graph; a smaller one is held in memory, in process too);
* inference on a GPU (worker processes decode for one shared model: `--model_copies`).

`--executor inline` insists (a run that needs Beam is refused, with the reason);
`--executor beam` builds the graph for a local run too. Both give the same run folder
(tests/pipelines/test_inline_run.py); why the default: docs/decisions.md ("Small and medium
runs without Beam").
"""

from __future__ import annotations

from typing import Optional, Sequence

from bucketscore.errors import UsageError
from bucketscore.pipelines.flags import option
from bucketscore.pipelines.runners import Runner
from bucketscore.pipelines.workers import user_chose_workers

EXECUTORS = ("auto", "inline", "beam")
INLINE, BEAM = "inline", "beam"

FLAG = option(
    "executor",
    "auto",
    choices=EXECUTORS,
    help="what runs a run on this machine: auto (default) = this process, without Beam "
    "(seconds faster to start and finish, less memory, the same results) unless the run "
    "needs Beam (another runner, a template, --no_wait_until_finish, --direct_num_workers, "
    "--incremental with a base run of more than 50,000 images, a GPU); inline = insist on "
    "it; beam = Beam's local runner",
)


def no_wait(beam_args: Sequence[str]) -> bool:
    """--no_wait_until_finish is among the Beam flags (read without loading Beam)."""
    return any(a.split("=", 1)[0] == "--no_wait_until_finish" for a in beam_args)


def needs_beam(
    runner: Runner, beam_args: Sequence[str], *, carry_over: Optional[str], device: str
) -> Optional[str]:
    """Why this run needs Beam, or None when the in-process executor can run it."""
    if runner.template:
        return "a classic template is a Beam graph"
    if not runner.local:
        return f"--runner {runner.name} runs a Beam graph"
    if runner.in_process:
        return f"--runner {runner.name} is Beam's in-process runner"
    if no_wait(beam_args):
        return "--no_wait_until_finish submits a Beam job"
    if user_chose_workers(beam_args):
        return "--direct_num_workers / --direct_running_mode choose Beam's local workers"
    if carry_over == "join":
        return (
            "--incremental with a base run too large to hold in memory joins its rows in "
            "the Beam graph"
        )
    if device == "gpu":
        return "inference on a GPU is fed by Beam's worker processes"
    return None


def choose(
    chosen: str, runner: Runner, beam_args: Sequence[str], *, carry_over: Optional[str], device: str
) -> str:
    """INLINE or BEAM for `--executor chosen`; UsageError when `inline` cannot be."""
    if chosen == BEAM:
        return BEAM
    why = needs_beam(runner, beam_args, carry_over=carry_over, device=device)
    if why is None:
        return INLINE
    if chosen == INLINE:
        raise UsageError(f"--executor inline: {why}; use --executor auto or beam")
    return BEAM
