"""Progress that moves: a real run of a few thousand images in a pseudo-terminal shows the
counts growing, with a rate, and its last progress line equals the run's totals, before
the final summary; in a log (no terminal) a `progress:` line is printed instead.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from tests.support.helpers import REPO, copy_demo_subset, write_file

BUCKETSCORE = os.path.join(os.path.dirname(sys.executable), "bucketscore")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
COPIES = 20  # ~9,000 tiny digits: a few seconds of scoring on two cores


@pytest.fixture(scope="module")
def many_small_images(demo_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    rels = copy_demo_subset(demo_bundle.data, str(root / "src"), per_class=45)
    for copy in range(COPIES):
        for rel in rels:
            write_file(str(root / "in" / f"c{copy}" / rel), (root / "src" / rel).read_bytes())
    return str(root / "in"), len(rels) * COPIES


def _run_in_terminal(argv, timeout=600) -> tuple[int, str]:
    """Run argv with stdout and stderr on a pseudo-terminal; (exit status, all output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=dict(os.environ, COLUMNS="160"),
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def _progress_lines(output: str) -> list[str]:
    text = ANSI.sub("", output)
    return [
        part.strip()
        for part in re.split(r"[\r\n]", text)
        if re.search(r"listed \d+\s+scored \d+\s+failed \d+", part)
    ]


@pytest.mark.parametrize(
    "mode",
    [[], ["--direct_num_workers", "1", "--direct_running_mode", "in_memory"]],
    ids=["worker-processes", "in-memory"],
)
def test_progress_moves_on_a_terminal(demo_bundle, many_small_images, tmp_path, mode):
    images, n = many_small_images
    status, output = _run_in_terminal(
        [
            BUCKETSCORE,
            "score",
            "--input",
            images,
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "out"),
            "--run_id",
            "p",
            *mode,
        ]
    )
    assert status == 0, output[-3000:]
    lines = _progress_lines(output)
    scored = [int(re.search(r"scored (\d+)", line).group(1)) for line in lines]
    intermediate = sorted({s for s in scored if 0 < s < n})
    assert len(intermediate) >= 3, lines
    assert scored == sorted(scored), "the counts went backwards"
    assert any("img/s" in line for line in lines)
    last = lines[-1]
    assert re.search(rf"listed {n}\s+scored {n}\s+failed 0", last), last
    clean = ANSI.sub("", output)
    assert clean.rindex(last) < clean.index(f"images listed: {n}  scored: {n}")


def test_progress_in_a_log_prints_lines(demo_bundle, many_small_images, tmp_path):
    images, n = many_small_images
    done = subprocess.run(
        [
            BUCKETSCORE,
            "score",
            "--input",
            images,
            "--model",
            demo_bundle.model,
            "--output",
            str(tmp_path / "out"),
            "--run_id",
            "log",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert lines and re.search(rf"listed {n}\s+scored {n}\s+failed 0", lines[-1])
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr
