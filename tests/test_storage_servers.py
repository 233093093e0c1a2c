"""The object-storage fixtures work for real, through the code paths the pipeline uses.

Native clients (boto3, google-cloud-storage) write and check; Beam's ``FileSystems``
(match/open/create/delete) and a DirectRunner pipeline (``WriteToText``) run against
the same servers, proving that flags (S3) and environment (GCS) reach Beam.
"""

from __future__ import annotations

import time

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from tests.support.storage_servers import unique_bucket_name

# Keys with spaces, unicode and a nested "directory".
OBJECTS = {
    "images/cat one.jpg": b"cat-1",
    "images/h\u00e9risson \u00e9t\u00e9.png": b"hedgehog",
    "images/\u732b/\u5199\u771f.jpg": b"neko",
    "images/nested/dog.jpg": b"dog",
    "other/readme.txt": b"not an image",
}
DIRECT_CHILDREN = {"images/cat one.jpg", "images/h\u00e9risson \u00e9t\u00e9.png"}
UNDER_IMAGES = {k for k in OBJECTS if k.startswith("images/")}


def _matched_keys(pattern: str, bucket_url: str) -> set[str]:
    (result,) = FileSystems.match([pattern])
    return {m.path[len(bucket_url) + 1 :] for m in result.metadata_list}


def _read(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def _check_filesystems(scheme: str, bucket: str, list_keys, read_key) -> None:
    """match/open/create/delete through Beam, checked with the native client."""
    base = f"{scheme}://{bucket}"

    # `**` crosses '/', `*` does not; a trailing '/' means '/*'.
    assert _matched_keys(f"{base}/images/**", base) == UNDER_IMAGES
    assert _matched_keys(f"{base}/images/*", base) == DIRECT_CHILDREN
    assert _matched_keys(f"{base}/images/", base) == DIRECT_CHILDREN
    assert _matched_keys(f"{base}/images/*.jpg", base) == {"images/cat one.jpg"}
    # Unlike a local directory, a prefix without a glob matches only that exact key.
    assert _matched_keys(f"{base}/images", base) == set()
    assert _matched_keys(f"{base}/images/nested", base) == set()
    assert _matched_keys(f"{base}/images/cat one.jpg", base) == {"images/cat one.jpg"}
    # Nothing under a prefix: empty result, no error.
    assert _matched_keys(f"{base}/missing/**", base) == set()

    (result,) = FileSystems.match([f"{base}/images/**"])
    sizes = {m.path[len(base) + 1 :]: m.size_in_bytes for m in result.metadata_list}
    assert sizes == {k: len(OBJECTS[k]) for k in UNDER_IMAGES}

    for key in UNDER_IMAGES:
        assert _read(f"{base}/{key}") == OBJECTS[key]

    new_key = "out/r\u00e9sultat 1.txt"
    payload = b"written by beam\n" * 1000
    with FileSystems.create(f"{base}/{new_key}") as f:
        f.write(payload)
    assert read_key(new_key) == payload
    assert FileSystems.exists(f"{base}/{new_key}")
    assert _read(f"{base}/{new_key}") == payload

    FileSystems.delete([f"{base}/{new_key}", f"{base}/images/nested/dog.jpg"])
    assert new_key not in list_keys()
    assert "images/nested/dog.jpg" not in list_keys()
    assert not FileSystems.exists(f"{base}/{new_key}")
    assert _matched_keys(f"{base}/images/**", base) == UNDER_IMAGES - {"images/nested/dog.jpg"}


def _run_write_to_text(flags: list[str], output_prefix: str) -> None:
    lines = ["alpha", "b\u00eata", "gamma delta"]
    options = PipelineOptions(flags + ["--runner=DirectRunner"])
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | beam.Create(lines)
            | beam.io.WriteToText(output_prefix, file_name_suffix=".txt", num_shards=2)
        )


# --------------------------------------------------------------------------------------
# S3 (SeaweedFS)
# --------------------------------------------------------------------------------------
@pytest.fixture
def s3_bucket(s3_server):
    name = s3_server.create_bucket(unique_bucket_name("s3"))
    client = s3_server.boto3_client()
    for key, body in OBJECTS.items():
        client.put_object(Bucket=name, Key=key, Body=body)
    return name


def _s3_keys(client, bucket: str, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_s3_signed_requests_only(s3_server):
    import boto3
    import botocore.exceptions

    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    s3_server.boto3_client().list_buckets()
    bad = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="wrong-secret",
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.list_buckets()
    assert exc.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}


def test_s3_has_room_for_a_volume_per_bucket_of_the_suite(s3_server):
    """Each bucket takes a volume of its own; SeaweedFS's default cap (from the free disk)
    stopped writes with InternalError after ~70 buckets, failing late tests of a full run.
    The master says how many volumes it still has room for."""
    import json
    import urllib.request

    client = s3_server.boto3_client()
    for i in range(10):
        bucket = s3_server.create_bucket(unique_bucket_name(f"room-{i}"))
        client.put_object(Bucket=bucket, Key="k", Body=b"v")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    url = f"http://127.0.0.1:{s3_server.ports['master']}/dir/status"
    with urllib.request.urlopen(url, timeout=10) as r:
        topology = json.load(r)["Topology"]
    assert topology["Max"] >= 1000 and topology["Free"] >= 900, topology


def test_s3_beam_filesystems(s3_server, s3_bucket):
    FileSystems.set_options(PipelineOptions(s3_server.beam_options()))
    client = s3_server.boto3_client()
    _check_filesystems(
        "s3",
        s3_bucket,
        list_keys=lambda: _s3_keys(client, s3_bucket),
        read_key=lambda k: client.get_object(Bucket=s3_bucket, Key=k)["Body"].read(),
    )


def test_s3_beam_pipeline_write_to_text(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("s3-pipeline"))
    _run_write_to_text(s3_server.beam_options(), f"s3://{bucket}/out/part")

    client = s3_server.boto3_client()
    keys = _s3_keys(client, bucket)
    assert keys == {"out/part-00000-of-00002.txt", "out/part-00001-of-00002.txt"}, keys
    text = b"".join(client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys)
    assert sorted(text.decode().splitlines()) == ["alpha", "b\u00eata", "gamma delta"]


def test_s3_restart_keeps_data(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("s3-restart"))
    client = s3_server.boto3_client()
    for key, body in OBJECTS.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    endpoint = s3_server.endpoint_url

    try:
        s3_server.stop_process()
        assert not s3_server.is_running()
        from botocore.exceptions import EndpointConnectionError

        with pytest.raises(EndpointConnectionError):
            s3_server.boto3_client(connect_timeout=1, max_attempts=1).list_buckets()
    finally:
        t0 = time.monotonic()
        s3_server.start_process()
    assert time.monotonic() - t0 < 20

    assert s3_server.endpoint_url == endpoint
    client = s3_server.boto3_client()
    assert _s3_keys(client, bucket) == set(OBJECTS)
    key = "images/h\u00e9risson \u00e9t\u00e9.png"
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == OBJECTS[key]
    # Beam, with the same flags as before the restart, sees the data too.
    FileSystems.set_options(PipelineOptions(s3_server.beam_options()))
    assert _matched_keys(f"s3://{bucket}/images/**", f"s3://{bucket}") == UNDER_IMAGES


# --------------------------------------------------------------------------------------
# GCS (gcp-storage-emulator)
# --------------------------------------------------------------------------------------
@pytest.fixture
def gcs_bucket(gcs_server):
    name = gcs_server.create_bucket(unique_bucket_name("gcs"))
    bucket = gcs_server.client().bucket(name)
    for key, body in OBJECTS.items():
        bucket.blob(key).upload_from_string(body)
    return name


def _gcs_keys(client, bucket: str, prefix: str = "") -> set[str]:
    return {b.name for b in client.list_blobs(bucket, prefix=prefix or None)}


def test_gcs_env_is_set(gcs_server):
    import os

    for name, value in gcs_server.env().items():
        assert os.environ[name] == value
    assert gcs_server.host.startswith("127.0.0.1:")


def test_gcs_beam_filesystems(gcs_server, gcs_bucket):
    client = gcs_server.client()
    t0 = time.monotonic()
    FileSystems.match([f"gs://{gcs_bucket}/images/*"])
    # No ~25 s wait for Google credentials (see storage_servers.GCSServer.env).
    assert time.monotonic() - t0 < 5
    _check_filesystems(
        "gs",
        gcs_bucket,
        list_keys=lambda: _gcs_keys(client, gcs_bucket),
        read_key=lambda k: client.bucket(gcs_bucket).blob(k).download_as_bytes(),
    )


def test_gcs_beam_pipeline_write_to_text(gcs_server):
    bucket = gcs_server.create_bucket(unique_bucket_name("gcs-pipeline"))
    _run_write_to_text([], f"gs://{bucket}/out/part")

    client = gcs_server.client()
    keys = _gcs_keys(client, bucket)
    assert keys == {"out/part-00000-of-00002.txt", "out/part-00001-of-00002.txt"}, keys
    text = b"".join(client.bucket(bucket).blob(k).download_as_bytes() for k in keys)
    assert sorted(text.decode().splitlines()) == ["alpha", "b\u00eata", "gamma delta"]


class _TagWithPid(beam.DoFn):
    def process(self, element):
        import os

        yield f"{element} pid={os.getpid()}"


def test_beam_worker_processes_reach_both_stores(s3_server, gcs_server):
    """multi_processing DirectRunner: S3 flags and GCS env must reach worker processes."""
    import os

    s3_bucket = s3_server.create_bucket(unique_bucket_name("mp"))
    gcs_bucket = gcs_server.create_bucket(unique_bucket_name("mp"))
    flags = s3_server.beam_options() + [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    with beam.Pipeline(options=PipelineOptions(flags)) as p:
        tagged = p | beam.Create([f"line{i}" for i in range(8)]) | beam.ParDo(_TagWithPid())
        _ = tagged | "s3" >> beam.io.WriteToText(f"s3://{s3_bucket}/out/part", num_shards=2)
        _ = tagged | "gcs" >> beam.io.WriteToText(f"gs://{gcs_bucket}/out/part", num_shards=2)

    s3 = s3_server.boto3_client()
    s3_text = "".join(
        s3.get_object(Bucket=s3_bucket, Key=k)["Body"].read().decode()
        for k in _s3_keys(s3, s3_bucket)
    )
    gcs = gcs_server.client()
    gcs_text = "".join(
        gcs.bucket(gcs_bucket).blob(k).download_as_text() for k in _gcs_keys(gcs, gcs_bucket)
    )
    for text in (s3_text, gcs_text):
        lines = text.splitlines()
        assert sorted(line.split()[0] for line in lines) == [f"line{i}" for i in range(8)]
        pids = {line.split("pid=")[1] for line in lines}
        assert str(os.getpid()) not in pids  # really ran in worker processes


def test_gcs_beam_in_subprocess_is_fast(gcs_server, gcs_bucket):
    """A separate Python process (e.g. a CLI run) reaches the emulator via os.environ."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from apache_beam.io.filesystems import FileSystems\n"
        "t = time.monotonic()\n"
        f"(r,) = FileSystems.match(['gs://{gcs_bucket}/images/*'])\n"
        "print(len(r.metadata_list), round(time.monotonic() - t, 2))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert int(out[0]) == len(DIRECT_CHILDREN)
    assert float(out[1]) < 5
