"""pipelines.validators: the argparse value checks, at their boundaries, and what argparse
says when one refuses a value."""

from __future__ import annotations

import argparse

import pytest

from bucketscore.pipelines.validators import (
    fraction_below_one,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

CASES = [
    # (check, accepted text -> value, refused texts)
    (positive_int, {"1": 1, "7": 7}, ["0", "-3"]),
    (non_negative_int, {"0": 0, "12": 12}, ["-1"]),
    (positive_float, {"0.001": 0.001, "2.5": 2.5}, ["0", "-0.5", "nan"]),
    (non_negative_float, {"0": 0.0, "0.0": 0.0, "30": 30.0}, ["-0.1", "nan"]),
    (probability, {"0": 0.0, "1": 1.0, "0.25": 0.25}, ["1.01", "-0.01", "nan"]),
    (fraction_below_one, {"0": 0.0, "0.999": 0.999}, ["1", "1.0", "-0.2", "nan"]),
]


@pytest.mark.parametrize("check,accepted,refused", CASES, ids=[c[0].__name__ for c in CASES])
def test_boundaries(check, accepted, refused):
    for text, value in accepted.items():
        got = check(text)
        assert got == value and type(got) is type(value), text
    for text in refused:
        with pytest.raises(argparse.ArgumentTypeError, match=f"not {text}$"):
            check(text)


@pytest.mark.parametrize("check", [positive_int, non_negative_int])
def test_integers_refuse_fractions_and_words(check):
    for text in ("1.5", "two", ""):
        with pytest.raises(ValueError):
            check(text)


def test_argparse_names_the_option_and_the_rule(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--min_confidence", type=probability)
    parser.add_argument("--top_k", type=positive_int)
    assert parser.parse_args(["--min_confidence", "1", "--top_k", "3"]) == argparse.Namespace(
        min_confidence=1.0, top_k=3
    )
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["--min_confidence", "1.5"])
    assert e.value.code == 2
    assert "--min_confidence: must be between 0 and 1, not 1.5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--top_k", "0"])
    assert "--top_k: must be at least 1, not 0" in capsys.readouterr().err
