"""A `bucketscore score` option declared once: a ScoreConfig field that is also a flag.

`option(...)` gives a dataclass field whose metadata holds its Flag: the flag's name, help,
argparse check, how the parsed value becomes the field (`convert`) and how the field is
recorded in manifest.json (`record`). ScoreConfig (pipelines/options.py) is made of such
fields; an optional feature declares its own in its module (pipelines/features/*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Flag:
    """One `score` option on the command line."""

    name: str  # --name; also its key in manifest.json "arguments"
    help: str
    argparse: dict  # type, nargs, metavar, choices, action for parser.add_argument
    convert: Callable[[Any], Any] = _same  # parsed value -> field value (ValueError: usage)
    record: Callable[[Any], Any] = _same  # field value -> manifest.json value
    required: bool = False  # argparse refuses a command line without it
    run_needs: bool = False  # a run needs it; a classic template build may leave it to launch
    cli_default: Any = None  # the default as typed on a command line (argparse's default)


_AS_FIELD = object()


def option(
    name: str,
    default: Any,
    help: str,
    *,
    convert: Callable = _same,
    record: Callable = _same,
    required: bool = False,
    run_needs: bool = False,
    cli_default: Any = _AS_FIELD,
    **argparse_kwargs,
) -> Any:
    """A ScoreConfig field that is also the `--name` option. `default` is the field's
    (a mutable or frozen-object default is given through a factory); `cli_default` what
    argparse shows as the default (by default the same, for options whose parsed value is
    the field value)."""
    if cli_default is _AS_FIELD:
        cli_default = default if convert is _same else None
    flag = Flag(name, help, argparse_kwargs, convert, record, required, run_needs, cli_default)
    if not isinstance(default, (str, int, float, bool, tuple, type(None))):
        return field(default_factory=lambda: default, metadata={"flag": flag})
    return field(default=default, metadata={"flag": flag})
