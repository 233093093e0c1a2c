"""Classic Dataflow template (`--template_location`), built offline against the GCS emulator,
then launched the way Dataflow launches it: the staged job graph (pipeline.pb) run again with
each launch's parameters handed to the workers as runtime options. Each launch must list its
own input, write its own complete run folder, and replace a re-used one completely."""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import copy_demo_subset, direct_probabilities
from tests.support.storage_servers import unique_bucket_name

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _upload_folder(client, bucket: str, prefix: str, folder: str) -> dict[str, bytes]:
    """Upload a local tree under gs://bucket/prefix/; returns {uri: bytes}."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            key = prefix + os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            client.bucket(bucket).blob(key).upload_from_string(data)
            out[f"gs://{bucket}/{key}"] = data
    return out


def _read(client, uri: str) -> bytes:
    bucket, key = uri[len("gs://") :].split("/", 1)
    return client.bucket(bucket).blob(key).download_as_bytes()


def _names(client, bucket: str, prefix: str) -> list[str]:
    return sorted(b.name[len(prefix) :] for b in client.list_blobs(bucket, prefix=prefix))


def launch(pipeline_pb: bytes, parameters: dict) -> None:
    """Run a staged template graph as a Dataflow launch does: the workers see the launch's
    parameters (and job name) as runtime pipeline options. Workers here run in-process
    (Beam's embedded environment) instead of in the SDK container."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.value_provider import RuntimeValueProvider
    from apache_beam.portability import python_urns
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    proto = beam_runner_api_pb2.Pipeline.FromString(pipeline_pb)
    for env in proto.components.environments.values():
        env.urn = python_urns.EMBEDDED_PYTHON
        env.payload = b""
        del env.dependencies[:]
    RuntimeValueProvider.set_runtime_options(dict(parameters))
    try:
        result = fn_runner.FnApiRunner().run_via_runner_api(proto, PipelineOptions([]))
        result.wait_until_finish()
    finally:
        RuntimeValueProvider.set_runtime_options(None)


def _predictions(client, run_uri: str) -> list[dict]:
    bucket, prefix = run_uri[len("gs://") :].split("/", 1)
    rows = []
    for name in _names(client, bucket, prefix):
        if name.startswith("predictions") and name.endswith(".csv"):
            rows += list(csv.DictReader(io.StringIO(_read(client, run_uri + name).decode())))
    return rows


@pytest.fixture(scope="module")
def built(gcs_server, demo_bundle, tmp_path_factory):
    """A template built for the demo model, plus two folders of images in the bucket."""
    client = gcs_server.client()
    bucket = unique_bucket_name("template")
    gcs_server.create_bucket(bucket)
    _upload_folder(client, bucket, "models/digits/", demo_bundle.model)
    local = tmp_path_factory.mktemp("template-images")
    copy_demo_subset(demo_bundle.data, str(local / "a"), per_class=2)
    copy_demo_subset(demo_bundle.data, str(local / "b"), per_class=1)
    images = _upload_folder(client, bucket, "images/", str(local))
    location = f"gs://{bucket}/templates/score.json"
    status = main(
        [
            "score",
            "--model",
            f"gs://{bucket}/models/digits",
            "--output",
            f"gs://{bucket}/results/",
            "--runner",
            "DataflowRunner",
            "--project",
            gcs_server.project,
            "--region",
            "us-central1",
            "--temp_location",
            f"gs://{bucket}/tmp",
            "--staging_location",
            f"gs://{bucket}/staging",
            "--template_location",
            location,
            "--setup_file",
            os.path.join(REPO, "setup.py"),
        ]
    )
    assert status == 0
    template = json.loads(_read(client, location))
    return {
        "client": client,
        "bucket": bucket,
        "location": location,
        "template": template,
        "images": images,
        "model": demo_bundle.model,
    }


def test_template_is_staged_with_the_package_and_the_graph(built, capsys):
    client, bucket, template = built["client"], built["bucket"], built["template"]
    staged = _names(client, bucket, "staging/")
    assert any(n.endswith("workflow.tar.gz") for n in staged)
    assert any(n.endswith("pipeline.pb") for n in staged)
    packages = {
        p["name"]
        for pool in template["environment"]["workerPools"]
        for p in pool.get("packages", [])
    }
    assert "workflow.tar.gz" in packages
    # The staged sdist holds every package the workers import.
    name = next(n for n in staged if n.endswith("workflow.tar.gz"))
    with tarfile.open(fileobj=io.BytesIO(_read(client, f"gs://{bucket}/staging/{name}"))) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    for module in (
        "bucketscore/__init__.py",
        "pipelines/run.py",
        "pipelines/graph.py",
        "pipelines/features/template.py",
        "transforms/launch_values.py",
        "transforms/prepare_run_folder.py",
        "run_folder/finish.py",
        "bundle/predictor.py",
        "storage/s3.py",
    ):
        assert module in members
    # The graph: the run folder is prepared in the pipeline, before listing.
    from apache_beam.portability.api import beam_runner_api_pb2

    pb = next(n for n in staged if n.endswith("pipeline.pb"))
    proto = beam_runner_api_pb2.Pipeline.FromString(_read(client, f"gs://{bucket}/staging/{pb}"))
    names = {t.unique_name for t in proto.components.transforms.values()}
    for step in (
        "PrepareRunFolder",
        "ListImages",
        "ReadBytes",
        "Decode",
        "Infer",
        "WritePredictions",
        "WriteErrors",
        "FinishRun",
    ):
        assert step in names
    # The launch parameters are declared beside the template.
    meta = json.loads(_read(client, built["location"] + "_metadata"))
    params = {p["name"]: p for p in meta["parameters"]}
    assert set(params) == {"input", "output", "run_id"}
    assert params["input"]["isOptional"] is False  # no --input at build: required
    assert params["output"]["isOptional"] is True  # --output at build: the default


def _pipeline_pb(built) -> bytes:
    client, bucket = built["client"], built["bucket"]
    pb = next(n for n in _names(client, bucket, "staging/") if n.endswith("pipeline.pb"))
    return _read(client, f"gs://{bucket}/staging/{pb}")


def test_each_launch_scores_its_input_into_its_own_run(built):
    client, bucket = built["client"], built["bucket"]
    pb = _pipeline_pb(built)
    results = f"gs://{bucket}/results/"
    launch(pb, {"input": f"gs://{bucket}/images/a/", "run_id": "first"})
    launch(pb, {"input": f"gs://{bucket}/images/b/", "job_name": "nightly-20261201"})

    first, second = results + "first/", results + "nightly-20261201/"
    rows_first, rows_second = _predictions(client, first), _predictions(client, second)
    assert sorted(r["uri"] for r in rows_first) == sorted(
        u for u in built["images"] if "/images/a/" in u
    )
    assert sorted(r["uri"] for r in rows_second) == sorted(
        u for u in built["images"] if "/images/b/" in u
    )
    # Predictions equal a direct call of the SavedModel; each row names its launch's run.
    expected = direct_probabilities(built["model"], built["images"])
    labels = json.loads(open(os.path.join(built["model"], "model.json")).read())["labels"]
    for run_id, rows in (("first", rows_first), ("nightly-20261201", rows_second)):
        for r in rows:
            assert r["predicted_label"] == labels[int(np.argmax(expected[r["uri"]]))]
            assert r["run_id"] == run_id
    for run, n in ((first, 20), (second, 10)):
        summary = json.loads(_read(client, run + "summary.json"))
        assert summary["counts"]["listed"] == summary["counts"]["scored"] == n
        manifest = json.loads(_read(client, run + "manifest.json"))
        assert manifest["status"] == "complete" and manifest["started_at"]
        assert manifest["arguments"]["template"] == built["location"]
        assert _read(client, run + "_SUCCESS")


def test_a_launch_reusing_a_run_id_replaces_that_run_completely(built):
    client, bucket = built["client"], built["bucket"]
    pb = _pipeline_pb(built)
    run = f"gs://{bucket}/results/again/"
    launch(pb, {"input": f"gs://{bucket}/images/", "run_id": "again"})
    assert len(_predictions(client, run)) == 30
    client.bucket(bucket).blob("results/again/predictions-00099-of-00100.csv").upload_from_string(
        "uri,true_label\ngs://stale/row.png,0\n"
    )  # a shard only an earlier run would have
    launch(pb, {"input": f"gs://{bucket}/images/b/", "run_id": "again"})
    rows = _predictions(client, run)
    assert len(rows) == 10 and all("/images/b/" in r["uri"] for r in rows)
    names = _names(client, bucket, "results/again/")
    assert "predictions-00099-of-00100.csv" not in names
    assert json.loads(_read(client, run + "summary.json"))["counts"]["listed"] == 10


def test_a_launch_without_run_id_or_job_name_of_its_own_fails_and_writes_nothing(built):
    from bucketscore.pipelines.features.template import BUILD_JOB_NAME
    from bucketscore.transforms.launch_values import LaunchValueError

    client, bucket = built["client"], built["bucket"]
    pb = _pipeline_pb(built)
    with pytest.raises(Exception, match="run_id=NAME") as e:
        launch(pb, {"input": f"gs://{bucket}/images/b/", "job_name": BUILD_JOB_NAME})
    assert LaunchValueError.__name__ in str(e.value) or "run id" in str(e.value)
    with pytest.raises(Exception, match="input=URI"):
        launch(pb, {"run_id": "no-input"})
    assert not _names(client, bucket, "results/no-input/_SUCCESS")
