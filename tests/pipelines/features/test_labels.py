"""pipelines.features.labels: the --labels flag (its name, help, default and how it is
recorded), its parse (a labels CSV's URI form checked), check(config) refusals, the labels CSV
as a preflight target, and check_bundle reading the CSV."""

from __future__ import annotations

import os

import pytest

from bucketscore.bundle.label_sources import LabelSource
from bucketscore.bundle.meta import BundleMeta, InputSpec
from bucketscore.errors import UsageError
from bucketscore.pipelines.features import labels
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.storage.preflight import Target

FOLDER = LabelSource("folder")
META = BundleMeta(name="m", version="v", labels=("a", "b"), input=InputSpec(8, 8, 1), files={})


def config(*inputs: str, source=FOLDER, **kw) -> ScoreConfig:
    return ScoreConfig(inputs=inputs or ("/imgs/",), output="/out", model="/m", labels=source, **kw)


def test_the_flag():
    flag = labels.FLAG.metadata["flag"]
    assert flag.name == "labels" and flag.cli_default == "folder"
    for source in ("folder", "regex:PATTERN", "csv:URI", "manifest", "none"):
        assert source in flag.help
    assert labels.FLAG.default_factory() == LabelSource("folder")
    assert flag.record(LabelSource("regex", "(.+)_x")) == "regex:(.+)_x"
    assert flag.record(LabelSource("none")) == "none"


def test_parse():
    assert labels.parse("folder") == LabelSource("folder")
    assert labels.parse("regex:(\\d+)") == LabelSource("regex", "(\\d+)")
    assert labels.parse("csv:labels.csv") == LabelSource("csv", os.path.abspath("labels.csv"))
    assert labels.parse("csv:s3://b/l.csv") == LabelSource("csv", "s3://b/l.csv")
    with pytest.raises(ValueError, match="^--labels csv:s3:/b/l.csv: .*did you mean s3://b/l.csv"):
        labels.parse("csv:s3:/b/l.csv")
    with pytest.raises(ValueError, match="expected one of"):
        labels.parse("sideways")


def test_manifest_labels_need_a_manifest_input():
    with pytest.raises(UsageError, match="--labels manifest takes the labels of manifest: inputs"):
        labels.check(config("/imgs/", source=LabelSource("manifest")))
    labels.check(config("manifest:/lists/a.jsonl", source=LabelSource("manifest")))
    # a template built without --input gets its inputs at launch: nothing to say yet
    labels.check(ScoreConfig(inputs=(), model="/m", labels=LabelSource("manifest")))


def test_an_incremental_run_cannot_read_a_manifest():
    with pytest.raises(UsageError, match="--incremental cannot be combined with manifest"):
        labels.check(config("/imgs/", "manifest:/lists/a.txt", incremental=True))
    labels.check(config("/imgs/", incremental=True))
    labels.check(config("manifest:/lists/a.txt"))


def test_a_labels_csv_is_a_preflight_target():
    assert labels.targets(config()) == []
    assert labels.targets(config(source=LabelSource("csv", "s3://b/l.csv"))) == [
        Target("--labels", "s3://b/l.csv", shown="csv:s3://b/l.csv")
    ]


def test_check_bundle_reads_the_labels_csv(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("path,label\n1/a.png,1\ns3://b/x.png,7\n")
    labels.check_bundle(config(source=LabelSource("csv", str(good))), META)
    missing = tmp_path / "missing.csv"
    with pytest.raises(UsageError, match=f"cannot read the labels CSV {missing}"):
        labels.check_bundle(config(source=LabelSource("csv", str(missing))), META)
    header = tmp_path / "header.csv"
    header.write_text("file,class\na.png,1\n")
    with pytest.raises(UsageError, match="needs a header with `path` and `label`"):
        labels.check_bundle(config(source=LabelSource("csv", str(header))), META)
    twice = tmp_path / "twice.csv"
    twice.write_text("path,label\na.png,1\na.png,2\n")
    with pytest.raises(UsageError, match="gives 1 path\\(s\\) different labels: a.png: 1, 2"):
        labels.check_bundle(config(source=LabelSource("csv", str(twice))), META)
    # other sources read nothing
    labels.check_bundle(config(source=LabelSource("none")), META)
