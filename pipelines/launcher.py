"""Starting a scoring run: everything before and after the graph.

`start(config)` validates what needs storage (the bundle, a labels CSV), verifies the
bundle, finds the incremental base run, chooses the inference backend, device and batch
size, plans workers and threads on this machine, clears a re-used run folder, builds the
graph (pipelines/graph.py), runs it (with live progress) and adds the final Beam counters
to summary.json. With --template_location it builds a classic template instead.
`say` (print by default on the command line) receives the lines a person reads.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import SetupOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult

from bucketscore.model_export import devices
from bucketscore.model_export.bundle import BundleError, BundleMeta, fetch_verified, read_meta
from bucketscore.model_export.label_sources import read_labels_csv
from bucketscore.model_export.predictor import choose_backend, onnx_available
from bucketscore.pipelines import runtime_defaults, template
from bucketscore.pipelines.beam_options import flag_value, is_local
from bucketscore.pipelines.graph import build_pipeline
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.pipelines.validators import UsageError
from bucketscore.run_folder import layout
from bucketscore.run_folder.finish import RunInfo
from bucketscore.run_folder.layout import NotARunFolder, clear_run_folder, now_iso
from bucketscore.run_folder.state import last_completed_run
from bucketscore.storage import uris
from bucketscore.transforms.counters import beam_counters
from bucketscore.transforms.launch_values import RunTarget

Say = Callable[[str], None]

log = logging.getLogger(__name__)


def code_version() -> str:
    """The package version, plus the git commit when run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("bucketscore")
    except PackageNotFoundError:
        v = "unknown"
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                             capture_output=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+{sha}" if sha else v


@dataclass
class ScoreRun:
    """A started (and, with DirectRunner, finished) run."""

    config: ScoreConfig
    meta: BundleMeta
    result: PipelineResult
    submitted_only: bool = False  # --no_wait_until_finish: the job runs on after we return
    template: Optional[str] = None  # --template_location: a template was built, nothing ran

    def summary(self) -> Optional[dict]:
        """summary.json as written by the run, or None if it has none."""
        path = layout.file_uri(self.config.run_uri, layout.SUMMARY)
        if not uris.exists(path):
            return None
        return json.loads(uris.read_text(path))


def prepare_run_folder(config: ScoreConfig) -> None:
    """Empty `<output>/<run_id>/` if a previous run with this id left files there.

    A re-run replaces a run completely (no mix of old and new files). A folder that does
    not look like a bucketscore run is never deleted.
    """
    try:
        clear_run_folder(config.run_uri)
    except NotARunFolder as e:
        raise UsageError(str(e)) from None


def validate_for_run(config: ScoreConfig) -> BundleMeta:
    """Checks that need storage access, done before the graph is built: fail in a second."""
    try:
        meta = read_meta(config.model)
    except BundleError as e:
        raise UsageError(str(e)) from None
    if config.embeddings and not meta.has_embeddings:
        raise UsageError(f"--embeddings: the bundle {config.model} does not export embeddings")
    if config.embeddings and config.incremental:
        raise UsageError("--embeddings cannot be combined with --incremental yet: unchanged "
                         "images would have no embedding rows")
    if config.labels.kind == "csv":
        try:
            read_labels_csv(config.labels.argument)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return meta


def choose_inference(config: ScoreConfig, meta: BundleMeta, local: bool) -> devices.Choice:
    """The backend and device for the run (model_export.devices.choose): `--backend auto`
    made concrete (onnx when the bundle has model.onnx and ONNX Runtime imports), on this
    machine's GPU when a backend can use it; a GPU that no backend can use is a warning,
    never a silent CPU run. `--device gpu` without a usable GPU is a usage error for local
    runs; remote workers (Dataflow GPU workers) decide for themselves when they load the
    model (transforms/inference.py)."""
    try:
        backend = choose_backend(meta, config.backend)
    except BundleError as e:
        raise UsageError(str(e)) from None
    if not local:
        return devices.Choice(backend, config.device)
    offered = [b for b in meta.backends if b != "onnx" or onnx_available()]
    try:
        return devices.choose(offered, config.backend, config.device, devices.probe())
    except devices.DeviceError as e:
        raise UsageError(str(e)) from None


def settle_inference(config: ScoreConfig, meta: BundleMeta, local: bool,
                     say: Say) -> tuple[ScoreConfig, dict]:
    """(config with its batch size settled, the `inference` record of manifest.json:
    backend, device, batch size, and a warning when a GPU goes unused), said at start."""
    choice = choose_inference(config, meta, local)
    config = dataclasses.replace(
        config, batch_size=runtime_defaults.batch_size_for(choice.device, config.batch_size))
    say(describe_inference(choice.backend, choice.device, config.batch_size))
    inference = {"backend": choice.backend, "device": choice.device,
                 "batch_size": config.batch_size,
                 "model_copies": model_copies_for(config.model_copies, choice.device)}
    if choice.warning:
        say(f"bucketscore: WARNING: {choice.warning}")
        inference["warning"] = choice.warning
    return config, inference


def model_copies_for(given: Optional[int], device: str) -> Optional[int]:
    """Model copies per machine shared by its worker processes, None = one per process:
    the user's number (0 = per process), else one per GPU where inference runs on GPUs
    (a remote GPU worker's GPUs cannot be counted from here: one)."""
    if given is not None:
        return given or None
    if device == "gpu":
        return devices.gpu_count() or 1
    return None


def run_info(config: ScoreConfig, meta: BundleMeta, *, inference: dict, **where) -> RunInfo:
    """The finishing step's RunInfo: the model and options from config and meta; `where`
    (run_uri, run_id, arguments, started_at, output_uri, base_run) as values or launch
    values; `inference` goes into the manifest."""
    return RunInfo(model_uri=config.model, model_version=meta.version, model_name=meta.name,
                   labels=list(meta.labels), top_k=min(config.top_k, len(meta.labels)),
                   code_version=code_version(),
                   allow_empty=config.allow_empty, max_error_ratio=config.max_error_ratio,
                   extra={"inference": inference}, **where)


def describe_inference(backend: str, device: str, batch_size: int) -> str:
    engine = {"onnx": "ONNX Runtime (model.onnx)", "tf": "TensorFlow (saved_model/)"}[backend]
    where = {"cpu": "CPU", "gpu": "GPU", "auto": "GPU if the worker has one, else CPU"}[device]
    return f"bucketscore: inference: {engine} on {where}, batches of {batch_size}"


def record_counters(config: ScoreConfig, result: PipelineResult) -> None:
    """Add the run's final Beam counters (namespace bucketscore) to summary.json.

    Only a launcher that waited for the run can read them; `_SUCCESS` is rewritten after,
    so it stays the last file written.
    """
    counters = beam_counters(result)
    summary_uri = layout.file_uri(config.run_uri, layout.SUMMARY)
    success_uri = layout.file_uri(config.run_uri, layout.SUCCESS)
    if not counters or not uris.exists(success_uri):
        return
    success = uris.read_bytes(success_uri)
    summary = json.loads(uris.read_text(summary_uri))
    summary["beam_counters"] = dict(sorted(counters.items()))
    uris.write_text(summary_uri, json.dumps(summary, indent=2) + "\n", "application/json")
    uris.write_bytes(success_uri, success)


def _quiet(_line: str) -> None:
    pass


def start(config: ScoreConfig, show_progress: bool = False, say: Say = _quiet) -> ScoreRun:
    """Validate, build and run the pipeline; waits for it to finish. Returns the run.

    With --template_location, builds a classic Dataflow template instead (see
    pipelines/template.py) and returns without running anything. `say` receives the
    lines a person reads (the command line passes print)."""
    location = template.template_location(config.beam_args)
    if location:
        return build_template(config, location, say)
    options = config.pipeline_options()
    uris.set_options(options)
    # This process and the worker processes it starts: the run's storage retry budget.
    uris.prepare_process(config.storage_retry_seconds)
    meta = validate_for_run(config)
    # Verify every file of the bundle before anything runs: a tampered or half-copied bundle
    # fails here, in seconds, with a clear message (workers verify again when they load it).
    fetch_verified(config.model)
    base_run = None
    if config.incremental:
        base_run = last_completed_run(config.output, meta.version)
        if base_run == config.run_uri:
            log.warning("--incremental: the base run is the run being replaced; scoring all")
            base_run = None
        if base_run:
            say(f"bucketscore: incremental: building on {base_run}")
        else:
            say(f"bucketscore: incremental: no completed run with model version "
                f"{meta.version} under {config.output}; scoring everything")
    config, inference = settle_inference(config, meta, is_local(config.beam_args), say)
    backend = inference["backend"]
    # Small local inputs are scored in one process, their tables written as one file each.
    images = (runtime_defaults.count_up_to(config.inputs)
              if runtime_defaults.defaults_apply(config.beam_args) else None)
    config, plan = runtime_defaults.apply(config, backend, images=images,
                                          incremental=bool(base_run))
    say(runtime_defaults.describe(plan))
    options = config.pipeline_options()  # again: with the flags the plan added
    uris.set_options(options)
    prepare_run_folder(config)
    info = run_info(
        config, meta, run_uri=config.run_uri, run_id=config.run_id,
        arguments=config.arguments(), started_at=now_iso(), output_uri=config.output,
        base_run=base_run,
        inference={**inference,
                   "workers": plan.workers if plan.local else None,
                   "running_mode": plan.running_mode if plan.local else None,
                   "threads_per_worker": plan.threads_per_worker if plan.local else None})
    # The code is a package installed on workers by setup.py: nothing to pickle from __main__.
    setup = options.view_as(SetupOptions)
    if not any(f.startswith("--save_main_session") for f in config.beam_args):
        setup.save_main_session = False
    # Local runs: Beam's FnApiRunner directly (see runtime_defaults.make_runner).
    p = beam.Pipeline(runner=runtime_defaults.make_runner(options), options=options)
    build_pipeline(p, config, meta, info, base_run, backend, device=inference["device"],
                   model_copies=inference["model_copies"], shards=1 if plan.small else 0)
    with runtime_defaults.environment(plan.env):
        if options.view_as(StandardOptions).no_wait_until_finish:
            # A launcher (Flex Template, scheduler) that only submits: the job finishes alone.
            result = p.run()
            return ScoreRun(config, meta, result, submitted_only=True)
        try:
            if show_progress:
                from bucketscore.pipelines.progress import ProgressPrinter

                with ProgressPrinter() as printer:
                    result = p.run()
                    result.wait_until_finish()
                    printer.finish(beam_counters(result))  # the last line: the true totals
            else:
                result = p.run()
                result.wait_until_finish()
        except Exception:
            # A failed run leaves no temporary folders of Beam's sinks behind (a killed one:
            # the next run with this id clears them).
            layout.remove_temp(config.run_uri)
            raise
    record_counters(config, result)
    return ScoreRun(config, meta, result)


def build_template(config: ScoreConfig, location: str, say: Say = _quiet) -> ScoreRun:
    """Build and stage a classic template: input, output and run id become launch
    parameters (transforms.launch_values), the run folder is prepared in the pipeline."""
    template.check(config)
    beam_args, job_name = template.build_args(config.beam_args)
    config = dataclasses.replace(config, beam_args=beam_args)
    options = config.pipeline_options()
    uris.set_options(options)
    meta = validate_for_run(config)
    fetch_verified(config.model)
    config, inference = settle_inference(config, meta, False, say)
    backend = inference["backend"]
    target = RunTarget.at_launch(job_name, " ".join(config.inputs), config.output)
    arguments = dict(config.arguments(), input=target.inputs, output=target.output,
                     run_id=target.run_id, template=location)
    info = run_info(
        config, meta, run_uri=target.run_uri, run_id=target.run_id, arguments=arguments,
        started_at="", output_uri=target.output,
        inference=inference)
    options.view_as(SetupOptions).save_main_session = False
    p = beam.Pipeline(options=options)
    build_pipeline(p, config, meta, info, backend=backend, target=target,
                   model_copies=inference["model_copies"])
    result = p.run()  # with --template_location: stages the graph, starts no job
    metadata_uri = template.write_metadata(location, template.metadata(config, meta.name))
    say(f"bucketscore: template written to {location} (parameters: {metadata_uri})")
    say(template.launch_hint(location, config, flag_value(config.beam_args, "region")))
    return ScoreRun(config, meta, result, submitted_only=True, template=location)
