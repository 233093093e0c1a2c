"""Reading s3:// objects with one boto3 client per process and one GET per object.

Beam's S3 filesystem (`FileSystems.open`) makes a new boto3 session and client for every
object, then sends a HEAD before the GET: a CPU cost per object that no concurrency hides.
`read_object` keeps ONE client per process and set of `--s3_*` options (made on first
use, thread-safe) and sends one GET. With `presigned` (the default) that GET is a
presigned URL sent through the client's own HTTP session (its connection pool, TLS
verification and proxies), which skips botocore's request/response pipeline. The figures:
docs/decisions.md, "S3 reads: one client per process, one GET per object". Any answer but a
complete 200 is asked again through `get_object`, so errors (404, 403, redirects,
throttling) are exactly boto3's, raised as Beam's `S3ClientError` with the HTTP code (what
`storage.errors` describes and decides retries on).
"""

from __future__ import annotations

import threading
from typing import Optional

POOL_CONNECTIONS = 16  # at least the reading threads of transforms.concurrent_reading

_lock = threading.Lock()
_clients: dict = {}


def split(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _beam_s3_options():
    """The pipeline options Beam's own S3 filesystem would use in this process."""
    from bucketscore.private_apis import beam_filesystem_options

    return beam_filesystem_options()


_OPTION_NAMES = (
    "s3_region_name",
    "s3_api_version",
    "s3_disable_ssl",
    "s3_verify",
    "s3_endpoint_url",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_session_token",
)


def _settings(options) -> tuple:
    """The `--s3_*` option values (in _OPTION_NAMES order) from PipelineOptions, a list of
    flags, a dict, or None (boto3's defaults)."""
    from apache_beam.options.pipeline_options import PipelineOptions, S3Options

    if isinstance(options, (list, tuple)):
        options = PipelineOptions(list(options))
    if isinstance(options, PipelineOptions):
        view = options.view_as(S3Options)
        return tuple(getattr(view, name, None) for name in _OPTION_NAMES)
    opts = dict(options or {})
    return tuple(opts.get(name) for name in _OPTION_NAMES)


def make_client(options=None, max_pool_connections: int = POOL_CONNECTIONS):
    """A new boto3 S3 client configured exactly as Beam's (`--s3_*` options, else boto3's
    default credential chain), with a connection pool for concurrent reads."""
    import boto3
    from botocore.config import Config

    region, api_version, no_ssl, verify, endpoint, key_id, secret, token = _settings(
        _beam_s3_options() if options is None else options
    )
    # One attempt per call: callers retry through storage.errors.with_retries, within the
    # run's budget (botocore's own retries would multiply the waits).
    return boto3.session.Session().client(
        service_name="s3",
        region_name=region,
        api_version=api_version,
        use_ssl=not no_ssl,
        verify=verify,
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(
            max_pool_connections=max_pool_connections,
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )


_current: tuple = (None, ())  # (Beam's options object, its settings): see _current_settings


def _current_settings() -> tuple:
    """_settings of Beam's current options, computed once per options object: reading
    PipelineOptions builds an argparse parser (~1 ms), too slow for every object read."""
    global _current
    options = _beam_s3_options()
    seen, settings = _current
    if options is None or options is not seen:
        settings = _settings(options)
        _current = (options, settings)
    return settings


def client(options=None):
    """This process's client for these options (default: Beam's current ones)."""
    key = _current_settings() if options is None else _settings(options)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = make_client(options)
    return found


def presigned_get(
    s3_client, bucket: str, key: str, max_bytes: Optional[int] = None
) -> Optional[bytes]:
    """The object's bytes (its first `max_bytes` with a Range request) via a presigned GET
    on the client's HTTP session, or None when the answer is not complete (the caller then
    asks through `get_object`)."""
    from botocore.awsrequest import AWSRequest

    http = getattr(getattr(s3_client, "_endpoint", None), "http_session", None)
    if http is None:  # a botocore without it: the ordinary way
        return None
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
    )
    headers = {"Range": f"bytes=0-{max_bytes - 1}"} if max_bytes else {}
    response = http.send(AWSRequest(method="GET", url=url, headers=headers).prepare())
    if max_bytes and response.status_code == 416:  # a range of an empty object
        return b""
    if response.status_code not in ((200, 206) if max_bytes else (200,)):
        return None
    data = response.content
    expected = response.headers.get("content-length")
    if expected is not None and expected.isdigit() and int(expected) != len(data):
        return None  # cut short: ask again
    return data


def read_object(
    uri: str, max_bytes: Optional[int] = None, presigned: bool = True, options=None
) -> bytes:
    """The bytes of s3://bucket/key (at most `max_bytes`), one GET; raises Beam's
    S3ClientError (message, HTTP code) when it cannot be read. No retries: callers wrap
    it in `storage.errors.with_retries`."""
    from apache_beam.io.aws.clients.s3.boto3_client import get_http_error_code
    from apache_beam.io.aws.clients.s3.messages import S3ClientError

    bucket, key = split(uri)
    s3_client = client(options)
    try:
        if presigned:
            data = presigned_get(s3_client, bucket, key, max_bytes)
            if data is not None:
                return data
        kwargs = {"Range": f"bytes=0-{max_bytes - 1}"} if max_bytes else {}
        return s3_client.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()
    except Exception as e:
        code = get_http_error_code(e)
        if max_bytes and code == 416:  # a range of an empty object
            return b""
        raise S3ClientError(str(e), code) from e  # the cause says if a retry can help


DELETE_BATCH = 1000  # keys per DeleteObjects request: the most S3 takes


def delete_objects(uris: list[str]) -> None:
    """Delete s3:// objects in batches of DELETE_BATCH per bucket; each request retried
    within the storage budget (storage.errors.with_retries). Missing keys are no error."""
    from bucketscore.storage.errors import with_retries

    by_bucket: dict[str, list[str]] = {}
    for uri in uris:
        bucket, key = split(uri)
        by_bucket.setdefault(bucket, []).append(key)
    s3_client = client()
    for bucket, keys in by_bucket.items():
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
            answer = with_retries(
                lambda bucket=bucket, batch=batch: s3_client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                ),
                f"s3://{bucket}",
            )
            failed = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if failed:
                raise OSError(
                    f"cannot delete {len(failed)} object(s) of s3://{bucket}, "
                    f"e.g. {failed[0].get('Key')}: {failed[0].get('Code')} "
                    f"{failed[0].get('Message')}"
                )
