"""pipelines.progress: the progress line's text (format_progress), the rate (_Rate), and
ProgressPrinter in a log and on a terminal, fed by the counters of real Beam pipelines;
finish() shows the run's true totals last."""

from __future__ import annotations

import io
import os
import time

import apache_beam as beam
import pytest

from bucketscore.pipelines.progress import ProgressPrinter, _Rate, format_progress
from bucketscore.transforms import counters


class _Slow(beam.DoFn):
    def __init__(self):
        self._scored = counters.counter("scored")

    def process(self, x):
        time.sleep(0.02)
        self._scored.inc()
        yield x


def test_progress_lines_follow_the_counters():
    stream = io.StringIO()
    with ProgressPrinter(stream=stream, log_every=0.2):
        counters.counter("listed").inc(60)
        with beam.Pipeline() as p:
            _ = p | beam.Create(list(range(60))) | beam.ParDo(_Slow())
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("progress:")]
    assert len(lines) >= 2
    assert "listed 60" in lines[-1] and "img/s" in stream.getvalue()
    assert "ETA" in stream.getvalue()
    assert counters.snapshot()["scored"] == 60


def test_progress_adds_up_worker_processes():
    """Local runs score in worker processes (pipelines/workers.py): their counts must show."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from bucketscore.pipelines.runners import make_runner, runner_of

    class SlowInWorker(beam.DoFn):  # defined here: pickled by value into the workers
        def process(self, x):
            import time as t

            from bucketscore.transforms import counters as board

            t.sleep(0.03)
            board.counter("scored").inc()
            yield x

    stream = io.StringIO()
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with ProgressPrinter(stream=stream, log_every=0.2):
        counters.counter("listed").inc(120)
        with beam.Pipeline(runner=make_runner(runner_of([]), options), options=options) as p:
            _ = p | beam.Create(list(range(120))) | beam.Reshuffle() | beam.ParDo(SlowInWorker())
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("progress:")]
    scored = [int(line.split("scored ")[1].split()[0]) for line in lines]
    assert "scored" not in counters.snapshot()  # the counting happened in the workers...
    assert max(scored) >= 60, lines  # ...and reached the printer while the run went on
    assert counters.DIR_ENV not in os.environ  # the shared folder is cleaned up


def test_format_progress():
    line = format_progress({"listed": 100, "scored": 40, "failed": 10}, 12.3, 25.0)
    assert line == "listed 100  scored 40  failed 10  25.0 img/s  ETA 2s  [12s]"


@pytest.mark.parametrize(
    "counts,elapsed,rate,line",
    [
        # nothing done yet: no rate, no ETA; elapsed seconds are truncated
        ({"listed": 10}, 3.9, None, "listed 10  scored 0  failed 0  [3s]"),
        # (100 - 50) / 30 = 1.67 s -> rounded to 2
        (
            {"listed": 100, "scored": 45, "failed": 5},
            7.0,
            30.0,
            "listed 100  scored 45  failed 5  30.0 img/s  ETA 2s  [7s]",
        ),
        # everything listed is done: a rate but no ETA
        (
            {"listed": 8, "scored": 6, "failed": 2},
            4.2,
            2.5,
            "listed 8  scored 6  failed 2  2.5 img/s  [4s]",
        ),
        # listing behind scoring (still going): no ETA either
        ({"listed": 3, "scored": 5}, 1.0, 5.0, "listed 3  scored 5  failed 0  5.0 img/s  [1s]"),
    ],
)
def test_format_progress_cases(counts, elapsed, rate, line):
    assert format_progress(counts, elapsed, rate) == line


def test_rate_counts_from_the_first_image_done():
    rate = _Rate()
    assert rate.update(0, 100.0) is None  # start-up: nothing done yet
    assert rate.update(0, 130.0) is None
    assert rate.update(4, 131.0) is None  # the first images done start the clock
    assert rate.update(4, 132.0) is None  # none done since
    assert rate.update(24, 136.0) == pytest.approx(20 / 5)  # 20 more in 5 s
    assert rate.update(44, 141.0) == pytest.approx(40 / 10)


def _progress_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("progress:")]


def test_in_a_log_finish_prints_the_true_totals_last():
    stream = io.StringIO()  # not a terminal: progress lines
    with ProgressPrinter(stream=stream, log_every=60.0) as printer:
        counters.counter("listed").inc(9)
        counters.counter("scored").inc(2)
        printer.finish({"listed": 12, "scored": 10, "failed": 2})
    lines = _progress_lines(stream.getvalue())
    # log_every is a minute: the only line is the one finish() printed, the totals given
    assert len(lines) == 1
    assert lines[0].startswith("progress: listed 12  scored 10  failed 2  ")
    assert stream.getvalue().count("listed 9") == 0


def test_finish_without_totals_prints_nothing():
    stream = io.StringIO()
    with ProgressPrinter(stream=stream, log_every=60.0) as printer:
        printer.finish({})
    assert stream.getvalue() == ""


def test_the_printer_resets_the_board_and_cleans_up_its_folder(monkeypatch):
    monkeypatch.delenv(counters.DIR_ENV, raising=False)
    counters.counter("scored").inc(5)  # a previous run's counts
    stream = io.StringIO()
    with ProgressPrinter(stream=stream, log_every=60.0):
        folder = os.environ[counters.DIR_ENV]  # worker processes inherit it
        assert os.path.isdir(folder)
        assert counters.snapshot().get("scored", 0) == 0
    assert counters.DIR_ENV not in os.environ
    assert not os.path.exists(folder)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_ends_on_the_totals():
    stream = _Terminal()
    with ProgressPrinter(stream=stream, interval=0.05) as printer:
        counters.counter("listed").inc(40)
        counters.counter("scored").inc(10)
        deadline = time.monotonic() + 30
        while "scored 10" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        printer.finish({"listed": 40, "scored": 37, "failed": 3})
        # Several refresh intervals pass before the run leaves the context: no refresh
        # of the live counters (still 10 scored) may draw over the final frame.
        time.sleep(0.3)
    text = stream.getvalue()
    assert "listed 40  scored 10  failed 0" in text  # drawn while the run went on
    assert "\x1b[" in text  # redrawn in place (terminal control sequences), not lines
    assert not _progress_lines(text)
    last = text.rsplit("listed ", 1)[1]
    assert last.startswith("40  scored 37  failed 3")
