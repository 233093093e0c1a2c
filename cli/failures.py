"""One line that says why a run failed: the stage, the object, the storage or model error.

Beam reports a failure in a worker as one long exception text: nested tracebacks, the
step it happened in ("[while running 'ReadBytes/...']"), and our own message somewhere
inside. `cause_line` finds, in order: a storage failure (storage.errors.StorageUnavailable:
which bucket, what error, for how long), a run that refused to complete
(run_folder.finish.RunFailed), or else the innermost error with the stage it happened in
and the object it names.
"""

from __future__ import annotations

import re

from bucketscore.run_folder.finish import FAILURE_MARK
from bucketscore.storage.errors import STORAGE_FAILURE_MARK

# Top-level steps of pipelines/graph.py -> the stage a person knows.
STAGES = {
    "PrepareRunFolder": "preparing the run folder",
    "ListImages": "listing",
    "AttachLabels": "labels",
    "CsvRowsWithoutImage": "labels CSV",
    "CarryOverUnchanged": "incremental state",
    "ReadBytes": "read",
    "Decode": "decode",
    "Infer": "inference",
    "ToPredictionRows": "prediction rows",
    "WritePredictions": "writing predictions",
    "WriteErrors": "writing errors.csv",
    "WriteObjectIndex": "writing the object index",
    "WriteEmbeddings": "writing embeddings",
    "CollectReportItems": "report thumbnails",
    "Summarise": "summary",
    "FinishRun": "writing the summary and _SUCCESS",
}
_STEP = re.compile(r"while running '([^'/\]]+)")
_URI = re.compile(r"((?:s3|gs)://[^\s'\",)\]]+|/[^\s'\",:)\]]+\.[A-Za-z0-9]{2,5})")
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Failed|Unavailable)):\s*(.+)$")


def _after(text: str, mark: str) -> str:
    # The last mark: Beam re-raises an exception as its own type with the step added to the
    # message, and RunFailed adds its mark again ("bucketscore run failed: bucketscore run
    # failed: ...").
    return text[text.rindex(mark) + len(mark) :].strip().splitlines()[0].strip()


def cause_line(e: BaseException) -> str:
    """Why the run failed, in one line."""
    text = str(e)
    if STORAGE_FAILURE_MARK in text:
        return "storage failed: " + _after(text, STORAGE_FAILURE_MARK)
    if FAILURE_MARK in text:
        return _after(text, FAILURE_MARK)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [m for m in (_ERROR_LINE.match(line) for line in lines) if m]
    error = (
        f"{errors[-1].group(1).rsplit('.', 1)[-1]}: {errors[-1].group(2).strip()}"
        if errors
        else f"{type(e).__name__}: {lines[-1] if lines else ''}"
    )
    steps = _STEP.findall(text)
    stage = STAGES.get(steps[-1], steps[-1]) if steps else ""
    objects = _URI.findall(text)
    parts = [
        p
        for p in (
            f"stage {stage}" if stage else "",
            objects[-1] if objects and objects[-1] not in error else "",
        )
        if p
    ]
    return (": ".join(parts) + ": " if parts else "") + error[:600]
