"""TensorFlow's start-up chatter kept off the terminal, everything else on it.

TensorFlow 2.21 logs through absl from C++ before absl is initialised, so
TF_CPP_MIN_LOG_LEVEL does not silence its first lines ("WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR", "I0000 ... oneDNN custom operations
are on ..."): on a first `make score` they were the noise a new user saw. `filtered_stderr`
puts a pipe on file descriptor 2 for the duration of a command and forwards every line but
those: absl's INFO lines and that one notice. Warnings and errors pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from typing import Iterator

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*)$"
)


def _uses_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def filtered_stderr(drop: re.Pattern = NOISE) -> Iterator[None]:
    """File descriptor 2 through a filter that drops lines matching `drop` (bytes), for the
    duration of the block. Nothing changes when sys.stderr is not file descriptor 2 (a
    test's capture, a notebook)."""
    if not _uses_fd2(sys.stderr):
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as source:
            while chunk := source.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not drop.match(line))
                if kept:
                    os.write(terminal, kept)
        if pending and not drop.match(pending):
            os.write(terminal, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # the pipe's last writer here: the pump sees its end
        thread.join(timeout=5)
        os.close(terminal)
