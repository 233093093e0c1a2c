"""The scoring pipeline: wiring only. Each stage lives in its own module under transforms/.

    list -> label -> read -> decode -> infer -> prediction rows -> sinks
                       \\-------\\--------\\--> errors rows ------/
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import SetupOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult

from model_export import devices
from model_export.bundle import BundleError, BundleMeta, fetch_verified, read_meta
from model_export.predictor import choose_backend
from pipelines import runtime_defaults, template
from pipelines.options import ScoreConfig, UsageError
from storage import uris
from transforms.concurrent_reading import ConcurrentReadImageBytes
from transforms.decoding import DecodeImages
from transforms.incremental import CarryOverUnchanged, WriteObjectIndex, last_completed_run
from transforms.inference import BundleModelHandler, Infer
from transforms.labels import AttachLabels, FindCsvRowsWithoutImage, read_labels_csv
from transforms.launch_values import Derived, RunTarget, input_bases
from transforms.listing import ListImages
from transforms.metrics import SummaryFn
from transforms.postprocess import ToPredictionRows, embedding_row
from transforms.report import CollectReportItems
from transforms.records import ERRORS_TAG
from transforms.run_folder import NotARunFolder, PrepareRunFolder, clear_run_folder
from transforms.sinks import (SUCCESS, FinishRun, RunInfo, WriteEmbeddings, WriteErrors,
                              WritePredictions, now_iso)

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


def build_pipeline(p: beam.Pipeline, config: ScoreConfig, meta: BundleMeta,
                   info: RunInfo, base_run: Optional[str] = None,
                   backend: Optional[str] = None,
                   target: Optional[RunTarget] = None) -> None:
    """Add the whole scoring graph for `config` to pipeline `p`.

    With `base_run` (incremental), images unchanged since that completed run keep its
    prediction rows and only the others are read, decoded and scored. `backend` is the
    inference backend chosen for the run (default: config.backend, decided per worker).
    `target`: inputs, output and run id as launch values (a classic template's); by
    default config's, and the run folder is then prepared at launch, not in the pipeline.
    """
    prepared = None
    if target is None:
        target = RunTarget.static(config.inputs, config.output, config.run_id)
    else:
        # A template: the run folder is known once the job runs; listing waits for it.
        prepared = p | "PrepareRunFolder" >> PrepareRunFolder(target.run_uri)
    run_uri = target.run_uri
    images = p | "ListImages" >> ListImages(target.inputs, after=prepared)
    labelled = images | "AttachLabels" >> beam.ParDo(AttachLabels(config.labels))
    if base_run:
        changed, carried, rescore = labelled | "CarryOverUnchanged" >> CarryOverUnchanged(
            base_run)
        to_score = (changed, rescore) | "ToScore" >> beam.Flatten()
    else:
        to_score, carried = labelled, p | "NothingCarried" >> beam.Create([])
    # Many reads in flight (small objects are latency-bound), results in input order.
    read = to_score | "ReadBytes" >> beam.ParDo(ConcurrentReadImageBytes()).with_outputs(
        ERRORS_TAG, main="ok")
    decoded = read.ok | "Decode" >> beam.ParDo(
        DecodeImages(meta.input, config.max_pixels)).with_outputs(ERRORS_TAG, main="ok")
    # Fixed-size batches: Beam's adaptive batching fits a timing regression per batch and,
    # for a fast model, settles on one or two images per call.
    handler = BundleModelHandler(config.model, backend=backend or config.backend,
                                 device=config.device, embeddings=config.embeddings,
                                 min_batch_size=config.batch_size,
                                 max_batch_size=config.batch_size)
    inferred = decoded.ok | "Infer" >> Infer(handler)
    scored = inferred.outputs | "ToPredictionRows" >> beam.ParDo(ToPredictionRows(
        meta.labels, k=config.top_k, min_confidence=config.min_confidence,
        model_version=meta.version, run_id=target.run_id))
    if base_run:
        rows = (scored, carried) | "AllPredictionRows" >> beam.Flatten()
    else:
        # No Flatten when nothing is carried over: Beam's portable runner materialises a
        # Flatten of two stages' outputs, i.e. holds every prediction row in memory and
        # ships it twice (with the per-image shuffle before the chunked listing: +30% peak
        # memory from 4,000 to 40,000 images; both fixed: +3.7%).
        rows = scored
    # Images that could not be scored: each listed image is a prediction row or one of these.
    failures = ((read[ERRORS_TAG], decoded[ERRORS_TAG], inferred[ERRORS_TAG])
                | "ImageErrors" >> beam.Flatten())
    # CSV rows naming no listed object: reported too, but they are not listed images.
    if config.labels.kind == "csv":
        bases = Derived(input_bases, target.inputs)
        label_errors = images | "CsvRowsWithoutImage" >> FindCsvRowsWithoutImage(
            config.labels.argument, bases)
    else:
        label_errors = p | "NoLabelErrors" >> beam.Create([])
    errors = (failures, label_errors) | "AllErrors" >> beam.Flatten()

    written = [rows | "WritePredictions" >> WritePredictions(run_uri),
               errors | "WriteErrors" >> WriteErrors(run_uri),
               images | "WriteObjectIndex" >> WriteObjectIndex(run_uri)]
    if config.embeddings:
        dim = int(meta.extra.get("embedding_dim") or 0)
        written.append(inferred.outputs
                       | "ToEmbeddingRows" >> beam.Map(embedding_row)
                       | "WriteEmbeddings" >> WriteEmbeddings(run_uri, dim))

    scores = rows | "Summarise" >> beam.CombineGlobally(SummaryFn(meta.labels))
    listed = images | "CountListed" >> beam.combiners.Count.Globally()
    failed = failures | "CountFailed" >> beam.combiners.Count.Globally()
    missing = label_errors | "CountMissing" >> beam.combiners.Count.Globally()
    carried_count = carried | "CountCarried" >> beam.combiners.Count.Globally()
    all_written = tuple(written) | "AllWrittenFiles" >> beam.Flatten()
    # The most confident mistakes and some failures, with thumbnails, for report.html.
    report_items = (rows, failures) | "CollectReportItems" >> CollectReportItems(
        24, meta.labels)
    started = {} if prepared is None else {"started_at": beam.pvalue.AsSingleton(prepared)}
    (p
     | "Once" >> beam.Create([None])
     | "FinishRun" >> beam.ParDo(
         FinishRun(info),
         scores=beam.pvalue.AsSingleton(scores),
         listed=beam.pvalue.AsSingleton(listed),
         failed=beam.pvalue.AsSingleton(failed),
         missing=beam.pvalue.AsSingleton(missing),
         carried=beam.pvalue.AsSingleton(carried_count),
         written=beam.pvalue.AsList(all_written),
         report_items=beam.pvalue.AsSingleton(report_items),
         **started))


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
        path = uris.join(self.config.run_uri, "summary.json")
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


def choose_inference(config: ScoreConfig, meta: BundleMeta, local: bool) -> tuple[str, str]:
    """(backend, device) for the run: `--backend auto` made concrete (onnx when the bundle has
    model.onnx), and the device as far as this machine can tell. `--device gpu` without a
    GPU is a usage error for local runs; remote workers (Dataflow GPU workers) decide for
    themselves when they load the model."""
    try:
        backend = choose_backend(meta, config.backend)
    except BundleError as e:
        raise UsageError(str(e)) from None
    if not local:
        return backend, config.device
    try:
        return backend, devices.resolve(config.device, backend)
    except devices.DeviceError as e:
        raise UsageError(str(e)) from None


def settle_inference(config: ScoreConfig, meta: BundleMeta,
                     local: bool) -> tuple[ScoreConfig, str, str]:
    """(config with its batch size settled, backend, device), printed in one line."""
    backend, device = choose_inference(config, meta, local)
    config = dataclasses.replace(
        config, batch_size=runtime_defaults.batch_size_for(device, config.batch_size))
    print(describe_inference(backend, device, config.batch_size))
    return config, backend, device


def run_info(config: ScoreConfig, meta: BundleMeta, *, inference: dict, **where) -> RunInfo:
    """The finishing step's RunInfo: the model and options from config and meta; `where`
    (run_uri, run_id, arguments, started_at, output_uri, base_run) as values or launch
    values; `inference` goes into the manifest."""
    return RunInfo(model_uri=config.model, model_version=meta.version, model_name=meta.name,
                   labels=list(meta.labels), top_k=config.top_k, code_version=code_version(),
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
    from transforms.progress import beam_counters

    counters = beam_counters(result)
    summary_uri = uris.join(config.run_uri, "summary.json")
    success_uri = uris.join(config.run_uri, SUCCESS)
    if not counters or not uris.exists(success_uri):
        return
    success = uris.read_bytes(success_uri)
    summary = json.loads(uris.read_text(summary_uri))
    summary["beam_counters"] = dict(sorted(counters.items()))
    uris.write_text(summary_uri, json.dumps(summary, indent=2) + "\n", "application/json")
    uris.write_bytes(success_uri, success)


def start(config: ScoreConfig, show_progress: bool = False) -> ScoreRun:
    """Validate, build and run the pipeline; waits for it to finish. Returns the run.

    With --template_location, builds a classic Dataflow template instead (see
    pipelines/template.py) and returns without running anything."""
    location = template.template_location(config.beam_args)
    if location:
        return build_template(config, location)
    options = config.pipeline_options()
    uris.set_options(options)
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
            print(f"bucketscore: incremental: building on {base_run}")
        else:
            print(f"bucketscore: incremental: no completed run with model version "
                  f"{meta.version} under {config.output}; scoring everything")
    config, backend, device = settle_inference(
        config, meta, runtime_defaults.is_local(config.beam_args))
    config, plan = runtime_defaults.apply(config, backend)
    print(runtime_defaults.describe(plan))
    options = config.pipeline_options()  # again: with the flags the plan added
    uris.set_options(options)
    prepare_run_folder(config)
    info = run_info(
        config, meta, run_uri=config.run_uri, run_id=config.run_id,
        arguments=config.arguments(), started_at=now_iso(), output_uri=config.output,
        base_run=base_run,
        inference={"backend": backend, "device": device, "batch_size": config.batch_size,
                   "workers": plan.workers if plan.local else None,
                   "running_mode": plan.running_mode if plan.local else None,
                   "threads_per_worker": plan.threads_per_worker if plan.local else None})
    # The code is a package installed on workers by setup.py: nothing to pickle from __main__.
    setup = options.view_as(SetupOptions)
    if not any(f.startswith("--save_main_session") for f in config.beam_args):
        setup.save_main_session = False
    # Local runs: Beam's FnApiRunner directly (see runtime_defaults.make_runner).
    p = beam.Pipeline(runner=runtime_defaults.make_runner(options), options=options)
    build_pipeline(p, config, meta, info, base_run, backend)
    with runtime_defaults.environment(plan.env):
        if options.view_as(StandardOptions).no_wait_until_finish:
            # A launcher (Flex Template, scheduler) that only submits: the job finishes alone.
            result = p.run()
            return ScoreRun(config, meta, result, submitted_only=True)
        if show_progress:
            from pipelines.progress import ProgressPrinter

            with ProgressPrinter():
                result = p.run()
                result.wait_until_finish()
        else:
            result = p.run()
            result.wait_until_finish()
    record_counters(config, result)
    return ScoreRun(config, meta, result)


def build_template(config: ScoreConfig, location: str) -> ScoreRun:
    """Build and stage a classic template: input, output and run id become launch
    parameters (transforms.launch_values), the run folder is prepared in the pipeline."""
    template.check(config)
    beam_args, job_name = template.build_args(config.beam_args)
    config = dataclasses.replace(config, beam_args=beam_args)
    options = config.pipeline_options()
    uris.set_options(options)
    meta = validate_for_run(config)
    fetch_verified(config.model)
    config, backend, device = settle_inference(config, meta, local=False)
    target = RunTarget.at_launch(job_name, " ".join(config.inputs), config.output)
    arguments = dict(config.arguments(), input=target.inputs, output=target.output,
                     run_id=target.run_id, template=location)
    info = run_info(
        config, meta, run_uri=target.run_uri, run_id=target.run_id, arguments=arguments,
        started_at="", output_uri=target.output,
        inference={"backend": backend, "device": device, "batch_size": config.batch_size})
    options.view_as(SetupOptions).save_main_session = False
    p = beam.Pipeline(options=options)
    build_pipeline(p, config, meta, info, backend=backend, target=target)
    result = p.run()  # with --template_location: stages the graph, starts no job
    metadata_uri = template.write_metadata(location, template.metadata(config, meta.name))
    print(f"bucketscore: template written to {location} (parameters: {metadata_uri})")
    region = runtime_defaults.flag_value(config.beam_args, "region")
    print(template.launch_hint(location, config, region))
    return ScoreRun(config, meta, result, submitted_only=True, template=location)
