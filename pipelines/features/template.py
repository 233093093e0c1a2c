"""Classic Dataflow templates of `bucketscore score` (`--template_location`).

`bucketscore score --model M --template_location gs://.../score.json --runner DataflowRunner
...` builds the job graph once and stages it with the bucketscore package; each launch
(`gcloud dataflow jobs run`, the REST API, a scheduler) then gives the parameters that vary:

* `input`: URIs to score, separated by spaces (default: `--input` given at build, if any);
* `output`: the results prefix (default: `--output` given at build, if any);
* `run_id`: the run folder's name (default: the launch's job name).

Everything else (model, labels, top_k, thresholds, backend, ...) is fixed when the template
is built: the model's labels and input size shape the graph, so build one template per
model version. The pipeline reads the three parameters on the workers when the job runs
(transforms/launch_values.py), lists the inputs then, and clears a re-used run folder then
(transforms/prepare_run_folder.py): each launch gets a complete run folder, `_SUCCESS` last.
Beside the template, `<template>_metadata` declares the parameters (Dataflow's launch form
and API check launches against it).
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

from bucketscore.errors import UsageError
from bucketscore.pipelines.beam_options import flag_value
from bucketscore.storage import uris

BUILD_JOB_NAME = "bucketscore-template-build"
URI_REGEX = r"^(gs|s3)://[^ ]+( +(gs|s3)://[^ ]+)*$"


def check(config) -> None:
    """What a classic template cannot do, refused when the options are parsed."""
    if not config.runner.template:
        return
    if not config.runner.dataflow:
        raise UsageError(
            "--template_location builds a classic Dataflow template: add "
            "--runner DataflowRunner (with --project, --region, "
            "--temp_location, --staging_location)"
        )
    if config.run_id:
        raise UsageError(
            "--run_id is a launch parameter of the template (run_id=...), not "
            "fixed when it is built: every launch would write one folder"
        )
    if config.incremental:
        raise UsageError(
            "--incremental needs the run's output and model at launch to find "
            "the last completed run; use the Flex Template "
            "(infra/flex_template) for incremental scheduled runs"
        )


def check_bundle(config, meta) -> None:
    """Nothing needs checking against the bundle."""


def build_args(beam_args: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """(Beam flags for the build, the job name the template is built with). A fixed job name
    unless one is given: a launch that still sees it was not named, and is refused rather
    than writing into another launch's folder (launch_values.launch_run_id)."""
    name = flag_value(beam_args, "job_name")
    if name:
        return tuple(beam_args), name
    return tuple(beam_args) + (f"--job_name={BUILD_JOB_NAME}",), BUILD_JOB_NAME


def target(config, job_name: str):
    """Inputs, output and run id read from the launch parameters (defaults: the values given
    when the template is built)."""
    from bucketscore.transforms.launch_values import RunTarget

    return RunTarget.at_launch(job_name, " ".join(config.inputs), config.output)


def arguments(config, run_target, location: str) -> dict:
    """manifest.json's `arguments` of a launch: input, output and run id are launch values."""
    return dict(
        config.arguments(),
        input=run_target.inputs,
        output=run_target.output,
        run_id=run_target.run_id,
        template=location,
    )


def prepare_run_folder(p, plan):
    """A template's job clears a re-used run folder before listing; ordinary runs are
    prepared at launch (pipelines/run.py): None for them."""
    if not plan.runner.template:
        return None
    from bucketscore.transforms.prepare_run_folder import PrepareRunFolder

    return p | "PrepareRunFolder" >> PrepareRunFolder(plan.target.run_uri)


def metadata(config, model_name: str) -> dict:
    """The template's `_metadata` document: its name and launch parameters."""
    given_input = " ".join(config.inputs)
    return {
        "name": f"bucketscore score ({model_name})",
        "description": f"Score every image under the input prefixes with the model bundle "
        f"{config.model}; results under <output>/<run_id>/ (predictions, "
        f"errors.csv, summary.json, report.html, manifest.json, _SUCCESS last).",
        "parameters": [
            {
                "name": "input",
                "label": "Images to score",
                "helpText": "gs:// or s3:// prefixes or globs, separated by spaces"
                + (f" (default {given_input})" if given_input else ""),
                "isOptional": bool(given_input),
                "regexes": [URI_REGEX],
            },
            {
                "name": "output",
                "label": "Results prefix",
                "helpText": "the run writes <output>/<run_id>/"
                + (f" (default {config.output})" if config.output else ""),
                "isOptional": bool(config.output),
                "regexes": [r"^(gs|s3)://[^ ]+$"],
            },
            {
                "name": "run_id",
                "label": "Run id",
                "helpText": "name of the run folder (default: the job name); re-using one "
                "replaces that run's results",
                "isOptional": True,
                "regexes": [r"^[^/ ]+$"],
            },
        ],
    }


def write_metadata(location: str, doc: dict) -> str:
    """Write `<location>_metadata`; returns its URI."""
    uri = location + "_metadata"
    uris.write_text(uri, json.dumps(doc, indent=2) + "\n", "application/json")
    return uri


def launch_hint(location: str, config, region: Optional[str]) -> str:
    params = [
        "input=gs://BUCKET/images/" if not config.inputs else "",
        "output=gs://BUCKET/results/" if not config.output else "",
        "run_id=nightly-20261201",
    ]
    params = ",".join(p for p in params if p)
    return (
        f"launch it with:\n  gcloud dataflow jobs run bucketscore-$(date +%Y%m%d-%H%M%S) "
        f"--gcs-location {location}"
        + (f" --region {region}" if region else "")
        + f" \\\n      --parameters {params}"
    )
