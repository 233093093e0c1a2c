"""Starting a run from Python: `bucketscore.score(inputs, model, output, **options)`.

    import bucketscore

    run = bucketscore.score("s3://my-images/2026-11/", "s3://models/cartoons", "s3://results/",
                            top_k=3, labels="regex:(.+)_pic_\\\\d+",
                            s3_endpoint_url="http://127.0.0.1:8333")
    run.summary["accuracy"], run.predictions.head()      # bucketscore.results.Run

Every keyword is a `bucketscore score` option by its name (`top_k=3`, `incremental=True`,
`exclude=["*/thumbs/*"]`), or else a Beam pipeline option (`runner="DataflowRunner"`,
`s3_endpoint_url=...`); the options are turned into the command's arguments and checked by
the very code that checks the command line (pipelines/options.py, pipelines/plan.py): a
wrong setting raises bucketscore.errors.UsageError (a ValueError) with the command's
message, before anything runs. A run that fails raises run_folder.finish.RunFailed with the
one cause line the command prints. Returns the run read back (bucketscore.results.load).
"""

from __future__ import annotations

from typing import Any, Iterable, Union

from bucketscore.errors import UsageError


def _flags(options: dict[str, Any]) -> list[str]:
    """Keyword options -> command-line arguments: True -> --name; False/None -> left out;
    a list or tuple -> --name v1 v2 ...; anything else -> --name=value."""
    argv: list[str] = []
    for name, value in options.items():
        flag = f"--{name}"
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv.append(f"{flag}={value}")
    return argv


def score(
    inputs: Union[str, Iterable[str]],
    model: str,
    output: str,
    *,
    progress: bool = False,
    **options: Any,
):
    """Score `inputs` (a URI or several) with the bundle `model`, results under
    `output/<run_id>/`; `options`: any `bucketscore score` or Beam option by name.
    `progress`: print the live progress line to stderr. Returns bucketscore.results.Run."""
    import argparse

    from bucketscore.cli.failures import cause_line
    from bucketscore.pipelines.options import add_score_arguments, config_from_args
    from bucketscore.pipelines.plan import plan as plan_run
    from bucketscore.pipelines.run import run as run_plan
    from bucketscore.results import load
    from bucketscore.run_folder.finish import RunFailed

    if isinstance(inputs, str):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise UsageError("score: no inputs")
    parser = argparse.ArgumentParser(prog="bucketscore.score", add_help=False)
    parser.exit_on_error = False  # a bad value: UsageError, not SystemExit
    add_score_arguments(parser)
    argv = ["--input", *inputs, "--output", output, "--model", model, *_flags(options)]
    try:
        args, extra = parser.parse_known_args(argv)
    except argparse.ArgumentError as e:
        raise UsageError(str(e)) from None
    try:
        config = config_from_args(args, extra)
    except UsageError as e:
        from bucketscore.cli.main import with_suggestions
        from bucketscore.private_apis import option_strings

        message = with_suggestions(str(e), option_strings(parser))
        # said in keyword names: top_kk=3, not --top_kk=3
        message = message.replace("; see bucketscore score --help", "").replace("--", "")
        raise UsageError(message) from None
    the_plan = plan_run(config)
    if the_plan.runner.template:
        raise UsageError("score() runs a job; build a classic template with the command line")
    try:
        ran = run_plan(the_plan, show_progress=progress and the_plan.runner.local)
    except UsageError:
        raise
    except Exception as e:
        raise RunFailed(cause_line(e)) from e
    if ran.submitted_only:
        raise UsageError(
            "score() waits for its run: drop no_wait_until_finish (or use the command line)"
        )
    return load(config.run_uri, list(config.beam_args))
