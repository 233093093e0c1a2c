"""The scoring pipeline's graph: wiring only. Each stage lives in its own module under
transforms/; starting a run (validation, inference choice, templates) is pipelines/launcher.py.

    list -> label -> read -> decode -> infer -> prediction rows -> sinks -> finish
                       \\-------\\--------\\--> errors rows ---------/
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from bucketscore.model_export.bundle import BundleMeta
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.run_folder.finish import RunInfo
from bucketscore.run_folder.report_selection import DEFAULT_REPORT_ITEMS
from bucketscore.storage.listing import label_bases
from bucketscore.transforms.concurrent_reading import ConcurrentReadImageBytes
from bucketscore.transforms.decoding import DecodeImages
from bucketscore.transforms.finishing import FinishRun
from bucketscore.transforms.incremental import (
    CarryOverUnchanged,
    ReportCandidates,
    CARRIED_PREDICTIONS,
    SummariseRows,
    WriteObjectIndex,
)
from bucketscore.transforms.inference import BundleModelHandler, Infer
from bucketscore.transforms.labels import AttachLabels, FindCsvRowsWithoutImage
from bucketscore.transforms.launch_values import Derived, RunTarget
from bucketscore.transforms.listing import ListImages
from bucketscore.transforms.prediction_rows import ToPredictionRows, embedding_row
from bucketscore.transforms.prepare_run_folder import PrepareRunFolder
from bucketscore.transforms.records import ERRORS_TAG
from bucketscore.transforms.report_items import CollectReportItems
from bucketscore.transforms.sinks import WriteEmbeddings, WriteErrors, WritePredictions
from bucketscore.transforms.summarising import SummaryFn


def build_pipeline(p: beam.Pipeline, config: ScoreConfig, meta: BundleMeta,
                   info: RunInfo, base_run: Optional[str] = None,
                   backend: Optional[str] = None,
                   target: Optional[RunTarget] = None,
                   device: Optional[str] = None,
                   model_copies: Optional[int] = None, shards: int = 0) -> None:
    """Add the whole scoring graph for `config` to pipeline `p`.

    With `base_run` (incremental), images unchanged since that completed run keep its
    prediction rows and only the others are read, decoded and scored. `backend` is the
    inference backend chosen for the run (default: config.backend, decided per worker), and
    `device` where it runs (default: config.device), `model_copies` the model copies per
    machine its worker processes share (None: one per process), `shards` the files each
    table is written as (0: the runner decides; 1 for a small run). `target`: inputs, output and run id as launch values (a classic template's); by
    default config's, and the run folder is then prepared at launch, not in the pipeline.
    """
    prepared = None
    if target is None:
        target = RunTarget.static(config.inputs, config.output, config.run_id)
    else:
        # A template: the run folder is known once the job runs; listing waits for it.
        prepared = p | "PrepareRunFolder" >> PrepareRunFolder(target.run_uri)
    run_uri = target.run_uri
    # The inputs as given (manifest: ones included), or a template's, read at launch.
    inputs = list(config.inputs) if prepared is None else target.inputs
    # Listing streams into everything after it: the first images are scored while the
    # rest is still being listed (storage/listing.py, transforms/listing.py).
    images = p | "ListImages" >> ListImages(inputs, after=prepared,
                                            rounds=config.listing_rounds)
    labelled = images | "AttachLabels" >> beam.ParDo(AttachLabels(config.labels))
    if base_run:
        to_score, carried = labelled | "CarryOverUnchanged" >> CarryOverUnchanged(base_run)
    else:
        to_score, carried = labelled, p | "NothingCarried" >> beam.Create([])
    # Many reads in flight (small objects are latency-bound), results in input order.
    read = to_score | "ReadBytes" >> beam.ParDo(ConcurrentReadImageBytes(
        retry_seconds=config.storage_retry_seconds)).with_outputs(
        ERRORS_TAG, main="ok")
    decoded = read.ok | "Decode" >> beam.ParDo(
        DecodeImages(meta.input, config.max_pixels)).with_outputs(ERRORS_TAG, main="ok")
    # Fixed-size batches: Beam's adaptive batching fits a timing regression per batch and,
    # for a fast model, settles on one or two images per call.
    handler = BundleModelHandler(config.model, backend=backend or config.backend,
                                 device=device or config.device,
                                 embeddings=config.embeddings, model_copies=model_copies,
                                 min_batch_size=config.batch_size,
                                 max_batch_size=config.batch_size)
    inferred = decoded.ok | "Infer" >> Infer(handler)
    scored = inferred.outputs | "ToPredictionRows" >> beam.ParDo(ToPredictionRows(
        meta.labels, k=config.top_k, min_confidence=config.min_confidence,
        model_version=meta.version, run_id=target.run_id))
    # No Flatten of prediction rows, not even with rows carried over: Beam's portable
    # runner materialises a Flatten of two stages' outputs, i.e. holds every prediction row
    # in memory and ships it twice (with the per-image shuffle before the chunked listing:
    # +30% peak memory from 4,000 to 40,000 images; both fixed: +3.7%). Carried rows have
    # their own sink, summary part and report candidates (transforms/incremental.py).
    rows = scored
    # Images that could not be scored: each listed image is a prediction row or one of these.
    failures = ((read[ERRORS_TAG], decoded[ERRORS_TAG], inferred[ERRORS_TAG])
                | "ImageErrors" >> beam.Flatten())
    # CSV rows naming no listed object: reported too, but they are not listed images.
    if config.labels.kind == "csv":
        bases = Derived(label_bases, inputs)
        label_errors = images | "CsvRowsWithoutImage" >> FindCsvRowsWithoutImage(
            config.labels.argument, bases)
    else:
        label_errors = p | "NoLabelErrors" >> beam.Create([])
    errors = (failures, label_errors) | "AllErrors" >> beam.Flatten()

    written = [rows | "WritePredictions" >> WritePredictions(run_uri, shards),
               errors | "WriteErrors" >> WriteErrors(run_uri),
               images | "WriteObjectIndex" >> WriteObjectIndex(run_uri, shards)]
    if base_run:
        written.append(carried | "WriteCarriedPredictions" >> WritePredictions(
            run_uri, shards, name=CARRIED_PREDICTIONS))
    if config.embeddings:
        dim = int(meta.extra.get("embedding_dim") or 0)
        written.append(inferred.outputs
                       | "ToEmbeddingRows" >> beam.Map(embedding_row)
                       | "WriteEmbeddings" >> WriteEmbeddings(run_uri, dim, shards))

    if base_run:
        scores = (rows, carried) | "Summarise" >> SummariseRows(meta.labels)
        report_rows = (rows, carried) | "ReportCandidates" >> ReportCandidates(
            DEFAULT_REPORT_ITEMS, meta.labels)
    else:
        scores = rows | "Summarise" >> beam.CombineGlobally(SummaryFn(meta.labels))
        report_rows = rows
    listed = images | "CountListed" >> beam.combiners.Count.Globally()
    failed = failures | "CountFailed" >> beam.combiners.Count.Globally()
    missing = label_errors | "CountMissing" >> beam.combiners.Count.Globally()
    carried_count = carried | "CountCarried" >> beam.combiners.Count.Globally()
    all_written = tuple(written) | "AllWrittenFiles" >> beam.Flatten()
    # The most confident mistakes and some failures, with thumbnails, for report.html.
    report_items = (report_rows, failures) | "CollectReportItems" >> CollectReportItems(
        DEFAULT_REPORT_ITEMS, meta.labels)
    started = {} if prepared is None else {"started_at": beam.pvalue.AsSingleton(prepared)}
    (p
     | "Once" >> beam.Create([None])
     | "FinishRun" >> beam.ParDo(
         FinishRun(info, retry_seconds=config.storage_retry_seconds),
         scores=beam.pvalue.AsSingleton(scores),
         listed=beam.pvalue.AsSingleton(listed),
         failed=beam.pvalue.AsSingleton(failed),
         missing=beam.pvalue.AsSingleton(missing),
         carried=beam.pvalue.AsSingleton(carried_count),
         written=beam.pvalue.AsList(all_written),
         report_items=beam.pvalue.AsSingleton(report_items),
         **started))
