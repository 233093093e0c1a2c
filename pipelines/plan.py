"""A run decided once: `plan(config) -> RunPlan`, an immutable value that building the graph
and running it only read.

Planning checks what needs storage (the paths: storage.preflight; the bundle's model.json;
a labels CSV), then decides, each once: the runner (local, portable, Dataflow, a template
build), the backend, device and batch size (pipelines/inference_plan.py), the incremental
base run (pipelines/features/incremental.py), how many images there are when that decides
the worker plan (a small run is done in one process), the worker plan
(pipelines/workers.py), the run folder or a template's launch values, and what the finishing
step records (run_folder.finish.RunInfo). Nothing is written: `bucketscore score --plan`
prints a plan and exits. Tests of "what will this run do" call `plan()` without Beam running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from bucketscore.bundle.meta import BundleError, BundleMeta, read_meta
from bucketscore.bundle.verified import check_version
from bucketscore.errors import UsageError
from bucketscore.pipelines import executor
from bucketscore.pipelines.features import FEATURES, incremental, label_checks, labels, template
from bucketscore.pipelines.inference_plan import InferencePlan, plan_inference
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.pipelines.runners import Runner
from bucketscore.pipelines.version import code_version
from bucketscore.pipelines.workers import (
    SMALL_RUN_IMAGES,
    WorkerPlan,
    plan_workers,
    user_chose_workers,
)
from bucketscore.run_folder.finish import RunInfo
from bucketscore.run_folder.layout import now_iso
from bucketscore.storage import manifests, preflight, uris
from bucketscore.storage.listing import count_images


@dataclass(frozen=True)
class RunPlan:
    """Everything a run will do, decided before anything runs."""

    config: ScoreConfig  # the options, validated
    runner: Runner
    meta: BundleMeta  # the bundle's model.json (its version is its content digest)
    inference: InferencePlan
    workers: WorkerPlan
    top_k: int  # --top_k, at most the model's number of labels
    images: Optional[int]  # counted up to SMALL_RUN_IMAGES; None: more, or not counted
    counted: bool  # the images were counted (images None: there are more)
    base_run: Optional[str]  # the completed run an --incremental run builds on
    carry_over: Optional[str]  # how the base run is matched: memory | join (None: no base)
    executor: str  # inline (this process, pipelines/inline_run.py) | beam (pipelines/graph.py)
    # transforms.launch_values.RunTarget (Beam) or InlineTarget: inputs, output, run id, folder
    target: Any
    info: RunInfo  # what the finishing step records
    beam_args: tuple[str, ...]  # the user's Beam flags and what the plan added
    waits: bool  # the command waits for the run to finish (not --no_wait_until_finish)
    notes: tuple[str, ...] = ()  # lines a person reads at start (incremental base, ...)

    @property
    def inline(self) -> bool:
        """The in-process executor runs it (no Beam)."""
        return self.executor == executor.INLINE

    @property
    def completes_after_run(self) -> bool:
        """The command completes the run (final counters, then `_SUCCESS`) once the pipeline
        ended: a local run it waits for. A remote job completes itself in its last step, so
        that it outlives a launcher that stops waiting (run_folder/finish.py)."""
        return self.waits and self.runner.local

    @property
    def shards(self) -> int:
        """Files each table is written as: 1 for a small run or one run in process, 0 = as
        the runner likes."""
        return 1 if self.workers.small or self.inline else 0

    @property
    def run_uri(self) -> str:
        """The run folder (empty for a template build: known at each launch)."""
        return "" if self.runner.template else self.config.run_uri

    @property
    def inputs(self):
        """What the listing reads: the inputs as given (manifest: ones included), or a
        template's launch parameter."""
        return self.target.inputs if self.runner.template else list(self.config.inputs)

    def start_lines(self) -> list[str]:
        """What a run says when it starts (the command line prints them)."""
        c = self.config
        if self.runner.template:
            lines = [f"bucketscore: building a classic template scoring with {c.model}"]
        else:
            lines = [
                f"bucketscore: scoring {' '.join(c.inputs)} with {c.model}",
                f"bucketscore: run {c.run_id} -> {c.run_uri}",
            ]
        lines += list(self.notes)
        lines.append(self.inference.describe())
        if self.inference.warning:
            lines.append(f"bucketscore: WARNING: {self.inference.warning}")
        if not self.runner.template:
            lines.append(self.workers.describe())
        return lines

    def _runner_text(self) -> str:
        r = self.runner
        if r.template:
            return f"{r.name}: a classic template written to {r.template_location}"
        if r.local:
            return self.workers.describe().removeprefix("bucketscore: ") + " on this machine"
        return f"{r.name} ({r.kind}): workers managed by the runner"

    def describe(self) -> list[str]:
        """`bucketscore score --plan`: the whole plan, one aspect a line."""
        c, m, i = self.config, self.meta, self.inference
        if not self.counted:
            count = "not counted"
        elif self.images is None:
            count = f"more than {SMALL_RUN_IMAGES:,} (counting stopped there)"
        else:
            count = f"{self.images:,}"
        rows = [
            ("inputs", " ".join(c.inputs) or "(given at launch)"),
            ("images", count),
            ("labels", labels.describe(self)),
            (
                "model",
                f"{c.model}: {m.name}, version {m.version}, {len(m.labels)} labels, "
                f"input {m.input.height}x{m.input.width}x{m.input.channels} "
                f"({m.input.resize}, {m.input.interpolation})",
            ),
            (
                "inference",
                i.describe().removeprefix("bucketscore: inference: ")
                + f"; top {self.top_k} kept"
                + (f"; {i.model_copies} model copies shared per machine" if i.model_copies else ""),
            ),
            ("runner", self._runner_text()),
        ]
        if self.runner.template:
            rows.append(
                (
                    "output",
                    (c.output or "(given at launch)")
                    + "/<run_id>/, input, output and run_id given at each launch",
                )
            )
        else:
            rows.append(("output", f"{c.run_uri} (run id {c.run_id})"))
        if c.incremental:
            how = {"memory": "held in memory", "join": "joined with the listing"}
            rows.append(
                (
                    "incremental",
                    f"builds on {self.base_run} ({how[self.carry_over]})"
                    if self.base_run
                    else "no completed run to build on: scores everything",
                )
            )
        if c.embeddings:
            rows.append(("embeddings", "embeddings*.parquet"))
        rows.append(("label checks", label_checks.describe(self)))
        if c.target_accuracy is not None:
            rows.append(("target", f"the lowest threshold reaching accuracy {c.target_accuracy}"))
        if i.warning:
            rows.append(("warning", i.warning))
        width = max(len(k) for k, _v in rows)
        return [
            "bucketscore: the plan of this run (nothing was run or written; without --plan it runs)"
        ] + [f"  {k:<{width}}  {v}" for k, v in rows]


@dataclass(frozen=True)
class InlineTarget:
    """Where a run of the in-process executor reads and writes (plain values: no launch
    values, no Beam)."""

    inputs: tuple[str, ...]
    output: str
    run_id: str
    run_uri: str


def _needs_count(config: ScoreConfig, chosen: str) -> bool:
    """The image count decides the worker plan of a local Beam run whose workers the user
    did not choose (a small run is done in one process)."""
    runner = config.runner
    return (
        chosen == executor.BEAM
        and runner.local
        and not runner.in_process
        and not user_chose_workers(config.beam_args)
    )


def score_targets(config: ScoreConfig) -> list[preflight.Target]:
    """The paths of a run, for preflight: inputs must exist (in a bucket: hold something,
    unless --allow_empty), a manifest must be that very object; the output, the model and a
    labels CSV must be reachable (the bundle itself is read next)."""
    out = []
    for uri in config.inputs:
        if manifests.is_manifest(uri):
            out.append(
                preflight.Target(
                    "--input", manifests.target(uri), must_exist=True, exact=True, shown=uri
                )
            )
        else:
            out.append(
                preflight.Target(
                    "--input", uri, must_exist=not config.allow_empty or not uris.is_remote(uri)
                )
            )
    out.append(preflight.Target("--output", config.output))
    out.append(preflight.Target("--model", config.model))
    return out + labels.targets(config)


def read_bundle_meta(model: str) -> BundleMeta:
    """The bundle's model.json, its version checked against its file digests (every file
    is verified when the run starts: pipelines/run.py)."""
    try:
        meta = read_meta(model)
        check_version(model, meta)
    except BundleError as e:
        raise UsageError(str(e)) from None
    return meta


def plan(config: ScoreConfig, *, count: bool = False) -> RunPlan:
    """Decide the run of `config` (raises UsageError on the first problem). `count`: count
    the images (up to SMALL_RUN_IMAGES) even when the worker plan does not need it, to show
    them (`--plan`)."""
    runner = config.runner
    # This process's storage: the run's S3/GCS options and retry budget (the worker
    # processes get theirs from the pipeline options and their DoFns' setup). Beam's S3
    # filesystem is set up only where a path is in a bucket (local runs load no Beam).
    uris.set_options(list(config.beam_args))
    uris.prepare_process(config.storage_retry_seconds, beam=_touches_buckets(config))
    preflight.check_targets(score_targets(config), config.beam_args)
    meta = read_bundle_meta(config.model)
    for feature in FEATURES:
        feature.check_bundle(config, meta)
    base_run, base_note = incremental.base_run(config, meta.version)
    carry_over = incremental.carry_over_mode(base_run)
    inference = plan_inference(config, meta, runner)
    chosen = executor.choose(
        config.executor, runner, config.beam_args, carry_over=carry_over, device=inference.device
    )
    needs_count = _needs_count(config, chosen)
    counted = bool(config.inputs) and (needs_count or count)
    images = count_images(config.inputs, SMALL_RUN_IMAGES) if counted else None
    workers = plan_workers(
        runner,
        config.beam_args,
        inference.backend,
        images=images if needs_count else None,
        incremental=carry_over == "join",  # a join: one process (pipelines/workers.py)
        inline=chosen == executor.INLINE,
    )
    top_k = min(config.top_k, len(meta.labels))
    warnings = []
    if top_k < config.top_k:
        warnings.append(
            f"--top_k {config.top_k}: the model has {len(meta.labels)} labels; "
            f"{top_k} are kept per image"
        )
    common = dict(
        model_uri=config.model,
        model_version=meta.version,
        model_name=meta.name,
        labels=list(meta.labels),
        top_k=top_k,
        code_version=code_version(),
        allow_empty=config.allow_empty,
        max_error_ratio=config.max_error_ratio,
    )
    if runner.template:
        beam_args, job_name = template.build_args(config.beam_args)
        target = template.target(config, job_name)
        info = RunInfo(
            run_uri=target.run_uri,
            run_id=target.run_id,
            arguments=template.arguments(config, target, runner.template_location),
            started_at="",
            output_uri=target.output,
            extra={"inference": inference.record(), **({"warnings": warnings} if warnings else {})},
            **common,
        )
    else:
        beam_args = tuple(config.beam_args) + workers.added_args
        if chosen == executor.INLINE:
            target = InlineTarget(config.inputs, config.output, config.run_id, config.run_uri)
        else:
            from bucketscore.transforms.launch_values import RunTarget

            target = RunTarget.static(config.inputs, config.output, config.run_id)
        info = RunInfo(
            run_uri=config.run_uri,
            run_id=config.run_id,
            arguments=config.arguments(),
            started_at=now_iso(),
            output_uri=config.output,
            base_run=base_run,
            extra={
                "inference": {**inference.record(), **workers.record()},
                **({"warnings": warnings} if warnings else {}),
            },
            **common,
        )
    return RunPlan(
        config=config,
        runner=runner,
        meta=meta,
        inference=inference,
        workers=workers,
        top_k=top_k,
        images=images,
        counted=counted,
        base_run=base_run,
        carry_over=carry_over,
        executor=chosen,
        target=target,
        info=info,
        beam_args=beam_args,
        waits=not runner.template and not _no_wait(config.beam_args),
        notes=tuple(n for n in (base_note,) if n)
        + tuple(f"bucketscore: WARNING: {w}" for w in warnings),
    )


def _no_wait(beam_args) -> bool:
    """--no_wait_until_finish: a launcher (Flex Template, scheduler) that only submits."""
    if not any(a.startswith("--no_wait") for a in beam_args):
        return False  # (without loading Beam)
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    return bool(PipelineOptions(list(beam_args)).view_as(StandardOptions).no_wait_until_finish)


def _touches_buckets(config: ScoreConfig) -> bool:
    """Some path of the run is in a bucket (s3://, gs://), or the runner is not local."""
    paths = list(config.inputs) + [config.output, config.model]
    if config.labels.kind == "csv":
        paths.append(config.labels.argument)
    named = [manifests.target(p) if manifests.is_manifest(p) else p for p in paths if p]
    return not config.runner.local or any(uris.is_remote(p) for p in named)
