"""`bucketscore serve`, the command: its help, and the wrong commands that exit 2 with one
line before anything listens (what it serves: tests/cli/test_serving.py)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from bucketscore.cli.main import main


def test_help_lists_the_endpoints_and_examples():
    text = subprocess.run(
        [sys.executable, "-m", "bucketscore.cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    squashed = " ".join(text.split())
    for part in (
        "POST /v1/models/NAME:predict",
        "POST /v1/models/NAME:classify",
        "GET /v1/models/NAME",
        "GET /healthz",
        "bucketscore serve --model models/digits --port 8080",
        "curl -s --data-binary @digit.png",
        "--max_batch",
        "--max_body_mb",
        "pip install 'bucketscore[serve]'",
    ):
        assert part in squashed, part
    top = subprocess.run(
        [sys.executable, "-m", "bucketscore.cli.main", "--help"], capture_output=True, text=True
    ).stdout
    assert "serve" in top and "scoring URL" in " ".join(top.split())


@pytest.fixture
def taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["serve", "--model", "{tmp}/no-bundle"], "no model bundle"),
        (["serve", "--model", "{model}", "--port", "70000"], "--port must be 0 to 65535"),
        (["serve", "--model", "{model}", "--port", "{taken}"], "cannot listen on 127.0.0.1:"),
        (["serve", "--model", "{model}", "--max_body_mb", "0"], "must be more than 0"),
        (["serve", "--model", "{model}", "--max_batch", "0"], "at least 1"),
        (["serve", "--model", "{model}", "--backend", "torch"], "has no model.pt2"),
        (["serve", "--model", "{model}", "--s3_endpont_url=x"], "unknown option"),
    ],
)
def test_wrong_commands_exit_2_with_one_line(
    demo_bundle, tmp_path, taken_port, capsys, argv, message
):
    argv = [
        a.replace("{tmp}", str(tmp_path))
        .replace("{model}", demo_bundle.model)
        .replace("{taken}", str(taken_port))
        for a in argv
    ]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_without_the_serve_extra_it_says_what_to_install(demo_bundle, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an install without it has
    assert main(["serve", "--model", demo_bundle.model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "bucketscore serve needs the serve extra (uvicorn is not installed): "
        "pip install 'bucketscore[serve]'"
    )
