"""pipelines.features.template: what a classic template build refuses, the Beam flags and
job name it is built with, its `_metadata` document (launch parameters), where that is
written, and the launch command it suggests."""

from __future__ import annotations

import json
import re

import pytest

from bucketscore.cli.main import main
from bucketscore.errors import UsageError
from bucketscore.pipelines.features import template
from bucketscore.pipelines.options import ScoreConfig

DATAFLOW = ("--runner", "DataflowRunner", "--project", "p", "--region", "europe-west1")


def config(beam_args=DATAFLOW + ("--template_location", "gs://b/t.json"), **kw) -> ScoreConfig:
    values = dict(model="gs://b/models/m", beam_args=tuple(beam_args))
    values.update(kw)
    return ScoreConfig(**values)


def test_check_refusals():
    template.check(config())  # a Dataflow template build with launch values left open
    with pytest.raises(UsageError, match="add --runner DataflowRunner"):
        template.check(config(beam_args=("--template_location", "gs://b/t.json")))
    with pytest.raises(UsageError, match="--run_id is a launch parameter of the template"):
        template.check(config(run_id="fixed"))
    with pytest.raises(UsageError, match="use the Flex Template"):
        template.check(config(incremental=True, output="gs://b/r"))


def test_check_leaves_other_runs_alone():
    # not a template build: its run id and --incremental are its own business
    template.check(config(beam_args=DATAFLOW, run_id="fixed", incremental=True))
    template.check(config(beam_args=(), run_id="fixed"))


def test_build_args_name_the_build_job_unless_named():
    args, name = template.build_args(list(DATAFLOW))
    assert name == template.BUILD_JOB_NAME == "bucketscore-template-build"
    assert args == DATAFLOW + ("--job_name=bucketscore-template-build",)
    for given in (["--job_name", "mine"], ["--job_name=mine"]):
        args, name = template.build_args(list(DATAFLOW) + given)
        assert name == "mine" and args == DATAFLOW + tuple(given)


def test_metadata_without_input_or_output_at_build():
    doc = template.metadata(config(), "digits")
    assert doc["name"] == "bucketscore score (digits)"
    assert "gs://b/models/m" in doc["description"]
    params = {p["name"]: p for p in doc["parameters"]}
    assert list(params) == ["input", "output", "run_id"]
    assert params["input"]["isOptional"] is False and params["output"]["isOptional"] is False
    assert params["run_id"]["isOptional"] is True  # the job name by default
    assert "default" not in params["input"]["helpText"]


def test_metadata_with_input_and_output_given_at_build():
    c = config(inputs=("gs://b/a/", "gs://b/b/*.png"), output="gs://b/results")
    params = {p["name"]: p for p in template.metadata(c, "digits")["parameters"]}
    assert params["input"]["isOptional"] and params["output"]["isOptional"]
    assert params["input"]["helpText"].endswith("(default gs://b/a/ gs://b/b/*.png)")
    assert params["output"]["helpText"].endswith("(default gs://b/results)")


def test_metadata_regexes_accept_what_a_launch_may_give():
    params = {p["name"]: p for p in template.metadata(config(), "m")["parameters"]}

    def accepts(name, value):
        return all(re.match(r, value) for r in params[name]["regexes"])

    assert accepts("input", "gs://b/a/")
    assert accepts("input", "gs://b/a/ s3://c/d/*.jpg")
    assert not accepts("input", "/local/folder")
    assert not accepts("input", "http://host/x")
    assert accepts("output", "s3://b/out")
    assert not accepts("output", "gs://b/a gs://b/b")  # one prefix only
    assert accepts("run_id", "nightly-20261201")
    assert not accepts("run_id", "a/b")


def test_write_metadata_beside_the_template(tmp_path):
    location = str(tmp_path / "templates" / "score.json")
    doc = template.metadata(config(), "digits")
    uri = template.write_metadata(location, doc)
    assert uri == location + "_metadata"
    with open(uri) as f:
        assert json.load(f) == doc


def test_launch_hint_asks_only_for_what_was_not_given():
    hint = template.launch_hint("gs://b/t.json", config(), "europe-west1")
    assert hint.startswith("launch it with:\n  gcloud dataflow jobs run bucketscore-")
    assert "--gcs-location gs://b/t.json --region europe-west1" in hint
    assert hint.endswith(
        "--parameters input=gs://BUCKET/images/,output=gs://BUCKET/results/,run_id=nightly-20261201"
    )
    given = config(inputs=("gs://b/a/",), output="gs://b/r")
    hint = template.launch_hint("gs://b/t.json", given, None)
    assert "--region" not in hint
    assert hint.endswith("--parameters run_id=nightly-20261201")


def test_what_a_classic_template_cannot_take_is_refused(capsys):
    # Refused when the options are parsed: no bucket is touched.
    bucket = "b"
    base = [
        "score",
        "--model",
        f"gs://{bucket}/models/digits",
        "--runner",
        "DataflowRunner",
        "--project",
        "p",
        "--region",
        "r",
        "--temp_location",
        f"gs://{bucket}/tmp",
        "--template_location",
        f"gs://{bucket}/templates/other.json",
    ]
    assert main(base + ["--run_id", "fixed"]) == 2
    assert "launch parameter" in capsys.readouterr().err
    assert main(base + ["--incremental", "--output", f"gs://{bucket}/r/"]) == 2
    assert "Flex Template" in capsys.readouterr().err
    assert main(base[:5] + base[9:] + ["--runner", "DirectRunner"]) == 2
    assert "--runner DataflowRunner" in capsys.readouterr().err
