"""Beam flags on a `bucketscore` command line: find one, refuse unknown ones, which runner.

Every `--flag` bucketscore does not define is handed to Beam as a pipeline option; these
helpers read such flags without building PipelineOptions (which loads Beam) where they can.
"""

from __future__ import annotations

from typing import Optional, Sequence

DIRECT_RUNNERS = ("directrunner", "switchingdirectrunner", "direct")


def flag_value(args: Sequence[str], name: str) -> Optional[str]:
    """The value of --name (either `--name=V` or `--name V`), or None if not given."""
    flag = f"--{name}"
    value = None
    for i, arg in enumerate(args):
        if arg == flag:
            value = args[i + 1] if i + 1 < len(args) else ""
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def is_local(beam_args: Sequence[str]) -> bool:
    """Whether these Beam flags run the pipeline on this machine (DirectRunner, the default)."""
    runner = (flag_value(beam_args, "runner") or "DirectRunner").strip()
    return runner.lower() in DIRECT_RUNNERS


def unknown_beam_flags(flags: list[str]) -> list[str]:
    """The flags that no Beam PipelineOptions class defines (none given: Beam not loaded)."""
    if not flags:
        return []
    from bucketscore.private_apis import beam_option_parser

    _known, unknown = beam_option_parser().parse_known_args(flags)
    return [f for f in unknown if f.startswith("-")]
