"""bucketscore.errors: an exception in one readable line (the errors-row text, log lines and
command messages), and UsageError, the one "the command or a setting is wrong" error.
"""

from __future__ import annotations

import pytest

from bucketscore.errors import MAX_MESSAGE, UsageError, described, error_message, first_line


class _Quiet(Exception):
    """An exception whose text is empty."""


def test_first_line_skips_blank_lines_and_is_capped():
    error = ValueError("\n\n   \nthe first real line\nthe second\n")
    assert first_line(error) == "the first real line"
    assert first_line(ValueError("x" * 400)) == "x" * 300
    assert first_line(ValueError("x" * 400), limit=10) == "x" * 10
    assert first_line(_Quiet()) == "_Quiet"
    assert first_line(KeyError("k")) == "'k'"


def test_error_message_is_the_type_and_the_first_line():
    assert error_message(OSError("disk full\ntraceback noise")) == "OSError: disk full"
    assert error_message(_Quiet()) == "_Quiet"
    long = error_message(RuntimeError("y" * 2000))
    assert long == "RuntimeError: " + "y" * MAX_MESSAGE and MAX_MESSAGE == 500
    # Leading and trailing blank space is no line.
    assert error_message(ValueError("\n  second\n")) == "ValueError: second"


def test_described_names_the_type_with_first_lines_cap():
    assert (
        described(FileNotFoundError("s3://b/x: gone\nmore")) == "FileNotFoundError: s3://b/x: gone"
    )
    assert described(ValueError("z" * 400)) == "ValueError: " + "z" * 300
    assert described(_Quiet()) == "_Quiet: _Quiet"


def test_usage_error_is_a_value_error_with_its_message():
    with pytest.raises(ValueError, match=r"^--input s3:/x: not a local path$"):
        raise UsageError("--input s3:/x: not a local path")
