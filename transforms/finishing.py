"""The pipeline's last step: once every sink has written, finish the run folder.

`FinishRun` runs once (on a single element), with the run's counts, accuracy figures,
written file names and report items as side inputs, so it starts only when all of them are
complete. It resolves launch values (a classic template's input, output and run id) and
calls `bucketscore.run_folder.finish.finish_run`, which writes summary.json, the CSV
tables, report.html, manifest.json and `_SUCCESS` last, or raises RunFailed.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional

import apache_beam as beam

from bucketscore.run_folder.finish import RunInfo, finish_run
from bucketscore.storage import uris
from bucketscore.transforms.launch_values import value_of


def resolved(info: RunInfo) -> RunInfo:
    """`info` with every launch value (ValueProvider) replaced by its value (call when the
    job runs)."""
    return dataclasses.replace(
        info,
        run_uri=value_of(info.run_uri),
        run_id=value_of(info.run_id),
        output_uri=value_of(info.output_uri),
        arguments={k: value_of(v) for k, v in info.arguments.items()},
    )


class FinishRun(beam.DoFn):
    """None -> the summary dict, after checking the accounting and writing every file.
    `retry_seconds`: the run's storage retry budget for these writes (None: the worker's);
    `complete`: write `_SUCCESS` too (False when the command waits for the run and
    completes it itself: run_folder.finish.complete_run)."""

    def __init__(self, info: RunInfo, retry_seconds: Optional[float] = None, complete: bool = True):
        self._info = info
        self._retry_seconds = retry_seconds
        self._complete = complete

    def setup(self) -> None:
        uris.prepare_process(self._retry_seconds)

    def process(
        self,
        _unused,
        scores: dict,
        listed: int,
        failed: int,
        missing: int,
        carried: int,
        written: list[str],
        report_items: Optional[dict] = None,
        started_at: Optional[str] = None,
        selection: Optional[dict] = None,
        checks: Optional[dict] = None,
    ) -> Iterator[dict]:
        info = resolved(self._info)
        if started_at:  # a template: the run started when the job prepared its folder
            info = dataclasses.replace(info, started_at=started_at)
        yield finish_run(
            info,
            scores,
            listed,
            failed,
            missing,
            carried,
            written,
            report_items,
            complete=self._complete,
            selection=selection,
            checks=checks,
        )
