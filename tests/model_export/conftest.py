"""Fixtures for the model tests: a generated colour-shapes data set and one small CNN trained
on it through the CLI (once per session; several tests read or continue it)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import pytest

from tests.support.shapes import write_shapes

SHAPES_PER_CLASS = 100
SHAPES_SIZE = 32


@dataclass
class TrainedBundle:
    path: str
    data: str
    meta: dict  # model.json
    output: str  # what the command printed
    seconds: float


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory) -> str:
    """<root>/<circle|square|triangle>/*.png: 100 coloured 32x32 shapes per class."""
    root = str(tmp_path_factory.mktemp("shapes") / "shapes")
    write_shapes(root, SHAPES_PER_CLASS, size=SHAPES_SIZE, seed=0)
    return root


@pytest.fixture(scope="session")
def shapes_bundle(shapes_data, tmp_path_factory) -> TrainedBundle:
    """small_cnn trained on the shapes with `bucketscore train` (augmentation on)."""
    import contextlib
    import io

    from bucketscore.cli.main import main

    out = str(tmp_path_factory.mktemp("models") / "shapes-cnn")
    buf = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(buf):
        status = main(
            [
                "train",
                "--data",
                shapes_data,
                "--architecture",
                "small_cnn",
                "--height",
                str(SHAPES_SIZE),
                "--width",
                str(SHAPES_SIZE),
                "--epochs",
                "15",
                "--patience",
                "6",
                "--batch_size",
                "16",
                "--learning_rate",
                "0.002",
                "--flip",
                "horizontal",
                "--contrast",
                "0.1",
                "--seed",
                "1",
                "--out",
                out,
            ]
        )
    seconds = time.monotonic() - started
    assert status == 0, buf.getvalue()
    with open(os.path.join(out, "model.json")) as f:
        meta = json.load(f)
    return TrainedBundle(
        path=out, data=shapes_data, meta=meta, output=buf.getvalue(), seconds=seconds
    )
