"""pipelines.features.embeddings: the --embeddings flag, what it cannot be combined with, and
the bundle it needs (one that exports embeddings)."""

from __future__ import annotations

import pytest

from bucketscore.bundle.meta import BundleMeta, InputSpec
from bucketscore.errors import UsageError
from bucketscore.pipelines.features import embeddings
from bucketscore.pipelines.options import ScoreConfig


def meta(*outputs: str) -> BundleMeta:
    return BundleMeta(
        name="m",
        version="v",
        labels=("a", "b"),
        input=InputSpec(8, 8, 1),
        files={},
        outputs=outputs,
    )


def config(**kw) -> ScoreConfig:
    return ScoreConfig(inputs=("/imgs/",), output="/out", model="/models/m", **kw)


def test_the_flag():
    flag = embeddings.FLAG.metadata["flag"]
    assert flag.name == "embeddings" and embeddings.FLAG.default is False
    assert flag.argparse == {"action": "store_true"}
    assert "embeddings*.parquet" in flag.help


def test_not_with_incremental():
    with pytest.raises(UsageError, match="--embeddings cannot be combined with --incremental"):
        embeddings.check(config(embeddings=True, incremental=True))
    embeddings.check(config(embeddings=True))
    embeddings.check(config(incremental=True))


def test_the_bundle_must_export_embeddings():
    with pytest.raises(
        UsageError, match="^--embeddings: the bundle /models/m does not export embeddings$"
    ):
        embeddings.check_bundle(config(embeddings=True), meta("probabilities"))
    embeddings.check_bundle(config(embeddings=True), meta("probabilities", "embeddings"))
    embeddings.check_bundle(config(), meta("probabilities"))  # not asked for: not needed
