"""storage.s3 against a real S3 server (SeaweedFS): one client per process and options, one
GET per object, the same bytes and the same errors as boto3 itself."""

import pytest
from apache_beam.io.aws.clients.s3.messages import S3ClientError

from bucketscore.storage import s3, uris
from bucketscore.storage.errors import describe_error
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture(scope="module")
def objects(s3_server):
    bucket = unique_bucket_name("s3read")
    s3_server.create_bucket(bucket)
    client = s3_server.boto3_client()
    bodies = {
        "a b/c#d%e.jpg": bytes(range(256)) * 40,
        "empty.png": b"",
        "naïve – scan.png": b"\x89PNG" + b"x" * 100,
    }
    for key, body in bodies.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    uris.set_options(s3_server.beam_options())
    return bucket, bodies


@pytest.mark.parametrize("presigned", [True, False], ids=["presigned", "get_object"])
def test_whole_objects_and_first_bytes(s3_server, objects, presigned):
    bucket, bodies = objects
    flags = s3_server.beam_options()
    for key, body in bodies.items():
        uri = f"s3://{bucket}/{key}"
        assert s3.read_object(uri, presigned=presigned, options=flags) == body
        assert s3.read_object(uri, max_bytes=10, presigned=presigned, options=flags) == body[:10]


@pytest.mark.parametrize("presigned", [True, False], ids=["presigned", "get_object"])
def test_missing_object_is_a_404_s3_client_error(s3_server, objects, presigned):
    bucket, _ = objects
    with pytest.raises(S3ClientError) as e:
        s3.read_object(
            f"s3://{bucket}/gone.jpg", presigned=presigned, options=s3_server.beam_options()
        )
    assert e.value.code == 404
    assert describe_error(e.value).startswith("not found (404")


def test_presigned_get_answers_none_unless_complete(s3_server, objects):
    bucket, bodies = objects
    client = s3.make_client(s3_server.beam_options())
    assert s3.presigned_get(client, bucket, "a b/c#d%e.jpg") == bodies["a b/c#d%e.jpg"]
    assert s3.presigned_get(client, bucket, "missing.jpg") is None


def test_one_client_per_set_of_options(s3_server):
    flags = s3_server.beam_options()
    assert s3.client(flags) is s3.client(list(flags))
    other = [f for f in flags if not f.startswith("--s3_secret_access_key")] + [
        "--s3_secret_access_key=another"
    ]
    assert s3.client(other) is not s3.client(flags)


def test_uris_read_bytes_goes_through_it(s3_server, objects):
    bucket, bodies = objects
    uris.set_options(s3_server.beam_options())
    assert uris.read_bytes(f"s3://{bucket}/naïve – scan.png") == bodies["naïve – scan.png"]
    assert uris.read_bytes(f"s3://{bucket}/a b/c#d%e.jpg", max_bytes=3) == bytes([0, 1, 2])
