"""transforms.counters: a counter increments this process's board and Beam's metric;
snapshot adds the files other processes (worker processes) wrote; flush writes this
process's board for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from bucketscore.transforms import counters
from tests.support.helpers import REPO


@pytest.fixture
def board(monkeypatch):
    """This process's board, empty, and no shared folder; both as they were afterwards."""
    monkeypatch.delenv(counters.DIR_ENV, raising=False)
    counters.set_folder(None)
    counters.reset()
    yield
    counters.reset()
    counters.set_folder(None)


class _Count(beam.DoFn):
    def __init__(self):
        self._seen = counters.counter("test_seen")

    def process(self, n):
        self._seen.inc(n)
        yield n


def test_a_counter_counts_on_the_board_and_in_beams_metrics(board):
    p = TestPipeline()
    _ = p | beam.Create([1, 2, 3, 4]) | beam.ParDo(_Count())
    result = p.run()
    result.wait_until_finish()
    assert counters.beam_counters(result) == {"test_seen": 10}
    assert counters.snapshot() == {"test_seen": 10}  # the DirectRunner ran in this process
    counters.counter("test_seen").inc()
    assert counters.snapshot() == {"test_seen": 11}
    counters.reset()
    assert counters.snapshot() == {}


def test_snapshot_adds_what_other_processes_wrote(board, tmp_path, monkeypatch):
    monkeypatch.setenv(counters.DIR_ENV, str(tmp_path))
    (tmp_path / "11111.json").write_text(json.dumps({"read": 5}))
    (tmp_path / "22222.json").write_text(json.dumps({"read": 1, "failed": 2}))
    (tmp_path / "33333.json").write_text("{half a fi")  # being written: counted next time
    (tmp_path / "notes.txt").write_text(json.dumps({"read": 1000}))
    (tmp_path / f"{os.getpid()}.json").write_text(json.dumps({"read": 100}))  # mine: the board
    counters.counter("read").inc(3)
    assert counters.snapshot() == {"read": 9, "failed": 2}


def test_flush_writes_the_board_for_the_others_to_read(board, tmp_path):
    counters.set_folder(str(tmp_path))
    assert os.environ[counters.DIR_ENV] == str(tmp_path)  # worker processes inherit it
    counters.counter("decoded").inc(4)
    counters.counter("decoded").inc(2)
    counters.flush()
    with open(tmp_path / f"{os.getpid()}.json") as f:
        assert json.load(f) == {"decoded": 6}
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]  # written whole
    # Another process counts and flushes; this one's snapshot has both.
    code = (
        "from bucketscore.transforms import counters\n"
        "counters.counter('decoded').inc(7)\ncounters.counter('failed').inc()\n"
        "counters.flush()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
    assert counters.snapshot() == {"decoded": 13, "failed": 1}


def test_without_a_folder_nothing_is_written(board, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    counters.counter("scored").inc(2)
    counters.flush()
    assert os.listdir(tmp_path) == []
    assert counters.snapshot() == {"scored": 2}


def test_a_counter_survives_pickling(board):
    import pickle

    c = pickle.loads(pickle.dumps(counters.counter("test_pickled")))
    counters.reset()
    c.inc(3)
    assert counters.snapshot().get("test_pickled") == 3
    counters.reset()
