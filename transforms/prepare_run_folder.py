"""Clear a re-used run folder from inside the pipeline (a classic template's runs).

An ordinary run clears `<output>/<run_id>/` at launch (pipelines/run.py); a classic
template, whose run folder is only known when the job runs, does it here, before anything
is listed and so before any result is written. The clearing itself is
`bucketscore.run_folder.layout.clear_run_folder`.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from bucketscore.run_folder.layout import clear_run_folder, now_iso
from bucketscore.transforms.launch_values import value_of


class _ClearFn(beam.DoFn):
    def __init__(self, run_uri):
        self._run_uri = run_uri

    def process(self, _unused) -> Iterator[str]:
        clear_run_folder(value_of(self._run_uri), keep_temp=True)
        yield now_iso()  # when the run started, for its manifest


class PrepareRunFolder(beam.PTransform):
    """PBegin -> one element (the start time, ISO 8601), once the run folder holds nothing
    of an earlier run. `run_uri`: a str or a ValueProvider (a template's launch parameters)."""

    def __init__(self, run_uri):
        super().__init__()
        self._run_uri = run_uri

    def expand(self, pbegin):
        return (
            pbegin
            | "Once" >> beam.Create([None])
            | "ClearEarlierResults" >> beam.ParDo(_ClearFn(self._run_uri))
        )
