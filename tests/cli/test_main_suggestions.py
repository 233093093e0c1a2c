"""cli.main: a mistyped flag is refused in a second with the flag it was meant to be; flags
no storage option can be are refused without loading Beam's option parser."""

import subprocess
import sys

import pytest

from bucketscore.cli.main import _commands, build_parser, main, own_options, with_suggestions


@pytest.mark.parametrize(
    "argv,wanted",
    [
        (["score", "--input", "x", "--output", "o", "--model", "m", "--top-k", "3"], "--top_k"),
        (["export", "--keras", "a", "--labels", "l", "--out", "o", "--no_onnx"], "--no-onnx"),
        (["classify", "a.png", "--model", "m", "--Top_K=3"], "--top_k"),
    ],
)
def test_dashes_for_underscores_get_the_right_spelling(argv, wanted, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"(did you mean {wanted}?)" in err[0], err


def test_near_misses_are_suggested_in_the_unknown_options_message():
    own = own_options(build_parser(_commands()), "score")
    text = with_suggestions("unknown option(s): --top_kk=3 --bogus (neither ...)", own)
    assert text == "unknown option(s): --top_kk=3 --bogus (did you mean --top_k?) (neither ...)"
    text = with_suggestions("unknown option(s): --top-k --max-pixels", own)
    assert "did you mean --top_k for --top-k, --max_pixels for --max-pixels?" in text
    assert with_suggestions("something else", own) == "something else"


@pytest.mark.parametrize(
    "command", [["classify", "a.png", "--model", "m"], ["runs", "--output", "out/"]]
)
def test_a_flag_that_is_no_storage_option_is_refused_without_loading_beam(command):
    code = (
        "import sys\nfrom bucketscore.cli.main import main\n"
        f"status = main({command + ['--bogus', '1']!r})\n"
        "print(status, 'apache_beam' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "unknown option(s): --bogus" in done.stderr
