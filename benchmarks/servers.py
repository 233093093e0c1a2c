"""The test suite's real servers (SeaweedFS, `bucketscore serve`), for the benchmarks.

Loaded from this checkout's `tests/support/storage_servers.py` by file path, not with
`import tests`: another installed package may own the top-level name `tests` (tf2onnx
installs one), and the benchmark must start our servers whatever the working directory.
"""

from __future__ import annotations

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS_FILE = os.path.join(REPO, "tests", "support", "storage_servers.py")
_NAME = "bucketscore_bench_storage_servers"


def _load(name: str, path: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: its dataclasses look themselves up
        spec.loader.exec_module(module)
    return sys.modules[name]


def storage_servers():
    """The module tests/support/storage_servers.py of this checkout."""
    return _load(_NAME, SERVERS_FILE)


def serve_process():
    """The module tests/support/serve_process.py of this checkout (`bucketscore serve` as a
    process on a free port)."""
    return _load(
        "bucketscore_bench_serve_process",
        os.path.join(REPO, "tests", "support", "serve_process.py"),
    )
