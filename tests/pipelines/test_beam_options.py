"""pipelines.beam_options: a flag's value in either form, which runners are local, and the
flags no Beam PipelineOptions class defines."""

from __future__ import annotations

import pytest

from bucketscore.pipelines.beam_options import flag_value, is_local, unknown_beam_flags


@pytest.mark.parametrize(
    "args,value",
    [
        (["--runner", "DataflowRunner"], "DataflowRunner"),
        (["--runner=DataflowRunner"], "DataflowRunner"),
        (["--labels=x", "--runner=a=b"], "a=b"),  # only the first = splits
        (["--runner=One", "--runner", "Two"], "Two"),  # the last one given wins
        (["--top_k", "3", "--runner"], ""),  # at the end with no value
        (["--runner_v2=yes", "--runners", "x"], None),  # other flags with that prefix
        (["runner", "DataflowRunner"], None),  # not a flag
        ([], None),
    ],
)
def test_flag_value(args, value):
    assert flag_value(args, "runner") == value


@pytest.mark.parametrize(
    "args,local",
    [
        ([], True),  # Beam's default: the DirectRunner
        (["--runner", "DirectRunner"], True),
        (["--runner=direct"], True),
        (["--runner", " SwitchingDirectRunner "], True),
        (["--runner", "DataflowRunner"], False),
        (["--runner=PortableRunner"], False),
    ],
)
def test_is_local(args, local):
    assert is_local(args) is local


def test_unknown_beam_flags_are_the_ones_no_options_class_defines():
    flags = [
        "--runner",
        "DirectRunner",
        "--direct_num_workers=2",
        "--s3_endpoint_url",
        "http://127.0.0.1:8333",
        "--project",
        "p",
        "--no_such_flag",
        "1",
        "--s3_endpoint=http://x",  # a typo, not an abbreviation Beam would take
    ]
    assert unknown_beam_flags(flags) == ["--no_such_flag", "--s3_endpoint=http://x"]
    assert unknown_beam_flags([]) == []
    assert unknown_beam_flags(["--temp_location", "gs://b/tmp", "--save_main_session"]) == []
