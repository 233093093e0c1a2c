"""Counters under the `bucketscore` Beam metrics namespace, mirrored for live progress
(`tally`: the board alone, for the in-process executor; this module imports no Beam).

Every stage counts with `counter(name)`: a Beam metrics counter (what Dataflow's UI and
`PipelineResult.metrics()` show) and a board that the command line reads while a
DirectRunner run is going (Beam's own metrics are only final at the end).

Local runs use worker processes (pipelines/workers.py), so each process keeps its own
board and, when `$BUCKETSCORE_PROGRESS_DIR` is set (the progress printer sets it for the
run; worker processes inherit it), writes it to `<dir>/<pid>.json` at most every
`FLUSH_EVERY` seconds. `snapshot()` adds up this process's board and every other
process's file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter as _Tally
from typing import Optional

NAMESPACE = "bucketscore"
DIR_ENV = "BUCKETSCORE_PROGRESS_DIR"
FLUSH_EVERY = 0.25  # seconds: the terminal line is redrawn as often

_lock = threading.Lock()
_board: _Tally = _Tally()
_last_flush = 0.0
_UNSET = object()
_folder = _UNSET  # $BUCKETSCORE_PROGRESS_DIR, read once per process (and after reset())
_flusher: Optional[threading.Thread] = None  # writes the last counts of a quiet stage
_dirty = False


class _Counter:
    def __init__(self, name: str):
        from apache_beam.metrics import Metrics  # Beam only where Beam runs (not: tally)

        self._name = name
        self._beam = Metrics.counter(NAMESPACE, name)

    def inc(self, n: int = 1) -> None:
        self._beam.inc(n)
        _count(self._name, n)

    def __reduce__(self):  # DoFns are pickled: rebuild from the name
        return (_Counter, (self._name,))


def counter(name: str) -> _Counter:
    """A Beam counter of the `bucketscore` namespace, mirrored on the board."""
    return _Counter(name)


def tally(name: str, n: int = 1) -> None:
    """Count on the board only (the in-process executor, pipelines/inline_run.py, which
    runs no Beam: its final counts are `snapshot()`)."""
    _count(name, n)


def _count(name: str, n: int) -> None:
    global _dirty
    with _lock:
        _board[name] += n
        _dirty = True
    _maybe_flush()


def _maybe_flush(force: bool = False) -> None:
    """Write this process's board to the shared folder, if there is one and it is time."""
    global _last_flush, _folder
    if _folder is _UNSET:
        _folder = os.environ.get(DIR_ENV) or None
    folder = _folder
    if not folder:
        return
    _start_flusher()
    now = time.monotonic()
    if not force and now - _last_flush < FLUSH_EVERY:
        return
    global _dirty
    with _lock:
        _last_flush = now
        _dirty = False
        data = json.dumps(dict(_board))
    path = os.path.join(folder, f"{os.getpid()}.json")
    tmp = f"{path}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(data)
        os.replace(tmp, path)  # readers never see half a file
    except OSError:  # the folder is gone (run over): progress is best effort
        pass


def _start_flusher() -> None:
    """One daemon thread per process that writes the board when counts changed since the
    last write: without it, a worker's last counts (its last FLUSH_EVERY seconds of work)
    would reach the progress line only if it counted again."""
    global _flusher
    if _flusher is not None and _flusher.is_alive():
        return
    with _lock:
        if _flusher is not None and _flusher.is_alive():
            return

        def loop():
            while True:
                time.sleep(FLUSH_EVERY)
                if _dirty:
                    _maybe_flush(force=True)

        _flusher = threading.Thread(target=loop, daemon=True, name="bucketscore-counts")
        _flusher.start()


def flush() -> None:
    """Write this process's board now (when a shared folder is set)."""
    _maybe_flush(force=True)


def snapshot() -> dict[str, int]:
    """The counts of this process since the last reset, plus those other processes of the
    run (worker processes) have written to the shared folder."""
    with _lock:
        total = _Tally(_board)
    folder = os.environ.get(DIR_ENV)
    if folder and os.path.isdir(folder):
        mine = f"{os.getpid()}.json"
        for name in os.listdir(folder):
            if not name.endswith(".json") or name == mine:
                continue
            try:
                with open(os.path.join(folder, name)) as f:
                    total.update(json.load(f))
            except (OSError, ValueError):  # a worker that just ended: count it next time
                continue
    return dict(total)


def reset() -> None:
    """Forget this process's counts."""
    with _lock:
        _board.clear()


def set_folder(folder: Optional[str]) -> None:
    """Share counts through `folder` from now on (None: stop), in this process and in the
    processes it starts (they inherit $BUCKETSCORE_PROGRESS_DIR)."""
    global _folder
    if folder:
        os.environ[DIR_ENV] = folder
    else:
        os.environ.pop(DIR_ENV, None)
    _folder = folder or None


def beam_counters(result) -> dict[str, int]:
    """The final `bucketscore` counters of a finished pipeline result (committed values)."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - some runners cannot be queried; metrics are optional
        return out
    for c in counters:
        value = c.committed if c.committed is not None else c.attempted
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(value or 0)
    return out
