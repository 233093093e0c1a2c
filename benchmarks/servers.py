"""The test suite's real storage servers (SeaweedFS), for the benchmarks.

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


def storage_servers():
    """The module tests/support/storage_servers.py of this checkout."""
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_NAME, SERVERS_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module  # before exec: its dataclasses look themselves up
        spec.loader.exec_module(module)
    return sys.modules[_NAME]
