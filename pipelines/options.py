"""`bucketscore score` options: each declared once, parsed into a validated ScoreConfig.

Every option is one field of `ScoreConfig`, declared with `option(...)` (pipelines/flags.py);
an optional feature declares its own in its module (pipelines/features/*). `add_score_arguments`,
`config_from_args` and `ScoreConfig.arguments` are loops over those fields, so adding an
option is adding a field.

Our own flags are parsed here; every other `--flag` is handed to Beam as a pipeline option
(`--runner`, `--direct_num_workers`, `--s3_endpoint_url`, `--project`, ...). A flag that
neither we nor Beam know is an error, never silently dropped. Importing this module loads
no Beam, TensorFlow or Pillow (`bucketscore --help` stays fast).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Optional

from bucketscore.bundle.devices import DEVICES
from bucketscore.bundle.label_sources import LabelSource
from bucketscore.bundle.meta import DEFAULT_MAX_PIXELS, PRECISIONS
from bucketscore.errors import UsageError
from bucketscore.pipelines import executor
from bucketscore.pipelines.beam_options import unknown_beam_flags
from bucketscore.pipelines.features import (
    FEATURES,
    embeddings,
    incremental,
    label_checks,
    labels,
    selection,
)
from bucketscore.pipelines.flags import option
from bucketscore.pipelines.inference_plan import (
    DEFAULT_BATCH_SIZE,
    GPU_BATCH_SIZE,
    MAX_BATCH_SIZE,
)
from bucketscore.pipelines.redaction import redact_flags
from bucketscore.pipelines.runners import Runner, runner_of
from bucketscore.pipelines.validators import (
    at_most,
    non_negative_float,
    non_negative_int,
    positive_int,
    probability,
)
from bucketscore.run_folder.layout import new_run_id, run_uri
from bucketscore.storage import manifests, uris
from bucketscore.storage.errors import RETRY_SECONDS
from bucketscore.storage.listing import EXTENSIONS_TEXT, PLANNING_ROUNDS, split_input
from bucketscore.storage.preflight import form_error

DEFAULT_MAX_ERROR_RATIO = 0.1
BACKENDS = ("auto", "tf", "onnx", "torch")


def _checked(flag: str, uri: str) -> str:
    """`uri` when its form is one bucketscore reads (before it is made absolute)."""
    problem = form_error(uri)
    if problem:
        raise ValueError(f"--{flag} {uri}: {problem}")
    return uri


def _inputs(values) -> tuple[str, ...]:
    out = []
    for u in values or ():
        if manifests.is_manifest(u):
            _checked("input", u[len(manifests.PREFIX) :])
            out.append(manifests.normalize(u))
        else:
            out.append(uris.normalize(_checked("input", u)))
    return tuple(out)


def _output(value: Optional[str]) -> str:
    return uris.normalize(_checked("output", value)) if value else ""


def _model(value: str) -> str:
    return uris.normalize(_checked("model", value))


@dataclass(frozen=True)
class ScoreConfig:
    """Everything a scoring run needs, validated. Field order is the order of `--help`."""

    inputs: tuple[str, ...] = option(
        "input",
        (),
        run_needs=True,
        nargs="+",
        metavar="URI",
        convert=_inputs,
        record=list,
        help="(required) prefixes or globs to score: s3://bucket/prefix/, gs://..., a local "
        f"folder; a prefix means every image below it ({EXTENSIONS_TEXT}, any case); "
        "an image file is one image; manifest:URI names a file listing images (one URI "
        "per line, CSV uri[,label] or JSON Lines). With --template_location: the "
        "default of the launch parameter input",
    )
    output: str = option(
        "output",
        "",
        run_needs=True,
        metavar="URI",
        convert=_output,
        help="(required) results prefix; the run writes to <output>/<run_id>/. With "
        "--template_location: the default of the launch parameter output",
    )
    model: str = option(
        "model",
        "",
        required=True,
        metavar="URI",
        convert=_model,
        help="model bundle folder (model.json + saved_model/ and/or model.onnx)",
    )
    labels: LabelSource = labels.FLAG
    exclude: tuple[str, ...] = selection.EXCLUDE
    sample: Optional[int] = selection.SAMPLE
    limit: Optional[int] = selection.LIMIT
    top_k: int = option(
        "top_k", 5, type=positive_int, help="labels and scores kept per image (default 5)"
    )
    min_confidence: float = option(
        "min_confidence",
        0.0,
        type=probability,
        metavar="P",
        help="below this top-1 probability the row is flagged below_threshold and "
        "predicted_label is left empty (default 0)",
    )
    run_id: str = option(
        "run_id",
        "",
        cli_default=None,
        help="name of the run folder (default: UTC time + random suffix); re-using one "
        "replaces that run's results. A template takes it at launch (run_id=...)",
    )
    embeddings: bool = embeddings.FLAG
    target_accuracy: Optional[float] = label_checks.TARGET_ACCURACY
    no_label_checks: bool = label_checks.NO_LABEL_CHECKS
    max_suspects: int = label_checks.MAX_SUSPECTS
    allow_empty: bool = option(
        "allow_empty",
        False,
        action="store_true",
        help="complete (with zero counts) when no image matches, instead of failing",
    )
    max_error_ratio: float = option(
        "max_error_ratio",
        DEFAULT_MAX_ERROR_RATIO,
        type=probability,
        metavar="R",
        help="fail the run (exit 1, no _SUCCESS) when more than this share of images cannot "
        f"be scored (default {DEFAULT_MAX_ERROR_RATIO})",
    )
    max_pixels: int = option(
        "max_pixels",
        DEFAULT_MAX_PIXELS,
        type=positive_int,
        help=f"images with more pixels are errors rows, not decoded (default "
        f"{DEFAULT_MAX_PIXELS:,})",
    )
    incremental: bool = incremental.FLAG
    backend: str = option(
        "backend",
        "auto",
        choices=BACKENDS,
        help="inference backend: auto (default) = ONNX Runtime when the bundle has "
        "model.onnx, else TensorFlow, else PyTorch; tf, onnx or torch to choose (torch: "
        "bundles exported with --torch, and the torch extra)",
    )
    device: str = option(
        "device",
        "auto",
        choices=DEVICES,
        help="where inference runs: auto (default) = a GPU when the backend has one "
        "(onnxruntime-gpu, TensorFlow with CUDA, a CUDA build of torch), else the CPU; gpu "
        "= fail at once without one; cpu = never a GPU",
    )
    # None: fp32, or int8 where the bundle was quantized with --default (inference_plan).
    precision: Optional[str] = option(
        "precision",
        None,
        choices=PRECISIONS,
        help="fp32 (default, unless the bundle was quantized with `quantize --default`: "
        "int8); int8 = the bundle's model.int8.onnx (bucketscore quantize) on ONNX Runtime, "
        "its agreement with fp32 as measured at quantize; fp16/bf16 with --backend torch on "
        "a GPU: the top-1 agreement with fp32 on a sample of the run's images is measured "
        "and printed first",
    )
    # None: the plan decides by device (pipelines/inference_plan.py).
    batch_size: Optional[int] = option(
        "batch_size",
        None,
        type=at_most(MAX_BATCH_SIZE, "larger batches are no faster and hold every image in memory"),
        help=f"images per inference call (default {DEFAULT_BATCH_SIZE} on a CPU: as fast per "
        f"image as larger batches, with far less memory; {GPU_BATCH_SIZE} on a GPU)",
    )
    # None: one copy per GPU when inference runs on GPUs, else one per worker process.
    model_copies: Optional[int] = option(
        "model_copies",
        None,
        type=non_negative_int,
        metavar="N",
        help="copies of the model per machine, shared by all its worker processes (they "
        "decode, the copies infer): default one per GPU when inference runs on GPUs "
        "(--device gpu, or auto on a GPU machine), else 0 = one per worker process",
    )
    storage_retry_seconds: float = option(
        "storage_retry_seconds",
        RETRY_SECONDS,
        type=non_negative_float,
        metavar="S",
        help="how long reads and writes keep retrying a storage that does not answer "
        "(connection refused or reset, timeouts, 5xx, throttling) before the run fails "
        f"saying storage failed (default {RETRY_SECONDS:g}); 403/404 are never retried",
    )
    listing_rounds: int = option(
        "listing_rounds",
        PLANNING_ROUNDS,
        type=non_negative_int,
        metavar="N",
        help="planning rounds before listing: each spreads the listing over the workers "
        "and cuts it again (sub-prefixes, key ranges of flat prefixes); 0 = one lister "
        f"per input (default {PLANNING_ROUNDS})",
    )
    executor: str = executor.FLAG
    beam_args: tuple[str, ...] = ()  # every other flag: Beam pipeline options

    @property
    def run_uri(self) -> str:
        return run_uri(self.output, self.run_id)

    @property
    def runner(self) -> Runner:
        """Where the run goes (pipelines/runners.py): local or not, a template build or not."""
        return runner_of(self.beam_args)

    def arguments(self) -> dict:
        """The arguments as recorded in manifest.json, secrets redacted."""
        out = {
            f.metadata["flag"].name: f.metadata["flag"].record(getattr(self, f.name))
            for f in score_fields()
        }
        out["beam_options"] = redact_flags(self.beam_args)
        return out


def score_fields() -> list[dataclasses.Field]:
    """The ScoreConfig fields that are command-line options, in --help order."""
    return [f for f in dataclasses.fields(ScoreConfig) if "flag" in f.metadata]


REQUIRED_FOR_A_RUN = tuple(
    f.metadata["flag"].name for f in score_fields() if f.metadata["flag"].run_needs
)


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """One argparse option per ScoreConfig field, those a run needs first, in a group of
    their own (--help shows them as required). Options a run needs (`--input`, `--output`)
    are checked by config_from_args: argparse cannot say "required unless
    --template_location"."""
    required = parser.add_argument_group(
        "required arguments (--input and --output may be left to a template's launch)"
    )
    for f in score_fields():
        flag = f.metadata["flag"]
        kwargs = dict(flag.argparse)
        if kwargs.get("action") != "store_true":
            kwargs["default"] = flag.cli_default
        group = required if flag.required or flag.run_needs else parser
        group.add_argument(f"--{flag.name}", help=flag.help, required=flag.required, **kwargs)


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> ScoreConfig:
    """Validate parsed arguments into a ScoreConfig; raises UsageError with a clear message.
    Only the options themselves are checked here (no storage is touched): forms of URIs,
    values, combinations (each feature's `check`)."""
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise UsageError(
            f"unknown option(s): {' '.join(unknown)} (neither a bucketscore nor a "
            f"Beam pipeline option; see bucketscore score --help)"
        )
    # A classic template takes input, output and run id at launch: here they are optional
    # defaults (pipelines/features/template.py checks the rest).
    building_template = runner_of(beam_args).template
    if not building_template:
        missing = [
            f"--{f.metadata['flag'].name}"
            for f in score_fields()
            if f.metadata["flag"].run_needs and not getattr(args, f.metadata["flag"].name)
        ]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    values = {}
    for f in score_fields():
        flag = f.metadata["flag"]
        given = getattr(args, flag.name)
        if given is None:
            values[f.name] = (
                f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            )
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
    for feature in FEATURES:
        feature.check(config)
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
            raise UsageError(
                f"--output {config.output} is inside the input {uri}: results would "
                f"be scored as images next time; choose an output outside it"
            )
