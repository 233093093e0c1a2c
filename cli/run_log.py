"""A run's log file: Beam's and the worker processes' messages go there, not to the terminal.

A failing Beam run prints tracebacks from every worker process (~100 lines for one storage
error). `capture(run_id)` sends the process's stderr file descriptor (inherited by the
worker processes Beam starts, and used by TensorFlow's C++ logging) and Python's logging to
`<cache>/logs/<run_id>.log` for the duration of the run, while `sys.stderr` keeps writing
to the terminal: the command prints one cause line and the log's path. With `-v`
(`enabled=False`) nothing is redirected. The newest KEEP_LOGS logs are kept.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Iterator, Optional

from bucketscore.storage.local_cache import cache_root, prune

KEEP_LOGS = 50


@dataclass
class RunLog:
    path: Optional[str]  # None: not captured (-v)

    def tail(self, lines: int = 40) -> str:
        if not self.path or not os.path.exists(self.path):
            return ""
        with open(self.path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def log_folder() -> str:
    return cache_root("logs")


@contextlib.contextmanager
def capture(run_id: str, enabled: bool = True) -> Iterator[RunLog]:
    """Redirect stderr (the file descriptor) and logging to the run's log file."""
    if not enabled:
        yield RunLog(None)
        return
    folder = log_folder()
    prune(folder, keep=KEEP_LOGS - 1)
    path = os.path.join(folder, f"{run_id or 'run'}.log")
    sys.stderr.flush()
    saved_fd = os.dup(2)
    log_file = open(path, "w", buffering=1, errors="replace")
    terminal = os.fdopen(os.dup(saved_fd), "w", buffering=1, errors="replace")
    old_stderr = sys.stderr
    # Logging's handlers write to sys.stderr's file descriptor 2 (or to a test's capture,
    # left as it is): with fd 2 on the log file, Beam's records land there too.
    os.dup2(log_file.fileno(), 2)
    # What the command itself writes to sys.stderr still reaches the terminal (through the
    # stream wrapper the CLI installed, which scrubs secrets); a stream that is not file
    # descriptor 2 (a test's capture, a notebook) is left as it is.
    if _writes_to_fd2(old_stderr):
        sys.stderr = _Retarget(old_stderr, terminal)
    try:
        yield RunLog(path)
    finally:
        sys.stderr.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        sys.stderr = old_stderr
        terminal.close()
        log_file.close()


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


class _Retarget:
    """`stream` (the CLI's scrubbing wrapper of the original stderr) writing to `target`."""

    def __init__(self, stream, target):
        self._stream = stream
        self._target = target

    def write(self, text: str) -> int:
        scrub = getattr(self._stream, "scrub", None)
        return self._target.write(scrub(text) if scrub else text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    def __getattr__(self, name):
        return getattr(self._target, name)
