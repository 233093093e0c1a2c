"""bundle.onnx_runtime: onnxruntime imported without leaving files in TMPDIR, the thread count
from the environment, sessions with those threads on the CPU by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bucketscore.bundle.onnx_runtime import ort_session
from tests.support.helpers import REPO
from tests.support.onnx_models import classifier


def test_onnx_threads_come_from_the_environment(monkeypatch):
    from bucketscore.bundle.onnx_runtime import ort_threads

    monkeypatch.delenv("BUCKETSCORE_ONNX_THREADS", raising=False)
    assert ort_threads() == 2
    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "1")
    assert ort_threads() == 1


def test_a_thread_count_that_is_not_a_positive_number(monkeypatch):
    from bucketscore.bundle.onnx_runtime import ort_threads

    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "many")
    assert ort_threads() == 2  # the default
    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "0")
    assert ort_threads() == 1  # at least one
    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "7")
    assert ort_threads() == 7


def test_importing_onnxruntime_leaves_nothing_in_tmpdir(tmp_path):
    """In a fresh process (onnxruntime not imported yet): TMPDIR stays empty, TMPDIR is
    set back afterwards, and what onnxruntime writes goes to the cache folder."""
    tmp, cache = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    code = (
        "import json, os, sys\n"
        "from bucketscore.bundle.onnx_runtime import onnxruntime\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "ort = onnxruntime()\n"
        "print(json.dumps([ort.__name__, os.environ.get('TMPDIR'), "
        "onnxruntime() is ort]))\n"
    )
    env = dict(os.environ, TMPDIR=str(tmp), BUCKETSCORE_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, tmpdir, same = json.loads(out.stdout.strip().splitlines()[-1])
    assert (name, tmpdir, same) == ("onnxruntime", str(tmp), True)
    assert os.listdir(tmp) == []
    assert os.path.isdir(cache / "onnxruntime")


def test_a_session_has_the_threads_and_providers_asked_for(tmp_path, monkeypatch):
    path = classifier(str(tmp_path / "m.onnx"))
    monkeypatch.setenv("BUCKETSCORE_ONNX_THREADS", "3")
    session = ort_session(path)
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert ort_session(path, threads=1).get_session_options().intra_op_num_threads == 1
