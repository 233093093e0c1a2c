"""`bucketscore demo`, the command: what exists is skipped (a bundle is not retrained,
images are not rewritten), what is missing is made, --force retrains. The demo's training
and images: tests/model_export/test_digits_demo.py."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from bucketscore.cli.main import main


def _files(folder) -> dict[str, int]:
    """relative path -> modification time (ns) of every file under `folder`."""
    out = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = os.stat(path).st_mtime_ns
    return out


@pytest.fixture
def demo_copy(demo_bundle, tmp_path):
    """The session's demo bundle and images, copied: (model folder, data folder)."""
    model, data = str(tmp_path / "models" / "digits"), str(tmp_path / "demo_data" / "digits")
    shutil.copytree(demo_bundle.model, model)
    shutil.copytree(demo_bundle.data, data)
    return model, data


def test_what_exists_is_skipped(demo_bundle, demo_copy, capsys):
    model, data = demo_copy
    before = {"model": _files(model), "data": _files(data)}
    assert main(["demo", "--model", model, "--data", data]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"demo model: {os.path.abspath(model)} (version {demo_bundle.meta.version}, "
        f"test accuracy {demo_bundle.meta.metrics['test_accuracy']:.4f})",
        f"demo images: {os.path.abspath(data)}",
    ]
    assert {"model": _files(model), "data": _files(data)} == before  # nothing written


def test_missing_images_are_written_without_retraining(demo_bundle, demo_copy, capsys):
    model, data = demo_copy
    shutil.rmtree(data)
    model_files = _files(model)
    assert main(["demo", "--model", model, "--data", data]) == 0
    out = capsys.readouterr().out
    assert f"wrote 450 demo images to {data}" in out and "training" not in out
    assert _files(model) == model_files
    written = sorted(_files(data))
    assert written == sorted(_files(demo_bundle.data))  # the same held-out split
    assert sorted(os.listdir(data)) == [str(d) for d in range(10)]


def test_force_retrains_an_existing_bundle(demo_copy, capsys):
    model, data = demo_copy
    model_files, data_files = _files(model), _files(data)
    assert main(["demo", "--model", model, "--data", data, "--force"]) == 0
    out = capsys.readouterr().out
    assert f"training the demo model (LeNet on scikit-learn digits) -> {model}" in out
    assert "wrote" not in out  # the images were there
    rewritten = _files(model)
    assert set(rewritten) == set(model_files)
    assert all(rewritten[f] > model_files[f] for f in model_files)  # every file written anew
    with open(os.path.join(model, "model.json")) as f:
        assert json.load(f)["metrics"]["test_accuracy"] >= 0.97
    assert _files(data) == data_files


def test_unknown_arguments_exit_2(tmp_path, capsys):
    status = main(["demo", "--model", str(tmp_path / "m"), "--epochs", "3"])
    err = capsys.readouterr().err
    assert status == 2 and "unrecognized arguments: --epochs 3" in err
    assert not (tmp_path / "m").exists()
