"""`--labels` and manifest inputs: where each image's true label comes from.

`folder` (the parent folder's name, the default), `regex:PATTERN`, `csv:URI` (a labels CSV),
`manifest` (the labels a `manifest:` input gives) or `none`. The rules per source are
bucketscore.bundle.label_sources (shared with training); this module owns the flag, its
checks, and the graph piece that reports CSV rows naming no listed image.
"""

from __future__ import annotations

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.errors import UsageError
from bucketscore.pipelines.flags import option
from bucketscore.storage import manifests
from bucketscore.storage.preflight import Target, form_error


def parse(text: str) -> LabelSource:
    """The --labels value -> LabelSource; a labels CSV's URI must have a valid form (checked
    before it is made absolute)."""
    if text.startswith("csv:"):
        problem = form_error(text[len("csv:") :])
        if problem:
            raise ValueError(f"--labels {text}: {problem}")
    return LabelSource.parse(text)


def _text(source: LabelSource) -> str:
    return source.kind if not source.argument else f"{source.kind}:{source.argument}"


FLAG = option(
    "labels",
    LabelSource("folder"),
    metavar="SOURCE",
    convert=parse,
    record=_text,
    cli_default="folder",
    help="true labels: folder (parent folder name, default), regex:PATTERN (first group, "
    "searched in the file name), csv:URI (columns path,label; paths relative to the "
    "input or full URIs), manifest (the labels of manifest: inputs), none (score only)",
)


def check(config) -> None:
    """The options alone: manifest labels need a manifest input; an incremental run cannot
    compare manifest entries (a manifest gives no size or modification time)."""
    named = any(manifests.is_manifest(u) for u in config.inputs)
    if config.labels.kind == "manifest" and not named and config.inputs:
        raise UsageError(
            "--labels manifest takes the labels of manifest: inputs, and no "
            "--input is one (--input manifest:URI)"
        )
    if named and config.incremental:
        raise UsageError(
            "--incremental cannot be combined with manifest: inputs yet: a "
            "manifest gives no size or modification time to compare"
        )


def targets(config) -> list[Target]:
    """A labels CSV must be reachable (preflight: one request to its bucket)."""
    if config.labels.kind != "csv":
        return []
    return [Target("--labels", config.labels.argument, shown=_text(config.labels))]


def check_bundle(config, meta) -> None:
    """A labels CSV must be readable and consistent (read once here, in seconds)."""
    if config.labels.kind != "csv":
        return
    from bucketscore.bundle.label_sources import read_labels_csv

    try:
        read_labels_csv(config.labels.argument)
    except ValueError as e:
        raise UsageError(str(e)) from None


def rows_without_image(images, plan):
    """ListedImage -> ErrorRow (stage `label`) per labels-CSV row naming no listed image;
    an empty collection for the other label sources. They are reported, and counted apart:
    they are not listed images."""
    import apache_beam as beam

    source = plan.config.labels
    if source.kind != "csv":
        return images.pipeline | "NoLabelErrors" >> beam.Create([])
    from bucketscore.storage.listing import label_bases
    from bucketscore.transforms.labels import FindCsvRowsWithoutImage
    from bucketscore.transforms.launch_values import Derived

    return images | "CsvRowsWithoutImage" >> FindCsvRowsWithoutImage(
        source.argument, Derived(label_bases, plan.inputs)
    )


def describe(plan) -> str:
    return _text(plan.config.labels)
