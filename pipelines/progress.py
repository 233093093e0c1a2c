"""Live progress on the terminal for DirectRunner runs: listed, scored, failed, rate, ETA.

Reads the board of `transforms.progress` (fed by the same calls that increment the Beam
counters; worker processes share theirs through a temporary folder that the printer makes
for the run) from a background thread. On a terminal the line is redrawn in place;
in a log (scheduled jobs) a line is printed every `log_every` seconds.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Optional, TextIO

from bucketscore.transforms import counters


def format_progress(counts: dict, elapsed: float, rate: Optional[float]) -> str:
    listed, scored, failed = (counts.get(k, 0) for k in ("listed", "scored", "failed"))
    done = scored + failed
    text = f"listed {listed}  scored {scored}  failed {failed}"
    if rate:
        text += f"  {rate:.1f} img/s"
        if listed > done:
            text += f"  ETA {int((listed - done) / rate + 0.5)}s"
    return text + f"  [{int(elapsed)}s]"


class ProgressPrinter:
    """Prints progress until stopped. Use as a context manager around the run."""

    def __init__(self, stream: TextIO = None, interval: float = 1.0, log_every: float = 10.0):
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = interval if self._tty else log_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="progress")
        self._started = 0.0
        self._last_line = ""

    def __enter__(self):
        counters.reset()
        # Worker processes started from now on inherit the folder and write their counts.
        self._folder = tempfile.mkdtemp(prefix="bucketscore-progress-")
        self._previous = os.environ.get(counters.DIR_ENV)
        counters.set_folder(self._folder)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        counters.set_folder(self._previous)
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._tty and self._last_line:
            self._stream.write("\n")
            self._stream.flush()

    def _loop(self):
        first_done_at, first_done = None, 0
        while not self._stop.wait(self._interval):
            counts = counters.snapshot()
            done = counts.get("scored", 0) + counts.get("failed", 0)
            now = time.monotonic()
            if done and first_done_at is None:
                first_done_at, first_done = now, done
            rate = None
            if first_done_at is not None and now > first_done_at and done > first_done:
                rate = (done - first_done) / (now - first_done_at)
            if not counts:
                continue  # nothing counted yet
            line = format_progress(counts, now - self._started, rate)
            if self._tty:
                self._stream.write("\r" + line.ljust(len(self._last_line)))
            else:
                self._stream.write("progress: " + line + "\n")
            self._stream.flush()
            self._last_line = line
