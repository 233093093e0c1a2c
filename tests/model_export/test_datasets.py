"""model_export.datasets: reading training data: folder and CSV layouts, split folders,
stratified split, skipped files."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.bundle.meta import InputSpec
from bucketscore.model_export.datasets import DatasetError, load_dataset, stratified_split
from tests.support.shapes import write_shapes

SPEC = InputSpec(height=16, width=16, channels=3)


def test_stratified_split_is_seeded_and_keeps_proportions():
    labels = np.repeat(np.arange(3), [20, 40, 7])
    a = stratified_split(labels, {"validation": 0.15, "test": 0.2}, seed=1)
    b = stratified_split(labels, {"validation": 0.15, "test": 0.2}, seed=1)
    c = stratified_split(labels, {"validation": 0.15, "test": 0.2}, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    everything = np.concatenate([a["train"], a["validation"], a["test"]])
    assert sorted(everything.tolist()) == list(range(len(labels)))  # a partition
    assert np.bincount(labels[a["test"]]).tolist() == [4, 8, 1]
    assert np.bincount(labels[a["validation"]]).tolist() == [3, 6, 1]
    # A class of one image stays in train.
    tiny = stratified_split(np.array([0, 1, 1, 1, 1, 1, 1, 1]), {"validation": 0.2}, seed=0)
    assert 0 in tiny["train"]


def test_folder_layout_with_split_folders_and_a_broken_file(tmp_path):
    root = tmp_path / "data"
    write_shapes(str(root), 0, splits={"train": 8, "val": 2, "test": 3})
    (root / "train" / "circle" / "broken.png").write_bytes(b"\x89PNG garbage")
    (root / "train" / "notes.txt").write_text("not an image")
    said = []
    data = load_dataset(str(root), SPEC, log=said.append)
    assert data.layout == "folders+splits"
    assert data.labels == ["circle", "square", "triangle"]
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 6, 9)
    assert data.train.x.shape == (24, 16, 16, 3) and data.train.x.dtype == np.uint8
    assert [u for u, _ in data.skipped] == [str(root / "train" / "circle" / "broken.png")]
    assert any("skipped 1 image" in s for s in said)


def test_csv_layout_and_label_order(tmp_path):
    root = tmp_path / "flat"
    write_shapes(str(root), 6)
    rows = ["path,label"]
    for shape in ("circle", "square", "triangle"):
        for i in range(6):
            rows.append(f"{shape}/{shape}_{i:03d}.png,{shape.upper()}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    data = load_dataset(str(root), SPEC, label_order=["TRIANGLE", "OLD"])
    assert data.layout == "csv"
    assert data.labels == ["TRIANGLE", "OLD", "CIRCLE", "SQUARE"]  # kept order, new appended
    assert len(data.train) + len(data.validation) + len(data.test) == 18
    assert set(np.unique(data.train.y)) == {0, 2, 3}


def test_unusable_data_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no images under"):
        load_dataset(str(tmp_path), SPEC)
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="no labelled images"):
        load_dataset(str(tmp_path), SPEC)
