"""pipelines.options: `score`'s options parsed into a validated ScoreConfig (config_from_args),
without touching storage: what a run needs, URI forms (each refusal names its flag), the run
id, an output inside an input, every feature's check, unknown flags; the arguments recorded in
manifest.json (secrets redacted); and --help listing every option."""

from __future__ import annotations

import argparse
import dataclasses
import os

import pytest

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.errors import UsageError
from bucketscore.pipelines.options import (
    REQUIRED_FOR_A_RUN,
    ScoreConfig,
    add_score_arguments,
    config_from_args,
    score_fields,
)

# Every `score` option, in --help order, as the README and the help text name them.
OPTIONS = [
    "input",
    "output",
    "model",
    "labels",
    "exclude",
    "sample",
    "limit",
    "top_k",
    "min_confidence",
    "run_id",
    "embeddings",
    "target_accuracy",
    "no_label_checks",
    "max_suspects",
    "allow_empty",
    "max_error_ratio",
    "max_pixels",
    "incremental",
    "backend",
    "device",
    "precision",
    "batch_size",
    "model_copies",
    "storage_retry_seconds",
    "listing_rounds",
    "executor",
]

TEMPLATE = [
    "--runner",
    "DataflowRunner",
    "--project",
    "p",
    "--region",
    "r",
    "--temp_location",
    "gs://b/tmp",
    "--template_location",
    "gs://b/t.json",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bucketscore score")
    add_score_arguments(parser)
    return parser


def config_of(argv: list[str]) -> ScoreConfig:
    args, extra = _parser().parse_known_args(argv)
    return config_from_args(args, extra)


def run_args(*more: str) -> list[str]:
    return ["--input", "imgs/", "--model", "models/m", "--output", "results", *more]


def test_a_minimal_run_gets_the_defaults():
    c = config_of(run_args())
    assert c.inputs == (os.path.abspath("imgs") + "/",)  # absolute, trailing slash kept
    assert c.output == os.path.abspath("results")
    assert c.model == os.path.abspath("models/m")
    assert c.labels == LabelSource("folder")
    assert (c.top_k, c.min_confidence, c.max_error_ratio) == (5, 0.0, 0.1)
    assert (c.backend, c.device, c.batch_size, c.model_copies) == ("auto", "auto", None, None)
    assert not (c.embeddings or c.incremental or c.allow_empty)
    assert c.beam_args == ()
    # A generated run id: UTC time plus a random suffix, different for each run.
    assert c.run_id and "/" not in c.run_id and c.run_id != config_of(run_args()).run_id
    assert c.run_uri == f"{c.output}/{c.run_id}/"


def test_values_given_are_converted_and_beam_flags_kept():
    c = config_of(
        run_args(
            "--labels",
            "regex:(.+)_pic",
            "--top_k",
            "2",
            "--min_confidence",
            "0.5",
            "--run_id",
            "nightly",
            "--backend",
            "tf",
            "--batch_size",
            "16",
            "--direct_num_workers",
            "2",
        )
    )
    assert c.labels == LabelSource("regex", "(.+)_pic")
    assert (c.top_k, c.min_confidence, c.run_id, c.backend, c.batch_size) == (
        2,
        0.5,
        "nightly",
        "tf",
        16,
    )
    assert c.beam_args == ("--direct_num_workers", "2")


def test_input_and_output_are_required_for_a_run():
    with pytest.raises(
        UsageError, match="^the following arguments are required: --input, --output$"
    ):
        config_of(["--model", "m"])
    with pytest.raises(UsageError, match="^the following arguments are required: --output$"):
        config_of(["--model", "m", "--input", "imgs"])
    assert REQUIRED_FOR_A_RUN == ("input", "output")


def test_the_model_is_required_by_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        config_of(["--input", "imgs", "--output", "out"])
    assert e.value.code == 2
    assert "the following arguments are required: --model" in capsys.readouterr().err


def test_a_template_build_takes_input_output_and_run_id_at_launch():
    c = config_of(["--model", "gs://b/m", *TEMPLATE])
    assert c.inputs == () and c.output == "" and c.run_id == ""  # no generated run id
    assert c.runner.template and c.runner.template_location == "gs://b/t.json"
    # given at build, they are the launch parameters' defaults
    c = config_of(
        ["--model", "gs://b/m", "--input", "gs://b/i/", "--output", "gs://b/o", *TEMPLATE]
    )
    assert c.inputs == ("gs://b/i/",) and c.output == "gs://b/o"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--input", "http://host/images/"], "--input http://host/images/: not a local path"),
        (["--input", "s3:/bucket/x"], "--input s3:/bucket/x: .*did you mean s3://bucket/x"),
        (["--input", "gs:///x"], "--input gs:///x: no bucket name"),
        (["--input", "manifest:ftp://h/list.txt"], "--input ftp://h/list.txt: not a local path"),
        (["--output", "S3://b/out"], "--output S3://b/out: .*did you mean s3://b/out"),
        (["--model", "https://models/m"], "--model https://models/m: not a local path"),
        (["--labels", "csv:gcs://b/l.csv"], "--labels csv:gcs://b/l.csv: not a local path"),
    ],
)
def test_uris_in_no_accepted_form_are_refused_naming_the_flag(argv, message):
    base = {"--input": "imgs", "--output": "out", "--model": "m"}
    flag = argv[0]
    base.pop(flag, None)
    full = [x for k, v in base.items() for x in (k, v)] + argv
    with pytest.raises(UsageError, match=message):
        config_of(full)


@pytest.mark.parametrize("run_id", ["a/b", ".", "..", "  ", ""])
def test_the_run_id_must_be_a_plain_name(run_id):
    with pytest.raises(UsageError, match="must be a plain folder name"):
        config_of(run_args("--run_id", run_id))


@pytest.mark.parametrize("run_id", ["nightly-2026-11-01", "a.b", "r_1"])
def test_plain_run_ids_are_kept(run_id):
    c = config_of(run_args("--run_id", run_id))
    assert c.run_id == run_id and c.run_uri == f"{c.output}/{run_id}/"


@pytest.mark.parametrize(
    "inputs,output",
    [
        (["imgs/"], "imgs/results"),
        (["imgs"], "imgs"),
        (["other/", "imgs/*.png"], "imgs/out"),  # a glob's base folder
        (["s3://b/in/"], "s3://b/in/out"),
    ],
)
def test_an_output_inside_an_input_is_refused(inputs, output):
    with pytest.raises(UsageError, match="is inside the input .*choose an output outside it"):
        config_of(["--input", *inputs, "--output", output, "--model", "m"])


@pytest.mark.parametrize(
    "inputs,output",
    [
        (["imgs/"], "imgs-results"),  # a sibling whose name starts the same
        (["s3://b/in/"], "s3://b/out"),
        (["manifest:lists/a.txt"], "lists/out"),  # a manifest names images anywhere
    ],
)
def test_an_output_beside_an_input_is_fine(inputs, output):
    assert config_of(["--input", *inputs, "--output", output, "--model", "m"]).output


@pytest.mark.parametrize(
    "argv,message",
    [
        # embeddings.check
        (run_args("--embeddings", "--incremental"), "--embeddings cannot be combined"),
        # labels.check
        (run_args("--labels", "manifest"), "--labels manifest takes the labels of manifest"),
        (
            ["--input", "manifest:l.txt", "--output", "o", "--model", "m", "--incremental"],
            "--incremental cannot be combined with manifest: inputs",
        ),
        # template.check
        (["--model", "gs://b/m", *TEMPLATE, "--run_id", "x"], "--run_id is a launch parameter"),
        (
            ["--model", "m", "--template_location", "gs://b/t.json"],
            "add --runner DataflowRunner",
        ),
    ],
)
def test_each_features_check_is_called(argv, message):
    with pytest.raises(UsageError, match=message):
        config_of(argv)


def test_unknown_flags_are_refused_with_the_message():
    with pytest.raises(UsageError) as e:
        config_of(run_args("--no_such_flag", "1", "--s3_endpoint", "http://x"))
    assert str(e.value) == (
        "unknown option(s): --no_such_flag --s3_endpoint (neither a bucketscore nor a Beam "
        "pipeline option; see bucketscore score --help)"
    )


def test_bad_values_are_argparse_errors(capsys):
    for argv in (
        ["--top_k", "0"],
        ["--min_confidence", "2"],
        ["--backend", "tflite"],
        ["--precision", "int4"],
        ["--sample", "0"],
    ):
        with pytest.raises(SystemExit) as e:
            config_of(run_args(*argv))
        assert e.value.code == 2
        assert argv[0] in capsys.readouterr().err
    with pytest.raises(UsageError, match="needs a group"):  # a converter's ValueError
        config_of(run_args("--labels", "regex:nogroup"))


def test_arguments_record_every_option_with_secrets_redacted():
    c = config_of(
        run_args(
            "--labels",
            "csv:labels.csv",
            "--s3_access_key_id",
            "AKIAEXAMPLEKEY",
            "--s3_secret_access_key=wJalrXUtnFEMIsecret",
            "--s3_endpoint_url",
            "http://127.0.0.1:8333",
        )
    )
    recorded = c.arguments()
    assert list(recorded) == OPTIONS + ["beam_options"]
    assert recorded["input"] == [os.path.abspath("imgs") + "/"]  # a list, for JSON
    assert recorded["labels"] == "csv:" + os.path.abspath("labels.csv")
    assert recorded["top_k"] == 5 and recorded["run_id"] == c.run_id
    assert recorded["beam_options"] == [
        "--s3_access_key_id",
        "***",
        "--s3_secret_access_key=***",
        "--s3_endpoint_url",
        "http://127.0.0.1:8333",
    ]
    assert "AKIAEXAMPLEKEY" not in str(recorded) and "wJalrXUtnFEMIsecret" not in str(recorded)


def test_help_lists_every_option_with_its_help():
    assert [f.metadata["flag"].name for f in score_fields()] == OPTIONS
    fields = {f.name for f in dataclasses.fields(ScoreConfig)} - {"beam_args"}
    assert len(fields) == len(OPTIONS)  # every field but beam_args is an option
    text = _parser().format_help()
    text = text[text.index("options:") :]  # the options, not the usage line
    # The required three in their own group (after the options), the rest in field order.
    required = text[text.index("required arguments") :]
    optional = text[: text.index("required arguments")]
    assert [n for n in OPTIONS if f"--{n} " in required] == ["input", "output", "model"]
    positions = [optional.index(f"--{n} ") for n in OPTIONS[3:]]
    assert positions == sorted(positions)  # in field order
    squashed = " ".join(text.split())
    for f in score_fields():
        flag = f.metadata["flag"]
        assert " ".join(flag.help.split())[:40] in squashed, flag.name
    assert "(default 5)" in squashed and "(required)" in squashed
