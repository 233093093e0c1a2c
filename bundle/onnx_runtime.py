"""ONNX Runtime as bucketscore uses it: imported without leaving files behind, sessions
with a set number of threads.

The scoring path needs only this module of ONNX (onnxruntime, in the core install);
converting models to ONNX is bucketscore.model_export.onnx_export (the `train` extra).
"""

from __future__ import annotations

import os
from typing import Optional

THREADS_ENV = "BUCKETSCORE_ONNX_THREADS"
DEFAULT_THREADS = 2


def onnxruntime():
    """The onnxruntime module, imported with TMPDIR pointed at bucketscore's cache folder.

    Why: onnxruntime 1.32 writes a telemetry session file (`$TMPDIR/.ses`) when it is
    imported, even after disable_telemetry_events(); an hourly job must leave nothing in
    TMPDIR, so the file goes to `<cache>/onnxruntime/` instead (docs/decisions.md, "Nothing
    in TMPDIR from ONNX Runtime")."""
    import sys

    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    from bucketscore.storage.local_cache import cache_root

    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = cache_root("onnxruntime")
    try:
        import onnxruntime as ort
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
    return ort


def ort_threads() -> int:
    """Intra-op threads for ONNX Runtime: $BUCKETSCORE_ONNX_THREADS, else 2 (modest: Beam
    runs several workers per machine, each with its own session)."""
    try:
        return max(1, int(os.environ.get(THREADS_ENV, DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def ort_session(path: str, threads: Optional[int] = None, providers: Optional[list[str]] = None):
    """An ONNX Runtime session: `threads` intra-op threads (default ort_threads()), on
    `providers` (default: the CPU only)."""
    ort = onnxruntime()

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or ort_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        path, sess_options=options, providers=providers or ["CPUExecutionProvider"]
    )
