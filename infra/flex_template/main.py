"""Dataflow Flex Template entry point: `bucketscore score` with the launch parameters.

The Flex Template launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE) with every launch
parameter as one `--name=value` flag, plus the job's own options (`--project`, `--region`,
`--job_name`, `--temp_location`, `--staging_location`, `--sdk_container_image`, ...).
`flex_argv` turns that into what `bucketscore score` takes:

* `--embeddings=true` / `--allow_empty=false` (a launch always gives a value) become the
  bare flag or nothing (any on/off option of `score`);
* `--input=URI URI ...` (one parameter) becomes `--input URI URI ...`; the value is split
  as a shell would, so a URI holding a space can be quoted;
* added unless given: `--runner=DataflowRunner` (Beam's default would be the DirectRunner on
  the launcher VM); `--sdk_container_image=$BUCKETSCORE_SDK_CONTAINER_IMAGE` with
  `--sdk_location=container` (workers run this same image, bucketscore and TensorFlow
  installed); `--no_wait_until_finish` (the launcher must return once the job is submitted).

The same file works by hand:
    python infra/flex_template/main.py --input=gs://b/images/ --model=gs://b/models/v1 \\
        --output=gs://b/results/ --project=P --region=R --temp_location=gs://b/tmp
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off", "")


def _given(argv: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in argv)


def _score_parser() -> argparse.ArgumentParser:
    from bucketscore.cli.main import _commands, build_parser
    from bucketscore.private_apis import subcommand_parser

    return subcommand_parser(build_parser(_commands()), "score")


def flex_argv(argv: list[str], environ: dict | None = None) -> list[str]:
    """The `bucketscore score` arguments for one Flex Template launch."""
    environ = os.environ if environ is None else environ
    from bucketscore.private_apis import option_kinds

    switches, lists = option_kinds(_score_parser())
    out: list[str] = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if eq and name in switches:
            if value.strip().lower() in TRUE:
                out.append(name)
            elif value.strip().lower() not in FALSE:
                out.append(arg)  # let `score` refuse it with its own message
            continue
        if eq and name in lists:
            out += [name, *shlex.split(value)]
            continue
        out.append(arg)
    if not _given(out, "--runner"):
        out.append("--runner=DataflowRunner")
    image = environ.get("BUCKETSCORE_SDK_CONTAINER_IMAGE", "")
    if image and not _given(out, "--sdk_container_image"):
        out.append(f"--sdk_container_image={image}")
    if _given(out, "--sdk_container_image") and not _given(out, "--sdk_location"):
        out.append("--sdk_location=container")
    if not _given(out, "--no_wait_until_finish"):
        out.append("--no_wait_until_finish")
    return out


def main(argv: list[str] | None = None) -> int:
    from bucketscore.cli.main import main as cli_main

    return cli_main(["score", *flex_argv(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
