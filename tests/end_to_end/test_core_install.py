"""The core install scores; the training commands name the extra they need.

Dataflow workers install setup.py's core requirements only: scoring with ONNX Runtime and
with TensorFlow must not import a package of the `train` extra (tf2onnx, onnx,
keras-tuner, scikit-learn). Here those packages are made unimportable in a fresh
interpreter (sys.modules[name] = None makes `import name` raise ImportError), and a real
run on the demo images is scored with each backend in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bucketscore.cli.commands.model_flags import TRAIN_EXTRA
from bucketscore.cli.main import main
from tests.support.helpers import REPO, copy_demo_subset

BLOCK = "".join(f"sys.modules[{m!r}] = None\n" for m in TRAIN_EXTRA)


@pytest.mark.parametrize("backend", ["onnx", "tf"])
def test_scoring_needs_no_training_package(demo_bundle, tmp_path, backend):
    data = tmp_path / "in"
    copy_demo_subset(demo_bundle.data, str(data), per_class=2)
    out = tmp_path / "out"
    code = (
        f"import sys\n{BLOCK}"
        "from bucketscore.cli.main import main\n"
        f"sys.exit(main(['score', '--input', {str(data)!r}, '--model', "
        f"{demo_bundle.model!r}, '--output', {str(out)!r}, '--run_id', 'core', "
        f"'--backend', {backend!r}, '--no_progress', '--direct_num_workers', '1', "
        f"'--direct_running_mode', 'in_memory']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.load(open(out / "core" / "summary.json"))
    assert summary["counts"]["scored"] == 20 and summary["counts"]["failed"] == 0
    manifest = json.load(open(out / "core" / "manifest.json"))
    assert manifest["inference"]["backend"] == backend


@pytest.mark.parametrize(
    "argv, needs",
    [
        (["export", "--keras", "m.keras", "--labels", "l.txt", "--out", "o"], "tf2onnx"),
        (["train", "--data", "d/", "--out", "o"], "tf2onnx"),
        (["tune", "--data", "d/", "--out", "o"], "keras-tuner"),
        (["demo", "--model", "{tmp}/m", "--data", "{tmp}/d"], "scikit-learn"),
    ],
)
def test_training_commands_name_the_extra(argv, needs, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in TRAIN_EXTRA else real(name, *a),
    )
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needs in err[0] and "pip install 'bucketscore[train]'" in err[0]
    assert not os.path.exists(tmp_path / "m")  # refused before doing anything


def test_export_without_onnx_needs_no_onnx_packages(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in TRAIN_EXTRA else real(name, *a),
    )
    # Gets past the package check and is refused for the missing model file instead.
    assert (
        main(
            [
                "export",
                "--keras",
                str(tmp_path / "none.keras"),
                "--labels",
                str(tmp_path / "l.txt"),
                "--out",
                str(tmp_path / "o"),
                "--no-onnx",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bucketscore[train]" not in err and "none.keras" in err
