"""The scoring pipeline's graph: wiring only, from a RunPlan (pipelines/plan.py). Each stage
lives in its own module under transforms/; each optional feature adds its own piece
(pipelines/features/*).

    list -> label -> [carry over] -> read -> decode -> infer -> prediction rows -> sinks -> finish
                                        \\-------\\--------\\--> errors rows ------------/
    prediction rows -> summary -> [suspect labels, duplicates] -> finish
"""

from __future__ import annotations

import apache_beam as beam

from bucketscore.pipelines.features import (
    embeddings,
    incremental,
    label_checks,
    labels,
    selection,
    template,
)
from bucketscore.run_folder.report_selection import DEFAULT_REPORT_ITEMS
from bucketscore.transforms.concurrent_reading import ConcurrentReadImageBytes
from bucketscore.transforms.decoding import DecodeImages
from bucketscore.transforms.finishing import FinishRun
from bucketscore.transforms.inference import BundleModelHandler, Infer
from bucketscore.transforms.labels import AttachLabels
from bucketscore.transforms.listing import ListImages
from bucketscore.transforms.prediction_rows import ToPredictionRows
from bucketscore.transforms.records import ERRORS_TAG
from bucketscore.transforms.report_items import CollectReportItems
from bucketscore.transforms.sinks import WriteErrors, WriteObjectIndex, WritePredictions
from bucketscore.transforms.summarising import SummaryFn


def build_pipeline(p: beam.Pipeline, plan) -> None:
    """Add the whole scoring graph of `plan` (a RunPlan) to pipeline `p`."""
    config, meta, target = plan.config, plan.meta, plan.target
    run_uri, shards = target.run_uri, plan.shards
    # A template's job clears its run folder first; listing waits for it.
    prepared = template.prepare_run_folder(p, plan)
    # Listing streams into everything after it: the first images are scored while the
    # rest is still being listed (storage/listing.py, transforms/listing.py).
    listed = p | "ListImages" >> ListImages(
        plan.inputs, after=prepared, rounds=config.listing_rounds
    )
    # --exclude / --sample / --limit: the run covers the selected images.
    images, chosen = selection.select(listed, plan)
    labelled = images | "AttachLabels" >> beam.ParDo(AttachLabels(config.labels))
    to_score, carried = incremental.split(labelled, plan)
    # Many reads in flight (small objects are latency-bound), results in input order.
    read = to_score | "ReadBytes" >> beam.ParDo(
        ConcurrentReadImageBytes(retry_seconds=config.storage_retry_seconds)
    ).with_outputs(ERRORS_TAG, main="ok")
    decoded = read.ok | "Decode" >> beam.ParDo(
        DecodeImages(meta.input, config.max_pixels)
    ).with_outputs(ERRORS_TAG, main="ok")
    # Fixed-size batches (docs/decisions.md, "Inference batch size").
    inference = plan.inference
    handler = BundleModelHandler(
        config.model,
        backend=inference.backend,
        device=inference.device,
        embeddings=config.embeddings,
        model_copies=inference.model_copies,
        precision=inference.precision,
        min_batch_size=inference.batch_size,
        max_batch_size=inference.batch_size,
    )
    inferred = decoded.ok | "Infer" >> Infer(handler)
    rows = inferred.outputs | "ToPredictionRows" >> beam.ParDo(
        ToPredictionRows(
            meta.labels,
            k=plan.top_k,
            min_confidence=config.min_confidence,
            model_version=meta.version,
            run_id=target.run_id,
        )
    )
    # Images that could not be scored: each listed image is a prediction row or one of these.
    failures = (
        read[ERRORS_TAG],
        decoded[ERRORS_TAG],
        inferred[ERRORS_TAG],
    ) | "ImageErrors" >> beam.Flatten()
    # CSV rows naming no listed object: reported too, but they are not listed images.
    label_errors = labels.rows_without_image(listed, plan)
    errors = (failures, label_errors) | "AllErrors" >> beam.Flatten()

    prediction_files = [rows | "WritePredictions" >> WritePredictions(run_uri, shards)]
    prediction_files += incremental.sinks(carried, plan)
    written = prediction_files + [
        errors | "WriteErrors" >> WriteErrors(run_uri),
        images | "WriteObjectIndex" >> WriteObjectIndex(run_uri, shards),
    ]
    written += embeddings.sinks(inferred.outputs, plan)

    if carried is not None:
        scores, report_rows = incremental.summary_and_report_rows(
            rows, carried, plan, DEFAULT_REPORT_ITEMS
        )
    else:
        scores = rows | "Summarise" >> beam.CombineGlobally(SummaryFn(meta.labels))
        report_rows = rows
    listed = images | "CountListed" >> beam.combiners.Count.Globally()
    failed = failures | "CountFailed" >> beam.combiners.Count.Globally()
    missing = label_errors | "CountMissing" >> beam.combiners.Count.Globally()
    carried_count = incremental.count(carried, p)
    all_written = tuple(written) | "AllWrittenFiles" >> beam.Flatten()
    # The most confident mistakes and some failures, with thumbnails, for report.html.
    report_items = (report_rows, failures) | "CollectReportItems" >> CollectReportItems(
        DEFAULT_REPORT_ITEMS, meta.labels
    )
    started = {} if prepared is None else {"started_at": beam.pvalue.AsSingleton(prepared)}
    if chosen is not None:
        started["selection"] = beam.pvalue.AsSingleton(chosen)
    # Suspect labels and duplicate images: the written rows, read back once the summary
    # (the per-class thresholds) and the hash sketch are known.
    row_sets = (rows,) if carried is None else (rows, carried)
    checks = label_checks.find(prediction_files, row_sets, scores, plan, shown=DEFAULT_REPORT_ITEMS)
    if checks is not None:
        started["checks"] = beam.pvalue.AsSingleton(checks)
    (
        p
        | "Once" >> beam.Create([None])
        | "FinishRun"
        >> beam.ParDo(
            FinishRun(
                plan.info,
                retry_seconds=config.storage_retry_seconds,
                complete=not plan.completes_after_run,
            ),
            scores=beam.pvalue.AsSingleton(scores),
            listed=beam.pvalue.AsSingleton(listed),
            failed=beam.pvalue.AsSingleton(failed),
            missing=beam.pvalue.AsSingleton(missing),
            carried=beam.pvalue.AsSingleton(carried_count),
            written=beam.pvalue.AsList(all_written),
            report_items=beam.pvalue.AsSingleton(report_items),
            **started,
        )
    )
