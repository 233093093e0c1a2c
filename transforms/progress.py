"""Counters under the `bucketscore` Beam metrics namespace, mirrored for live progress.

Every stage counts with `counter(name)`: a Beam metrics counter (what Dataflow's UI and
`PipelineResult.metrics()` show) and, in the same process, a board that the command line
reads while a DirectRunner run is going (Beam's own metrics are only final at the end).
"""
from __future__ import annotations

import threading
from collections import Counter as _Tally

import apache_beam as beam

NAMESPACE = "bucketscore"

_lock = threading.Lock()
_board: _Tally = _Tally()


class _Counter:
    def __init__(self, name: str):
        self._name = name
        self._beam = beam.metrics.Metrics.counter(NAMESPACE, name)

    def inc(self, n: int = 1) -> None:
        self._beam.inc(n)
        with _lock:
            _board[self._name] += n

    def __reduce__(self):  # DoFns are pickled: rebuild from the name
        return (_Counter, (self._name,))


def counter(name: str) -> _Counter:
    return _Counter(name)


def snapshot() -> dict[str, int]:
    """The counts seen in this process since the last reset."""
    with _lock:
        return dict(_board)


def reset() -> None:
    with _lock:
        _board.clear()


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
