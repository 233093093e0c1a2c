"""pipelines.features.selection: --exclude, --sample, --limit as options and their checks."""

import argparse

import pytest

from bucketscore.errors import UsageError
from bucketscore.pipelines.features import selection
from bucketscore.pipelines.options import add_score_arguments, config_from_args


def config_of(*argv):
    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    args, extra = parser.parse_known_args(
        ["--input", "in/", "--output", "out/", "--model", "m", *argv]
    )
    return config_from_args(args, extra)


def test_the_flags_parse_and_are_recorded():
    c = config_of("--exclude", "*/thumbs/*", "raw/*", "--sample", "50")
    assert c.exclude == ("*/thumbs/*", "raw/*") and c.sample == 50 and c.limit is None
    assert selection.active(c) and not selection.active(config_of())
    args = c.arguments()
    assert args["exclude"] == ["*/thumbs/*", "raw/*"] and args["sample"] == 50
    assert "a sample of 50" in selection.describe(c) and "*/thumbs/*" in selection.describe(c)


@pytest.mark.parametrize(
    "argv,message",
    [
        (("--sample", "5", "--limit", "5"), "give one"),
        (("--sample", "5", "--incremental"), "--sample cannot be combined with --incremental"),
        (("--limit", "5", "--incremental"), "--limit cannot be combined with --incremental"),
    ],
)
def test_what_cannot_be_combined_is_refused(argv, message):
    with pytest.raises(UsageError, match=message):
        config_of(*argv)


def test_n_must_be_positive():
    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "--sample", "0"])
