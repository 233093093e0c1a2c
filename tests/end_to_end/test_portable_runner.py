"""Scoring on Beam's portable runner (job service + external SDK worker pool, the protocol of
Flink, Spark and Dataflow Runner v2) gives what the DirectRunner gives: the same prediction
rows, errors rows and summary, from a local folder and from S3 (SeaweedFS)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, read_local_run
from tests.support.storage_servers import unique_bucket_name

COUNTERS = ("listed", "bytes_listed", "read", "bytes_read", "decoded", "scored", "failed")
WHEN = ("started_at", "finished_at", "duration_seconds")  # of each run, not of its results


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory):
    folder = tmp_path_factory.mktemp("portable-images")
    copy_demo_subset(demo_bundle.data, str(folder), per_class=3)  # 30 images, 10 folders
    (folder / "7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return folder


def _score(demo_bundle, source, out, extra):
    return main(
        [
            "score",
            "--input",
            source,
            "--model",
            demo_bundle.model,
            "--output",
            out,
            "--run_id",
            "same",
            "--top_k",
            "3",
            "--max_error_ratio",
            "0.5",
            *extra,
        ]
    )


def _assert_close(a, b, where="summary"):
    """JSON documents equal, floats within 1e-5 (relative) or 1e-7."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _compare(direct, portable):
    rows = {r["uri"]: r for r in direct["predictions"]}
    got = {r["uri"]: r for r in portable["predictions"]}
    assert sorted(got) == sorted(rows) and len(got) == len(portable["predictions"])
    for uri, row in rows.items():
        other = dict(got[uri])
        np.testing.assert_allclose(
            other.pop("top_k_scores"), row["top_k_scores"], rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(other.pop("confidence"), row["confidence"], rtol=1e-6)
        np.testing.assert_allclose(
            other.pop("true_label_score"), row["true_label_score"], rtol=1e-6, atol=1e-7
        )
        floats = ("top_k_scores", "confidence", "true_label_score")
        assert other == {k: v for k, v in row.items() if k not in floats}, uri
    assert sorted(map(json.dumps, portable["errors"])) == sorted(map(json.dumps, direct["errors"]))
    a, b = dict(direct["summary"]), dict(portable["summary"])
    counters_a, counters_b = a.pop("beam_counters"), b.pop("beam_counters")
    for key in WHEN:
        assert (key in a) == (key in b)
        a.pop(key, None), b.pop(key, None)
    # The rows the files hold are the same; how many shards hold them is the runner's choice.
    verified_a, verified_b = a.pop("verified_files"), b.pop("verified_files")
    assert {t: v["rows"] for t, v in verified_a.items()} == {
        t: v["rows"] for t, v in verified_b.items()
    }
    # Probabilities may differ in their last digits between runners (other batches):
    # the figures made from them (calibration, the suspect thresholds) are equal within that.
    _assert_close(json.loads(json.dumps(a)), json.loads(json.dumps(b)))
    assert a["suspect_labels"] is not None and a["duplicates"] is not None
    for name in ("suspect_labels.csv", "duplicates.csv"):
        assert name in direct["files"] and name in portable["files"]
    assert {k: counters_b.get(k) for k in COUNTERS} == {k: counters_a.get(k) for k in COUNTERS}


@pytest.mark.parametrize("store", ["local", "s3"])
def test_portable_runner_scores_as_the_direct_runner(
    demo_bundle, images, portable_runner, s3_server, tmp_path, capsys, store
):
    flags = []
    source = str(images)
    if store == "s3":
        bucket = unique_bucket_name("portable")
        s3_server.create_bucket(bucket)
        client = s3_server.boto3_client()
        for root, _dirs, files in os.walk(images):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    client.put_object(
                        Bucket=bucket, Body=f.read(), Key="imgs/" + os.path.relpath(path, images)
                    )
        source, flags = f"s3://{bucket}/imgs/", s3_server.beam_options()
    out_direct, out_portable = str(tmp_path / "direct"), str(tmp_path / "portable")
    assert _score(demo_bundle, source, out_direct, flags) == 0, capsys.readouterr().err
    started = portable_runner.worker_count()
    assert _score(demo_bundle, source, out_portable, flags + portable_runner.flags()) == 0, (
        capsys.readouterr().err
    )
    printed = capsys.readouterr().out
    assert "runner-managed workers" in printed
    assert portable_runner.worker_count() - started >= 2  # the pool ran two workers
    direct = read_local_run(os.path.join(out_direct, "same"))
    portable = read_local_run(os.path.join(out_portable, "same"))
    assert len(direct["predictions"]) == 30 and len(direct["errors"]) == 1
    assert "_SUCCESS" in portable["files"]
    _compare(direct, portable)
