"""storage.probe: one listing request per bucket location, and what came back in words: the
first object, an empty prefix, a missing bucket, a wrong secret or access key, access denied,
no credentials at all, an endpoint where nothing listens; against SeaweedFS and the GCS
emulator. Requests are counted on the real client (botocore's before-send event).
"""

from __future__ import annotations

import pytest

from bucketscore.storage import probe as probe_module
from bucketscore.storage.probe import Probe, probe, split
from tests.support.storage_servers import LIMITED_BUCKET, free_ports, unique_bucket_name


def _settings(server, **changes) -> dict:
    settings = {
        "s3_endpoint_url": server.endpoint_url,
        "s3_access_key_id": server.access_key,
        "s3_secret_access_key": server.secret_key,
        "s3_region_name": server.region,
    }
    settings.update(changes)
    return settings


@pytest.fixture(scope="module")
def bucket(s3_server):
    name = s3_server.create_bucket(unique_bucket_name("probe"))
    client = s3_server.boto3_client()
    for key in ("in/b.png", "in/a.png", "in/sub/c.png"):
        client.put_object(Bucket=name, Key=key, Body=b"x")
    return name


@pytest.fixture()
def requests_sent(monkeypatch):
    """The HTTP requests the probe's S3 clients send (the real clients, counted)."""
    sent = []
    real = probe_module.s3_client

    def counting_client(settings=None):
        client = real(settings)
        client.meta.events.register(
            "before-send.s3", lambda request, **kw: sent.append(request.url)
        )
        return client

    monkeypatch.setattr(probe_module, "s3_client", counting_client)
    return sent


def test_a_bucket_that_answers_gives_its_first_object_in_one_request(
    s3_server, bucket, requests_sent
):
    answer = probe(f"s3://{bucket}/in/", _settings(s3_server))
    assert answer == Probe(f"s3://{bucket}/in/", "", f"s3://{bucket}/in/a.png")
    assert answer.ok and answer.bucket == bucket
    assert len(requests_sent) == 1 and "max-keys=1" in requests_sent[0]


def test_an_empty_prefix_answers_with_no_object(s3_server, bucket, requests_sent):
    answer = probe(f"s3://{bucket}/nothing/here/", _settings(s3_server))
    assert answer.ok and answer.first == ""
    assert probe(f"s3://{bucket}", _settings(s3_server)).first == f"s3://{bucket}/in/a.png"
    assert len(requests_sent) == 2


def test_a_missing_bucket(s3_server, requests_sent):
    missing = unique_bucket_name("not-there")
    answer = probe(f"s3://{missing}/x/", _settings(s3_server))
    assert not answer.ok and answer.problem == "no such bucket (NoSuchBucket)"
    assert len(requests_sent) == 1  # a permanent answer: not retried


def test_a_wrong_secret_key(s3_server, bucket, requests_sent):
    answer = probe(f"s3://{bucket}/in/", _settings(s3_server, s3_secret_access_key="wrong"))
    assert answer.problem == (
        "wrong secret key (SignatureDoesNotMatch): "
        "check --s3_secret_access_key or AWS_SECRET_ACCESS_KEY"
    )
    assert len(requests_sent) == 1


def test_an_unknown_access_key(s3_server, bucket):
    answer = probe(f"s3://{bucket}/in/", _settings(s3_server, s3_access_key_id="nobody"))
    assert answer.problem == (
        "unknown access key id (InvalidAccessKeyId): check --s3_access_key_id or AWS_ACCESS_KEY_ID"
    )


def test_access_denied(s3_server, bucket):
    """The limited identity may list LIMITED_BUCKET only."""
    s3_server.create_bucket(LIMITED_BUCKET)
    limited = _settings(
        s3_server,
        s3_access_key_id=s3_server.limited_access_key,
        s3_secret_access_key=s3_server.limited_secret_key,
    )
    assert probe(f"s3://{LIMITED_BUCKET}/images/", limited).ok
    answer = probe(f"s3://{bucket}/in/", limited)
    assert answer.problem == "access denied (AccessDenied): these credentials may not list it"


def test_no_credentials_at_all(s3_server, bucket, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    answer = probe(f"s3://{bucket}/in/", {"s3_endpoint_url": s3_server.endpoint_url})
    assert answer.problem.startswith("no AWS credentials found: set AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    answer = probe(f"s3://{bucket}/in/", {"s3_endpoint_url": s3_server.endpoint_url})
    assert "no-such-profile" in answer.problem and answer.problem.endswith("(check AWS_PROFILE)")


def test_an_endpoint_where_nothing_listens_is_retried_for_the_probe_time(s3_server, requests_sent):
    port = free_ports(1)[0]
    endpoint = f"http://127.0.0.1:{port}"
    answer = probe("s3://any/x/", _settings(s3_server, s3_endpoint_url=endpoint), seconds=1.5)
    assert answer.problem.startswith(f"endpoint {endpoint} unreachable: Connection refused (for ")
    assert len(requests_sent) >= 2  # transient: tried again within the 1.5 s


def test_gcs_buckets(gcs_server):
    name = gcs_server.create_bucket(unique_bucket_name("probe"))
    gcs_server.client().bucket(name).blob("in/z.png").upload_from_string(b"x")
    assert probe(f"gs://{name}/in/") == Probe(f"gs://{name}/in/", "", f"gs://{name}/in/z.png")
    assert probe(f"gs://{name}/out/").first == ""
    missing = unique_bucket_name("gone")
    assert probe(f"gs://{missing}/").problem == "no such bucket (404)"


def test_split():
    assert split("s3://b/k/x.png") == ("s3", "b", "k/x.png")
    assert split("gs://b") == ("gs", "b", "")
