"""One cheap request to a bucket before a command starts: do these settings reach it?

`probe(uri, s3_settings)` lists at most one object under an s3:// or gs:// URI (S3
ListObjectsV2 with MaxKeys=1, GCS objects.list with maxResults=1) with short timeouts,
retrying only transient failures (connection refused, timeouts, 5xx, throttling) and only
for PROBE_SECONDS, and says what came back in words that name the bucket: wrong
credentials, no such bucket, access denied, endpoint unreachable.

Beam-free, on purpose: boto3 and google-cloud-storage are called directly. Beam's S3
client retries a refused connection for minutes, and Beam's GCS client looks for
credentials with slow retries (~25 s) before anything is sent. The S3 settings are those
of the run (`--s3_*` flag values by flag name, the same as `storage.s3.make_client` reads
through Beam's S3Options; missing ones fall back to boto3's AWS_* variables, profiles and
instance credentials). GCS uses google-cloud-storage's own rules: its default credentials,
or anonymous access to STORAGE_EMULATOR_HOST (the tests' emulator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from bucketscore.errors import first_line
from bucketscore.storage.errors import (
    StorageUnavailable,
    is_permanent,
    is_transient,
    status_code,
    with_retries,
)

PROBE_SECONDS = 8.0  # transient failures are retried this long: a store restarting at launch
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

# `--s3_*` flag name -> boto3 client argument (s3_disable_ssl is use_ssl, inverted).
_S3_CLIENT_ARGS = {
    "s3_region_name": "region_name",
    "s3_api_version": "api_version",
    "s3_verify": "verify",
    "s3_endpoint_url": "endpoint_url",
    "s3_access_key_id": "aws_access_key_id",
    "s3_secret_access_key": "aws_secret_access_key",
    "s3_session_token": "aws_session_token",
}

# S3 error codes -> (what they mean, which setting to check).
_REGION = ("the bucket is in another region", "set --s3_region_name or AWS_DEFAULT_REGION")
_S3_CAUSES = {
    "NoSuchBucket": ("no such bucket", ""),
    "AccessDenied": ("access denied", "these credentials may not list it"),
    "AllAccessDisabled": ("access denied", "all access to this bucket is disabled"),
    "SignatureDoesNotMatch": (
        "wrong secret key",
        "check --s3_secret_access_key or AWS_SECRET_ACCESS_KEY",
    ),
    "InvalidAccessKeyId": (
        "unknown access key id",
        "check --s3_access_key_id or AWS_ACCESS_KEY_ID",
    ),
    "InvalidToken": ("invalid session token", "check --s3_session_token or AWS_SESSION_TOKEN"),
    "ExpiredToken": ("expired session token", "check --s3_session_token or AWS_SESSION_TOKEN"),
    "InvalidBucketName": ("not a valid bucket name", ""),
    "PermanentRedirect": _REGION,
    "AuthorizationHeaderMalformed": _REGION,
}
_NO_AWS_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass --s3_access_key_id "
    "and --s3_secret_access_key"
)
_NO_GCP_CREDENTIALS = (
    "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service account key file, or run `gcloud auth application-default "
    "login`"
)


@dataclass(frozen=True)
class Probe:
    """What one listing request said about `uri`."""

    uri: str
    problem: str = ""  # empty: the bucket answered; else the cause, in words
    first: str = ""  # the URI of the first object found at or below `uri`, if any

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def bucket(self) -> str:
        return split(self.uri)[1]


def split(uri: str) -> tuple[str, str, str]:
    """s3://bucket/key -> ("s3", "bucket", "key")."""
    scheme, rest = uri.split("://", 1)
    bucket, _, key = rest.partition("/")
    return scheme, bucket, key


def s3_client(settings: Optional[dict] = None):
    """A boto3 S3 client with these `--s3_*` settings (flag name -> value), short timeouts
    and a single attempt per call (retries are probe's, bounded in time)."""
    import boto3
    from botocore.config import Config

    settings = settings or {}
    kwargs = {arg: settings.get(flag) for flag, arg in _S3_CLIENT_ARGS.items()}
    kwargs["use_ssl"] = not settings.get("s3_disable_ssl")
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return boto3.session.Session().client("s3", config=config, **kwargs)


def _s3_lister(uri: str, settings: Optional[dict]):
    """(endpoint, a call that returns the first object URI under uri or "")."""
    _scheme, bucket, key = split(uri)
    client = s3_client(settings)

    def first() -> str:
        answer = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        found = [o["Key"] for o in answer.get("Contents", [])]
        return f"s3://{bucket}/{found[0]}" if found else ""

    return client.meta.endpoint_url, first


def _gcs_lister(uri: str):
    """(endpoint, a call that returns the first object URI under uri or "")."""
    from google.cloud import storage

    _scheme, bucket, key = split(uri)
    client = storage.Client(project=None)  # listing needs no project

    def first() -> str:
        blobs = client.list_blobs(
            bucket, prefix=key, max_results=1, retry=None, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
        found = [b.name for b in blobs]
        return f"gs://{bucket}/{found[0]}" if found else ""

    return client.api_endpoint, first


def probe(uri: str, s3_settings: Optional[dict] = None, seconds: float = PROBE_SECONDS) -> Probe:
    """List at most one object at or below an s3:// or gs:// URI; see the module docstring.

    `s3_settings`: `--s3_*` flag values by flag name (s3_endpoint_url, ...), for s3:// URIs.
    Never raises for what storage answers: the answer is in the returned Probe."""
    try:  # making a client finds the credentials: a missing profile or key file fails here
        endpoint, first = (
            _s3_lister(uri, s3_settings) if uri.startswith("s3://") else _gcs_lister(uri)
        )
    except Exception as e:  # noqa: BLE001 - every client error is an answer to word
        return Probe(uri, cause(e))

    def once() -> tuple[str, Optional[BaseException]]:
        # Transient failures are raised, for with_retries to retry within `seconds`; any
        # other answer is returned, to be worded below.
        try:
            return first(), None
        except Exception as e:
            if is_transient(e) and not is_permanent(e):
                raise
            return "", e

    try:
        found, error = with_retries(once, uri=uri, seconds=seconds)
    except StorageUnavailable as e:
        return Probe(uri, no_answer(e.error, endpoint, e.seconds))
    if error is not None:
        return Probe(uri, cause(error))
    return Probe(uri, first=found)


def cause(e: BaseException) -> str:
    """A storage client's refusal in words: what is wrong and which setting to check."""
    names = {k.__name__ for k in type(e).__mro__}
    response = getattr(e, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    if code in _S3_CAUSES:
        what, hint = _S3_CAUSES[code]
        return f"{what} ({code})" + (f": {hint}" if hint else "")
    if names & {"NoCredentialsError", "PartialCredentialsError"}:
        return _NO_AWS_CREDENTIALS
    if "ProfileNotFound" in names:
        return f"{first_line(e)} (check AWS_PROFILE)"
    if "DefaultCredentialsError" in names:
        return _NO_GCP_CREDENTIALS
    if "RefreshError" in names:
        return f"the Google credentials were refused ({first_line(e)})"
    status = status_code(e)
    if "NotFound" in names or status == 404 or code in ("404", "NotFound"):
        return "no such bucket (404)"
    if "Forbidden" in names or status == 403 or code in ("403", "Forbidden"):
        return f"access denied (403): these credentials may not list it ({first_line(e)})"
    if "Unauthorized" in names or status == 401:
        return f"the credentials were refused (401: {first_line(e)})"
    return f"{code or type(e).__name__}: {first_line(e)}"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def no_answer(e: BaseException, endpoint: str, seconds: float) -> str:
    """A store that gave only transient failures for the probe's time, in words."""
    code = status_code(e)
    if code is not None:
        return (
            f"the storage at {endpoint} kept answering {code} for {seconds:.0f} s ({first_line(e)})"
        )
    # botocore keeps the socket error (refused, no such host) in kwargs["error"].
    details = " ".join(
        [first_line(e)] + [str(v) for v in (getattr(e, "kwargs", None) or {}).values()]
    )
    errno = _ERRNO.search(details)
    why = errno.group(1).strip() if errno else first_line(e)
    return f"endpoint {endpoint} unreachable: {why} (for {seconds:.0f} s)"
