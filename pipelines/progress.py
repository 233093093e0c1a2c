"""Live progress for DirectRunner runs: listed, scored, failed, the rate and an ETA.

Reads the board of `transforms.counters` (fed by the same calls that increment the Beam
counters; worker processes share theirs through a temporary folder that the printer makes
for the run, and flush it every transforms.counters.FLUSH_EVERY, 0.25 s, while it
changes) from a background thread.

* On a terminal: a bar drawn with rich (a maintained library; it redraws in place and
  handles terminal width), refreshed every `interval` second.
* In a log (scheduled jobs, CI): one `progress:` line every `log_every` seconds.

When the run ends, `finish(totals)` draws the last line with the run's true totals (the
final Beam counters), so the last progress line always equals the summary's counts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Optional, TextIO

from bucketscore.run_folder.summary import scored_text
from bucketscore.transforms import counters


def _counts(counts: dict) -> tuple[int, int, int, int]:
    """(images the run covers, prediction rows, failed, carried over) from the board:
    `scored` counts this run's model outputs, `carried` the rows an --incremental run kept;
    with --exclude/--sample/--limit the run covers what was selected, not all it listed."""
    listed, scored, failed, carried = (
        int(counts.get(k, 0)) for k in ("listed", "scored", "failed", "carried")
    )
    covered = (
        int(counts["selected"]) if "selected" in counts else listed - int(counts.get("excluded", 0))
    )
    return covered, scored + carried, failed, carried


def _listed_text(counts: dict) -> str:
    listed = int(counts.get("listed", 0))
    parts = []
    if counts.get("excluded"):
        parts.append(f"{int(counts['excluded'])} excluded")
    if "selected" in counts:
        parts.append(f"{int(counts['selected'])} selected")
    return f"{listed} ({', '.join(parts)})" if parts else str(listed)


def format_progress(counts: dict, elapsed: float, rate: Optional[float]) -> str:
    """One progress line; its counts read as the summary's (scored = prediction rows, with
    how many were carried over by an --incremental run; what was selected of the listing)."""
    listed, rows, failed, carried = _counts(counts)
    done = rows + failed
    text = f"listed {_listed_text(counts)}  scored {scored_text(rows, carried)}  failed {failed}"
    if rate:
        text += f"  {rate:.1f} img/s"
        if listed > done:
            text += f"  ETA {int((listed - done) / rate + 0.5)}s"
    return text + f"  [{int(elapsed)}s]"


class _Rate:
    """Images done per second since the first one was done (start-up does not count)."""

    def __init__(self):
        self._first_at: Optional[float] = None
        self._first = 0

    def update(self, done: int, now: float) -> Optional[float]:
        if done and self._first_at is None:
            self._first_at, self._first = now, done
        if self._first_at is not None and now > self._first_at and done > self._first:
            return (done - self._first) / (now - self._first_at)
        return None


class ProgressPrinter:
    """Prints progress until stopped. Use as a context manager around the run."""

    def __init__(self, stream: TextIO = None, interval: float = 0.25, log_every: float = 10.0):
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = interval if self._tty else log_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="progress")
        self._started = 0.0
        self._rate = _Rate()
        self._bar = None  # rich's Progress, on a terminal
        self._task = None
        self._last: dict = {}

    def __enter__(self):
        counters.reset()
        # Worker processes started from now on inherit the folder and write their counts.
        self._folder = tempfile.mkdtemp(prefix="bucketscore-progress-")
        self._previous = os.environ.get(counters.DIR_ENV)
        counters.set_folder(self._folder)
        self._started = time.monotonic()
        if self._tty:
            self._bar = _rich_bar(self._stream)
            self._bar.start()
            self._task = self._bar.add_task(
                "scoring", total=None, listed=0, scored=0, failed=0, rate="", eta=""
            )
        self._thread.start()
        return self

    def finish(self, totals: dict) -> None:
        """Show the run's final counts (call before leaving the context)."""
        # The refresh thread stops first: a refresh after this frame would draw the
        # live counters (which may lag the totals) as the last one.
        self._stop_refreshing()
        if totals:
            self._show(dict(totals), final=True)

    def _stop_refreshing(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __exit__(self, *exc):
        self._stop_refreshing()
        counters.set_folder(self._previous)
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._bar is not None:
            self._bar.stop()

    def _loop(self):
        while not self._stop.wait(self._interval):
            counts = counters.snapshot()
            if counts:  # nothing counted yet: nothing to say
                self._show(counts)

    def _show(self, counts: dict, final: bool = False) -> None:
        now = time.monotonic()
        listed, rows, failed, carried = _counts(counts)
        rate = self._rate.update(rows - carried + failed, now)  # images worked on per second
        self._last = counts
        if self._bar is None:
            self._stream.write(
                "progress: " + format_progress(counts, now - self._started, rate) + "\n"
            )
            self._stream.flush()
            return
        done = rows + failed
        eta = (
            f"ETA {int((listed - done) / rate + 0.5)}s"
            if rate and listed > done and not final
            else ""
        )
        self._bar.update(
            self._task,
            completed=done,
            total=max(listed, done) or None,
            listed=_listed_text(counts),
            failed=failed,
            scored=scored_text(rows, carried),
            rate=f"{rate:.1f} img/s" if rate else "",
            eta=eta,
        )
        self._bar.refresh()


def _rich_bar(stream: TextIO):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream, force_terminal=True)
    return Progress(
        TextColumn(
            "listed {task.fields[listed]}  scored {task.fields[scored]}  "
            "failed {task.fields[failed]}"
        ),
        BarColumn(),
        TextColumn("{task.fields[rate]}  {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        auto_refresh=False,
    )
