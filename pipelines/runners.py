"""Which runner a run goes to, decided once from its Beam flags, and the runner to build.

`runner_of(beam_args)` is the one answer to "is this a local run" and "is this a template
build" that the plan, the command line and the graph all read:

* local: the DirectRunner family runs on this machine (live progress, a worker plan for this
  machine's cores, `--device gpu` checked here);
* template: `--template_location` builds a classic Dataflow template instead of running.

`make_runner` gives the runner object for a local run: Beam's FnApiRunner built as the
DirectRunner builds it. Why not DirectRunner itself: docs/decisions.md, "The local runner".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from bucketscore.pipelines.beam_options import flag_value

DEFAULT_RUNNER = "DirectRunner"
# The DirectRunner family (lower case): they run the pipeline on this machine.
LOCAL_RUNNERS = ("directrunner", "direct", "switchingdirectrunner", "bundlebaseddirectrunner")
# Of those, the one that runs every bundle in this process and takes no worker flags.
IN_PROCESS_RUNNERS = ("bundlebaseddirectrunner",)
PORTABLE_RUNNERS = ("portablerunner", "flinkrunner", "sparkrunner", "prismrunner")


@dataclass(frozen=True)
class Runner:
    """The runner of a run, as its flags name it."""

    name: str  # as given with --runner (DirectRunner when none)
    template_location: Optional[str] = None  # --template_location: a classic template build

    @property
    def local(self) -> bool:
        """The pipeline runs on this machine (the DirectRunner family)."""
        return self.name.lower() in LOCAL_RUNNERS

    @property
    def in_process(self) -> bool:
        """A local runner that runs everything in this process (no worker processes)."""
        return self.name.lower() in IN_PROCESS_RUNNERS

    @property
    def template(self) -> bool:
        return bool(self.template_location)

    @property
    def dataflow(self) -> bool:
        return self.name.lower() in ("dataflowrunner", "dataflow")

    @property
    def kind(self) -> str:
        """local | portable | dataflow | other: how the run is described."""
        if self.local:
            return "local"
        if self.dataflow:
            return "dataflow"
        if self.name.lower() in PORTABLE_RUNNERS:
            return "portable"
        return "other"


def runner_of(beam_args: Sequence[str]) -> Runner:
    """The Runner these Beam flags name."""
    name = (flag_value(beam_args, "runner") or DEFAULT_RUNNER).strip() or DEFAULT_RUNNER
    return Runner(name, flag_value(beam_args, "template_location") or None)


def make_runner(runner: Runner, options):
    """Beam's FnApiRunner for a local run (built exactly as DirectRunner builds it: the
    pipeline options reach the worker processes, so --s3_* options do too), or None: then
    `beam.Pipeline` creates the runner --runner names (an in-process local runner too)."""
    if not runner.local or runner.in_process:
        return None
    from bucketscore.private_apis import fn_api_runner

    return fn_api_runner(options)
