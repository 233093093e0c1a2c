"""Exceptions in words a person can read: one line, never a traceback.

The only place that turns an exception into the text of an errors row, a log line or a
command's error message; every layer uses it. `UsageError` is the one exception for "the
command or a setting is wrong" (exit status 2, one line), whichever layer finds it.
"""

from __future__ import annotations

MAX_MESSAGE = 500


class UsageError(ValueError):
    """The command line or a setting is wrong: exit status 2, one line, no traceback."""


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first non-empty line of the exception's text (capped), or its type's name."""
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return lines[0][:limit] if lines else type(e).__name__


def error_message(e: BaseException) -> str:
    """`Type: first line` (capped at MAX_MESSAGE characters): what errors.csv says."""
    text = str(e).strip().splitlines()
    msg = text[0][:MAX_MESSAGE] if text else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def described(e: BaseException) -> str:
    """`Type: first line` with first_line's cap: for messages that name a file or bucket."""
    return f"{type(e).__name__}: {first_line(e)}"
