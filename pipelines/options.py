"""`bucketscore score` arguments: parsed into a validated ScoreConfig before any graph exists.

Our own flags are parsed here; every other `--flag` is handed to Beam as a pipeline option
(`--runner`, `--direct_num_workers`, `--s3_endpoint_url`, `--project`, ...). A flag that
neither we nor Beam know is an error, never silently dropped.
"""
from __future__ import annotations

import argparse
import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from model_export.devices import DEVICES
from pipelines.runtime_defaults import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE, flag_value
from storage import uris
from transforms.decoding import DEFAULT_MAX_PIXELS
from transforms.labels import LabelSource, LabelSourceError

DEFAULT_MAX_ERROR_RATIO = 0.1
# Required for every run; only building a classic template (--template_location) may leave
# them to the launch (argparse cannot say "required unless", config_from_args does).
REQUIRED_FOR_A_RUN = ("input", "output")
SECRET_WORDS = ("secret", "password", "token", "credential", "access_key", "session_key",
                "private_key", "api_key")


class UsageError(ValueError):
    """The command line is wrong: exit status 2."""


@dataclass(frozen=True)
class ScoreConfig:
    """Everything a scoring run needs, validated."""

    inputs: tuple[str, ...]
    output: str
    model: str
    labels: LabelSource = field(default_factory=lambda: LabelSource("folder"))
    top_k: int = 5
    min_confidence: float = 0.0
    run_id: str = ""
    embeddings: bool = False
    allow_empty: bool = False
    max_error_ratio: float = DEFAULT_MAX_ERROR_RATIO
    max_pixels: int = DEFAULT_MAX_PIXELS
    backend: str = "auto"
    device: str = "auto"
    batch_size: Optional[int] = None  # None: runtime_defaults.batch_size_for(device)
    incremental: bool = False
    beam_args: tuple[str, ...] = ()

    @property
    def run_uri(self) -> str:
        return uris.as_prefix(uris.join(self.output, self.run_id))

    def arguments(self) -> dict:
        """The arguments as recorded in manifest.json, secrets redacted."""
        return {
            "input": list(self.inputs), "output": self.output, "model": self.model,
            "labels": (self.labels.kind if not self.labels.argument
                       else f"{self.labels.kind}:{self.labels.argument}"),
            "top_k": self.top_k, "min_confidence": self.min_confidence, "run_id": self.run_id,
            "embeddings": self.embeddings, "allow_empty": self.allow_empty,
            "max_error_ratio": self.max_error_ratio, "max_pixels": self.max_pixels,
            "backend": self.backend, "device": self.device, "batch_size": self.batch_size,
            "incremental": self.incremental,
            "beam_options": redact_flags(self.beam_args),
        }

    def pipeline_options(self) -> PipelineOptions:
        return PipelineOptions(list(self.beam_args))


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def is_secret_flag(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def redact_flags(flags) -> list[str]:
    """Beam flags with the values of secret-looking ones replaced by `***`."""
    out, hide_next = [], False
    for flag in flags:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if flag.startswith("--") and is_secret_flag(flag.split("=", 1)[0]):
            if "=" in flag:
                out.append(flag.split("=", 1)[0] + "=***")
            else:
                out.append(flag)
                hide_next = True
            continue
        out.append(flag)
    return out


SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
                   "GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN")


def secret_values(flags, environ=None) -> list[str]:
    """The secret values a command line or the environment holds (keys, tokens)."""
    import os

    environ = os.environ if environ is None else environ
    found, take_next = [], False
    for flag in flags:
        if take_next:
            found.append(flag)
            take_next = False
        elif flag.startswith("--") and is_secret_flag(flag.split("=", 1)[0]):
            if "=" in flag:
                found.append(flag.split("=", 1)[1])
            else:
                take_next = True
    found += [environ[name] for name in SECRET_ENV_VARS if environ.get(name)]
    # Very short values would blank out ordinary words; keys and tokens are long.
    return sorted({v for v in found if len(v) >= 6}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for value in secrets:
        text = text.replace(value, "***")
    return text


def unknown_beam_flags(flags: list[str]) -> list[str]:
    """The flags that no Beam PipelineOptions class defines."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen = set()
    for cls in PipelineOptions.__subclasses__():
        if str(cls) not in seen:
            seen.add(str(cls))
            cls._add_argparse_args(parser)  # noqa: SLF001 - the same parser Beam builds
    _known, unknown = parser.parse_known_args(flags)
    return [f for f in unknown if f.startswith("-")]


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", nargs="+", metavar="URI",
                        help="(required) prefixes or globs to score: s3://bucket/prefix/, "
                             "gs://..., a local folder; a prefix means every image below it "
                             "(jpg jpeg png gif bmp webp tif tiff, any case). With "
                             "--template_location: the default of the launch parameter input")
    parser.add_argument("--output", metavar="URI",
                        help="(required) results prefix; the run writes to "
                             "<output>/<run_id>/. With --template_location: the default of "
                             "the launch parameter output")
    parser.add_argument("--model", required=True, metavar="URI",
                        help="model bundle folder (model.json + saved_model/)")
    parser.add_argument("--labels", default="folder", metavar="SOURCE",
                        help="true labels: folder (parent folder name, default), "
                             "regex:PATTERN (first group, searched in the file name), "
                             "csv:URI (columns path,label; paths relative to the input or "
                             "full URIs), none (score only)")
    parser.add_argument("--top_k", type=_positive, default=5,
                        help="labels and scores kept per image (default 5)")
    parser.add_argument("--min_confidence", type=_ratio, default=0.0, metavar="P",
                        help="below this top-1 probability the row is flagged below_threshold "
                             "and predicted_label is left empty (default 0)")
    parser.add_argument("--run_id", default=None,
                        help="name of the run folder (default: UTC time + random suffix); "
                             "re-using one replaces that run's results. A template takes it "
                             "at launch (run_id=...)")
    parser.add_argument("--embeddings", action="store_true",
                        help="also write embeddings*.parquet (bundle must export embeddings)")
    parser.add_argument("--allow_empty", action="store_true",
                        help="complete (with zero counts) when no image matches, "
                             "instead of failing")
    parser.add_argument("--max_error_ratio", type=_ratio, default=DEFAULT_MAX_ERROR_RATIO,
                        metavar="R",
                        help="fail the run (exit 1, no _SUCCESS) when more than this share of "
                             f"images cannot be scored (default {DEFAULT_MAX_ERROR_RATIO})")
    parser.add_argument("--max_pixels", type=_positive, default=DEFAULT_MAX_PIXELS,
                        help="images with more pixels are errors rows, not decoded "
                             f"(default {DEFAULT_MAX_PIXELS:,})")
    parser.add_argument("--incremental", action="store_true",
                        help="score only images new or changed (size, modification time) since "
                             "the last completed run with the same model version under "
                             "--output; the others keep their earlier predictions, and the "
                             "summary covers the whole current set")
    parser.add_argument("--backend", choices=("auto", "tf", "onnx"), default="auto",
                        help="inference backend: auto (default) = ONNX Runtime when the bundle "
                             "has model.onnx, else TensorFlow; tf or onnx to choose")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where inference runs: auto (default) = a GPU when the backend "
                             "has one (onnxruntime-gpu, TensorFlow with CUDA), else the CPU; "
                             "gpu = fail at once without one; cpu = never a GPU")
    parser.add_argument("--batch_size", type=_positive, default=None,
                        help=f"images per inference call (default {DEFAULT_BATCH_SIZE} on a CPU: "
                             f"as fast per image as larger batches, with far less memory; "
                             f"{GPU_BATCH_SIZE} on a GPU)")


def config_from_args(args: argparse.Namespace, beam_args: list[str]) -> ScoreConfig:
    """Validate parsed arguments into a ScoreConfig; raises UsageError with a clear message."""
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)} (neither a bucketscore nor a "
                         f"Beam pipeline option; see bucketscore score --help)")
    try:
        labels = LabelSource.parse(args.labels)
    except LabelSourceError as e:
        raise UsageError(str(e)) from None
    # A classic template (--template_location) takes input, output and run id at launch:
    # here they are optional defaults (pipelines/template.py checks the rest).
    building_template = bool(flag_value(beam_args, "template_location"))
    if not building_template:
        missing = [f"--{name}" for name in REQUIRED_FOR_A_RUN if not getattr(args, name)]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    if building_template:
        run_id = args.run_id or ""
    else:
        run_id = args.run_id or new_run_id()
    if args.run_id is not None and ("/" in run_id or run_id in (".", "..")
                                    or not run_id.strip()):
        raise UsageError(f"--run_id {run_id!r}: must be a plain folder name")
    inputs = tuple(uris.normalize(u) for u in args.input or ())
    output = uris.normalize(args.output) if args.output else ""
    config = ScoreConfig(
        inputs=inputs, output=output, model=uris.normalize(args.model), labels=labels,
        top_k=args.top_k, min_confidence=args.min_confidence, run_id=run_id,
        embeddings=args.embeddings, allow_empty=args.allow_empty,
        max_error_ratio=args.max_error_ratio, max_pixels=args.max_pixels,
        backend=args.backend, device=args.device, batch_size=args.batch_size,
        incremental=args.incremental,
        beam_args=tuple(beam_args))
    check_output_outside_inputs(config)
    return config


def check_output_outside_inputs(config: ScoreConfig) -> None:
    """Results written below an input prefix would be scored by the next run: refuse."""
    from transforms.listing import split_input

    if not config.output:
        return
    out = uris.as_prefix(config.output)
    for uri in config.inputs:
        base, _glob = split_input(uri)
        if out.startswith(base):
            raise UsageError(f"--output {config.output} is inside the input {uri}: results would "
                             f"be scored as images next time; choose an output outside it")
