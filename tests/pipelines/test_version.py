"""pipelines.version: the code version a run records is the installed package's version,
plus the commit when the code runs from a git checkout (and only then)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from importlib.metadata import version

from bucketscore.pipelines.version import code_version
from tests.support.helpers import REPO


def _setup_py_version() -> str:
    with open(f"{REPO}/setup.py") as f:
        for line in f:
            if line.startswith("VERSION = "):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise AssertionError("no VERSION in setup.py")


def test_in_a_checkout_the_version_and_the_commit():
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True, capture_output=True
    ).stdout.strip()
    assert commit  # this test runs in a checkout
    assert code_version() == f"{_setup_py_version()}+{commit}"
    assert _setup_py_version() == version("bucketscore")


def test_outside_a_checkout_the_version_alone(tmp_path):
    # The same module file, loaded from a folder that is in no git repository.
    copy = tmp_path / "version.py"
    shutil.copy(f"{REPO}/pipelines/version.py", copy)
    spec = importlib.util.spec_from_file_location("copied_version", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.code_version() == _setup_py_version()
