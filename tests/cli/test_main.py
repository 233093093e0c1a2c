"""cli.main: the parser lists every command, each with examples in its --help; exit status 2
for a wrong command (one line); secrets scrubbed by main's wrappers from stdout, stderr and
log records."""

from __future__ import annotations

import logging
import sys

import pytest

from bucketscore.cli.main import _commands, _LogFilter, _ScrubbingStream, build_parser, main
from tests.support.helpers import copy_demo_subset

# Every subcommand, as the README documents them.
COMMANDS = [
    "score",
    "demo",
    "download",
    "runs",
    "compare",
    "threshold",
    "classify",
    "serve",
    "export",
    "train",
    "tune",
    "quantize",
]
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"


def test_the_parser_lists_every_command_with_what_it_does():
    commands = _commands()
    assert sorted(commands) == sorted(COMMANDS)
    text = build_parser(commands).format_help()
    assert "examples:" in text and "bucketscore score --input" in text
    squashed = " ".join(text.split())
    for name, module in commands.items():
        assert f"{name} {' '.join(module.HELP.split())}" in squashed, name


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_examples(name, capsys):
    parser = build_parser(_commands())
    with pytest.raises(SystemExit) as e:
        parser.parse_args([name, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: bucketscore {name}")
    examples = text[text.index("examples:") :]
    assert f"bucketscore {name}" in examples  # the examples run this very command


def _log_filters() -> list:
    return [f for h in logging.getLogger().handlers for f in h.filters]


def test_no_command_prints_the_help_and_exits_2(capsys):
    before = _log_filters()
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: bucketscore") and "examples:" in out
    assert _log_filters() == before  # no filter of main's left on the handlers


def test_an_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("bucketscore: error: argument COMMAND: invalid choice: 'frobnicate'")
    )


def test_a_wrong_command_line_exits_2_with_one_line(capsys, tmp_path):
    assert main(["score", "--input", str(tmp_path), "--model", "m"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err == "bucketscore score: error: the following arguments are required: --output\n"
    )
    assert captured.out == ""


def test_secrets_on_the_command_line_are_scrubbed_from_stderr(capsys):
    status = main(
        [
            "score",
            "--input",
            "imgs",
            "--model",
            "m",
            "--output",
            "out",
            "--s3_secret_access_key",
            SECRET,
            f"--s3_typo={SECRET}",  # echoed by the unknown-flag message
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert err == (
        "bucketscore score: error: unknown option(s): --s3_typo=*** (neither a bucketscore nor "
        "a Beam pipeline option; see bucketscore score --help)\n"
    )
    assert sys.stdout is not None and not isinstance(sys.stderr, _ScrubbingStream)  # put back


def test_secrets_in_the_environment_are_scrubbed_from_stdout_and_stderr(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    run = tmp_path / f"runs-{SECRET}" / "r1"
    run.mkdir(parents=True)
    (run / "summary.json").write_text("{}\n")
    dest = tmp_path / f"dl-{SECRET}"
    assert main(["download", str(run), str(dest)]) == 0
    out = capsys.readouterr().out
    assert out == f"{tmp_path}/dl-***/r1/summary.json\n"  # the real path holds the secret
    assert (dest / "r1" / "summary.json").exists()

    empty = tmp_path / f"empty-{SECRET}"
    empty.mkdir()
    assert main(["runs", "--output", str(empty)]) == 0
    assert capsys.readouterr().err == f"bucketscore runs: no runs under {tmp_path}/empty-***\n"


def test_secrets_are_scrubbed_from_log_records(demo_bundle, tmp_path, capsys, caplog, monkeypatch):
    """A real run whose output path holds the secret; its INFO record (replacing the earlier
    run) and everything it prints come out scrubbed."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("BUCKETSCORE_CACHE_DIR", str(tmp_path / "cache"))
    images = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(images), per_class=1)
    out = tmp_path / f"out-{SECRET}"
    (out / "r").mkdir(parents=True)
    (out / "r" / "_SUCCESS").write_text("{}\n")  # an earlier run with this id
    caplog.set_level(logging.INFO)
    before = _log_filters()
    argv = ["score", "--input", str(images), "--model", demo_bundle.model, "--output", str(out)]
    assert main(argv + ["--run_id", "r", "--no_progress"]) == 0
    replacing = [r for r in caplog.records if "replacing the earlier results" in r.getMessage()]
    assert [r.getMessage() for r in replacing] == [
        f"replacing the earlier results in {tmp_path}/out-***/r/"
    ]
    assert not [r for r in caplog.records if SECRET in r.getMessage()]
    printed = capsys.readouterr()
    assert f"results: {tmp_path}/out-***/r/" in printed.out
    assert SECRET not in printed.out + printed.err
    assert _log_filters() == before  # main's filter is gone once the command returned


def test_the_log_filter_scrubs_secrets():
    log_filter = _LogFilter([SECRET])

    def record(msg, *args):
        return logging.LogRecord("beam", logging.WARNING, __file__, 1, msg, args, None)

    r = record("could not reach %s with key %s", "s3://b", SECRET)
    assert log_filter.filter(r)
    assert r.getMessage() == "could not reach s3://b with key ***"
    plain = record("nothing secret: %d images", 3)
    assert log_filter.filter(plain) and plain.args == (3,)  # left as it was
