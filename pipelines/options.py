"""`bucketscore score` options: each declared once, parsed into a validated ScoreConfig.

Every option is one field of `ScoreConfig`, declared with `option(...)`: its flag, default,
help, argparse check, how the parsed value becomes the field (`convert`) and how the field
is recorded in manifest.json (`record`). `add_score_arguments`, `config_from_args` and
`ScoreConfig.arguments` are loops over those fields, so adding an option is adding a field.

Our own flags are parsed here; every other `--flag` is handed to Beam as a pipeline option
(`--runner`, `--direct_num_workers`, `--s3_endpoint_url`, `--project`, ...). A flag that
neither we nor Beam know is an error, never silently dropped. Importing this module loads
no Beam, TensorFlow or Pillow (`bucketscore --help` stays fast).
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from bucketscore.model_export.bundle import DEFAULT_MAX_PIXELS
from bucketscore.model_export.devices import DEVICES
from bucketscore.model_export.label_sources import LabelSource
from bucketscore.pipelines.beam_options import flag_value, unknown_beam_flags
from bucketscore.pipelines.redaction import redact_flags
from bucketscore.pipelines.runtime_defaults import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE
from bucketscore.pipelines.validators import (UsageError, non_negative_float,
                                              non_negative_int, positive_int, probability)
from bucketscore.run_folder.layout import new_run_id, run_uri
from bucketscore.storage import manifests, uris
from bucketscore.storage.errors import RETRY_SECONDS
from bucketscore.storage.listing import EXTENSIONS_TEXT, PLANNING_ROUNDS, split_input

DEFAULT_MAX_ERROR_RATIO = 0.1
BACKENDS = ("auto", "tf", "onnx")


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Flag:
    """One `score` option on the command line."""

    name: str  # --name; also its key in manifest.json "arguments"
    help: str
    argparse: dict  # type, nargs, metavar, choices, action for parser.add_argument
    convert: Callable[[Any], Any] = _same  # parsed value -> field value (ValueError: usage)
    record: Callable[[Any], Any] = _same  # field value -> manifest.json value
    required: bool = False  # argparse refuses a command line without it
    run_needs: bool = False  # a run needs it; a classic template build may leave it to launch
    cli_default: Any = None  # the default as typed on a command line (argparse's default)


_AS_FIELD = object()


def option(name: str, default: Any, help: str, *, convert: Callable = _same,
           record: Callable = _same, required: bool = False, run_needs: bool = False,
           cli_default: Any = _AS_FIELD, **argparse_kwargs) -> Any:
    """A ScoreConfig field that is also the `--name` option. `default` is the field's;
    `cli_default` what argparse shows as the default (by default the same, for options
    whose parsed value is the field value)."""
    if cli_default is _AS_FIELD:
        cli_default = default if convert is _same else None
    flag = Flag(name, help, argparse_kwargs, convert, record, required, run_needs, cli_default)
    if isinstance(default, LabelSource):
        return field(default_factory=lambda: default, metadata={"flag": flag})
    return field(default=default, metadata={"flag": flag})


def _uris(values) -> tuple[str, ...]:
    return tuple(manifests.normalize(u) if manifests.is_manifest(u) else uris.normalize(u)
                 for u in values or ())


def _uri(value: Optional[str]) -> str:
    return uris.normalize(value) if value else ""


def _labels_text(source: LabelSource) -> str:
    return source.kind if not source.argument else f"{source.kind}:{source.argument}"


@dataclass(frozen=True)
class ScoreConfig:
    """Everything a scoring run needs, validated. Field order is the order of `--help`."""

    inputs: tuple[str, ...] = option(
        "input", (), run_needs=True, nargs="+", metavar="URI", convert=_uris, record=list,
        help="(required) prefixes or globs to score: s3://bucket/prefix/, gs://..., a local "
             f"folder; a prefix means every image below it ({EXTENSIONS_TEXT}, any case); "
             "an image file is one image; manifest:URI names a file listing images (one URI "
             "per line, CSV uri[,label] or JSON Lines). With --template_location: the "
             "default of the launch parameter input")
    output: str = option(
        "output", "", run_needs=True, metavar="URI", convert=_uri,
        help="(required) results prefix; the run writes to <output>/<run_id>/. With "
             "--template_location: the default of the launch parameter output")
    model: str = option(
        "model", "", required=True, metavar="URI", convert=uris.normalize,
        help="model bundle folder (model.json + saved_model/)")
    labels: LabelSource = option(
        "labels", LabelSource("folder"), metavar="SOURCE", convert=LabelSource.parse,
        record=_labels_text, cli_default="folder",
        help="true labels: folder (parent folder name, default), regex:PATTERN (first group, "
             "searched in the file name), csv:URI (columns path,label; paths relative to the "
             "input or full URIs), manifest (the labels of manifest: inputs), none (score "
             "only)")
    top_k: int = option("top_k", 5, type=positive_int,
                        help="labels and scores kept per image (default 5)")
    min_confidence: float = option(
        "min_confidence", 0.0, type=probability, metavar="P",
        help="below this top-1 probability the row is flagged below_threshold and "
             "predicted_label is left empty (default 0)")
    run_id: str = option(
        "run_id", "", cli_default=None,
        help="name of the run folder (default: UTC time + random suffix); re-using one "
             "replaces that run's results. A template takes it at launch (run_id=...)")
    embeddings: bool = option(
        "embeddings", False, action="store_true",
        help="also write embeddings*.parquet (bundle must export embeddings)")
    allow_empty: bool = option(
        "allow_empty", False, action="store_true",
        help="complete (with zero counts) when no image matches, instead of failing")
    max_error_ratio: float = option(
        "max_error_ratio", DEFAULT_MAX_ERROR_RATIO, type=probability, metavar="R",
        help="fail the run (exit 1, no _SUCCESS) when more than this share of images cannot "
             f"be scored (default {DEFAULT_MAX_ERROR_RATIO})")
    max_pixels: int = option(
        "max_pixels", DEFAULT_MAX_PIXELS, type=positive_int,
        help=f"images with more pixels are errors rows, not decoded (default "
             f"{DEFAULT_MAX_PIXELS:,})")
    incremental: bool = option(
        "incremental", False, action="store_true",
        help="score only images new or changed (size, modification time) since the last "
             "completed run with the same model version under --output; the others keep "
             "their earlier predictions, and the summary covers the whole current set")
    backend: str = option(
        "backend", "auto", choices=BACKENDS,
        help="inference backend: auto (default) = ONNX Runtime when the bundle has "
             "model.onnx, else TensorFlow; tf or onnx to choose")
    device: str = option(
        "device", "auto", choices=DEVICES,
        help="where inference runs: auto (default) = a GPU when the backend has one "
             "(onnxruntime-gpu, TensorFlow with CUDA), else the CPU; gpu = fail at once "
             "without one; cpu = never a GPU")
    # None: runtime_defaults.batch_size_for(device) decides when the run starts.
    batch_size: Optional[int] = option(
        "batch_size", None, type=positive_int,
        help=f"images per inference call (default {DEFAULT_BATCH_SIZE} on a CPU: as fast per "
             f"image as larger batches, with far less memory; {GPU_BATCH_SIZE} on a GPU)")
    # None: one copy per GPU when inference runs on GPUs, else one per worker process.
    model_copies: Optional[int] = option(
        "model_copies", None, type=non_negative_int, metavar="N",
        help="copies of the model per machine, shared by all its worker processes (they "
             "decode, the copies infer): default one per GPU when inference runs on GPUs "
             "(--device gpu, or auto on a GPU machine), else 0 = one per worker process")
    storage_retry_seconds: float = option(
        "storage_retry_seconds", RETRY_SECONDS, type=non_negative_float, metavar="S",
        help="how long reads and writes keep retrying a storage that does not answer "
             "(connection refused or reset, timeouts, 5xx, throttling) before the run fails "
             f"saying storage failed (default {RETRY_SECONDS:g}); 403/404 are never retried")
    listing_rounds: int = option(
        "listing_rounds", PLANNING_ROUNDS, type=non_negative_int, metavar="N",
        help="planning rounds before listing: each spreads the listing over the workers "
             "and cuts it again (sub-prefixes, key ranges of flat prefixes); 0 = one lister "
             f"per input (default {PLANNING_ROUNDS})")
    beam_args: tuple[str, ...] = ()  # every other flag: Beam pipeline options

    @property
    def run_uri(self) -> str:
        return run_uri(self.output, self.run_id)

    def arguments(self) -> dict:
        """The arguments as recorded in manifest.json, secrets redacted."""
        out = {f.metadata["flag"].name: f.metadata["flag"].record(getattr(self, f.name))
               for f in score_fields()}
        out["beam_options"] = redact_flags(self.beam_args)
        return out

    def pipeline_options(self):
        from apache_beam.options.pipeline_options import PipelineOptions

        return PipelineOptions(list(self.beam_args))


def score_fields() -> list[dataclasses.Field]:
    """The ScoreConfig fields that are command-line options, in --help order."""
    return [f for f in dataclasses.fields(ScoreConfig) if "flag" in f.metadata]


REQUIRED_FOR_A_RUN = tuple(f.metadata["flag"].name for f in score_fields()
                           if f.metadata["flag"].run_needs)


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """One argparse option per ScoreConfig field. Options a run needs (`--input`,
    `--output`) are checked by config_from_args: argparse cannot say "required unless
    --template_location"."""
    for f in score_fields():
        flag = f.metadata["flag"]
        kwargs = dict(flag.argparse)
        if kwargs.get("action") != "store_true":
            kwargs["default"] = flag.cli_default
        parser.add_argument(f"--{flag.name}", help=flag.help, required=flag.required,
                            **kwargs)


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> ScoreConfig:
    """Validate parsed arguments into a ScoreConfig; raises UsageError with a clear message."""
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)} (neither a bucketscore nor a "
                         f"Beam pipeline option; see bucketscore score --help)")
    # A classic template (--template_location) takes input, output and run id at launch:
    # here they are optional defaults (pipelines/template.py checks the rest).
    building_template = bool(flag_value(beam_args, "template_location"))
    if not building_template:
        missing = [f"--{f.metadata['flag'].name}" for f in score_fields()
                   if f.metadata["flag"].run_needs and not getattr(args, f.metadata["flag"].name)]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    values = {}
    for f in score_fields():
        flag = f.metadata["flag"]
        given = getattr(args, flag.name)
        if given is None:
            values[f.name] = f.default if f.default_factory is dataclasses.MISSING \
                else f.default_factory()
            continue
        try:
            values[f.name] = flag.convert(given)
        except ValueError as e:
            raise UsageError(str(e)) from None
    run_id = args.run_id
    if run_id is not None and ("/" in run_id or run_id in (".", "..") or not run_id.strip()):
        raise UsageError(f"--run_id {run_id!r}: must be a plain folder name")
    values["run_id"] = run_id or ("" if building_template else new_run_id())
    config = ScoreConfig(**values, beam_args=tuple(beam_args))
    check_output_outside_inputs(config)
    check_manifest_inputs(config)
    return config


def check_output_outside_inputs(config: ScoreConfig) -> None:
    """Results written below an input prefix would be scored by the next run: refuse."""
    if not config.output:
        return
    out = uris.as_prefix(config.output)
    for uri in config.inputs:
        if manifests.is_manifest(uri):
            continue  # names images anywhere; a run's files are no image names
        base, _glob = split_input(uri)
        if out.startswith(base):
            raise UsageError(f"--output {config.output} is inside the input {uri}: results would "
                             f"be scored as images next time; choose an output outside it")


def check_manifest_inputs(config: ScoreConfig) -> None:
    """--labels manifest needs a manifest input; --incremental cannot compare manifest
    entries (a manifest gives no size or modification time)."""
    named = any(manifests.is_manifest(u) for u in config.inputs)
    if config.labels.kind == "manifest" and not named and config.inputs:
        raise UsageError("--labels manifest takes the labels of manifest: inputs, and no "
                         "--input is one (--input manifest:URI)")
    if named and config.incremental:
        raise UsageError("--incremental cannot be combined with manifest: inputs yet: a "
                         "manifest gives no size or modification time to compare")
