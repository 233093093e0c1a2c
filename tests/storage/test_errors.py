"""storage.errors: which storage errors a retry can fix (the errors botocore, Beam's S3 client,
google-cloud-storage and the OS raise), the retry loop and its budget (the waits it asks for,
recorded instead of slept), the StorageUnavailable wording, status codes, and the budget as
processes see it; then a real outage: SeaweedFS stopped while it is read, and restarted.
"""

from __future__ import annotations

import errno
import socket
import threading

import pytest
from apache_beam.io.aws.clients.s3.messages import S3ClientError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from google.api_core import exceptions as google_errors

from bucketscore.storage import errors, uris
from bucketscore.storage.errors import (
    FIRST_WAIT,
    MAX_WAIT,
    QUICK_ATTEMPTS,
    RETRY_ENV,
    RETRY_SECONDS,
    STORAGE_FAILURE_MARK,
    StorageUnavailable,
    bucket_of,
    configure_sdk_retries,
    describe_error,
    is_permanent,
    is_transient,
    retry_budget,
    retry_seconds,
    set_retry_seconds,
    status_code,
    with_retries,
)
from tests.support.storage_servers import unique_bucket_name


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} said"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as e:  # noqa: BLE001 - built to be returned
        return e


PERMANENT = [
    FileNotFoundError(errno.ENOENT, "No such file", "/x.png"),
    PermissionError(errno.EACCES, "Permission denied"),
    IsADirectoryError(errno.EISDIR, "Is a directory"),
    _client_error("NoSuchKey", 404),
    _client_error("AccessDenied", 403),
    _client_error("SignatureDoesNotMatch", 403),
    _client_error("InvalidAccessKeyId", 403),
    S3ClientError("Not Found", 404),
    S3ClientError("Forbidden", 403),
    google_errors.NotFound("no such object"),
    google_errors.Forbidden("no"),
    StorageUnavailable("s3://b/k", ConnectionError("down"), 3.0, 4),  # already given up
]
TRANSIENT = [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    TimeoutError("timed out"),
    socket.timeout("read timed out"),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9/b"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9/b"),
    _client_error("SlowDown", 503),
    _client_error("InternalError", 500),
    _client_error("RequestTimeout", 400),  # a 400 that a retry fixes: the code says so
    S3ClientError("Service Unavailable", 503),
    S3ClientError("Could not connect to the endpoint URL", None),  # Beam: no code, words
    google_errors.ServiceUnavailable("try later"),
    google_errors.TooManyRequests("slow down"),
    _caused(OSError("read failed"), ConnectionResetError("Connection reset by peer")),
]
NEITHER = [ValueError("bad value"), KeyError("x"), RuntimeError("something else")]


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent_errors_are_never_retried(error):
    assert is_permanent(error)
    calls = []

    def fail():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(fail, "s3://b/k", seconds=60, sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_retried_until_they_stop(error):
    assert is_transient(error) and not is_permanent(error)
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 6:
            raise error
        return "read"

    assert with_retries(flaky, "s3://b/k", seconds=60, sleep=waits.append) == "read"
    assert len(calls) == 6
    # Exponential with full jitter: attempt n waits between cap/2 and cap, cap doubling
    # from FIRST_WAIT up to MAX_WAIT.
    for n, wait in enumerate(waits, start=1):
        cap = min(MAX_WAIT, FIRST_WAIT * 2 ** (n - 1))
        assert cap / 2 <= wait <= cap, (n, wait)


@pytest.mark.parametrize("error", NEITHER, ids=lambda e: type(e).__name__)
def test_other_errors_get_a_few_quick_attempts(error):
    assert not is_transient(error) and not is_permanent(error)
    calls, waits = [], []

    def fail():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(fail, seconds=60, sleep=waits.append)
    assert len(calls) == QUICK_ATTEMPTS == 3
    assert waits == [FIRST_WAIT, 2 * FIRST_WAIT]


def test_the_message_never_decides_for_a_permanent_code():
    """An object named `timeout.png` that is missing is missing (404), not an outage."""
    missing = S3ClientError("Not Found: s3://b/connection refused/timeout.png", 404)
    assert is_permanent(missing) and not is_transient(missing)


def test_a_service_code_that_names_a_transient_condition_wins_over_its_status():
    """S3 answers RequestTimeout ("your socket connection was not read from ... within the
    timeout period") with HTTP 400: a retry fixes it, as botocore's own retries know. Also as
    storage.s3 raises it: Beam's S3ClientError(message, 400) from the ClientError."""
    timeout = _client_error("RequestTimeout", 400)
    wrapped = _caused(S3ClientError(str(timeout), 400), timeout)
    for error in (timeout, wrapped):
        assert is_transient(error) and not is_permanent(error)
    calls = []

    def once_timed_out():
        calls.append(1)
        if len(calls) == 1:
            raise wrapped
        return b"read"

    assert with_retries(once_timed_out, "s3://b/k", seconds=60, sleep=lambda s: None) == b"read"
    # A 400 with a code that names no transient condition stays permanent.
    assert is_permanent(_caused(S3ClientError("bad", 400), _client_error("InvalidRange", 400)))


def test_a_spent_budget_raises_storage_unavailable_in_words():
    error = ConnectionRefusedError(
        errno.ECONNREFUSED, "Connection refused: http://h/b/k?X-Amz-Signature=abc"
    )

    def down():
        raise error

    with pytest.raises(StorageUnavailable) as e:
        with_retries(down, "s3://bucket/images/a.png", seconds=0, sleep=lambda s: None)
    got = e.value
    assert got.attempts == 1 and got.error is error and got.uri == "s3://bucket/images/a.png"
    assert str(got) == (
        f"{STORAGE_FAILURE_MARK} s3://bucket (s3://bucket/images/a.png) did not answer for 0 s "
        "(1 attempts; --storage_retry_seconds): ConnectionRefusedError: [Errno 111] "
        "Connection refused: http://h/b/k"
    )  # the presigned URL's query (its signature) is left out
    assert isinstance(got.__cause__, ConnectionRefusedError)
    assert str(StorageUnavailable("", TimeoutError("t"), 5, 2)).startswith(
        f"{STORAGE_FAILURE_MARK} storage did not answer for 5 s (2 attempts"
    )


def test_status_codes_of_each_kind_of_error():
    assert status_code(S3ClientError("x", 404)) == 404
    assert status_code(_client_error("AccessDenied", 403)) == 403
    assert status_code(google_errors.TooManyRequests("x")) == 429
    assert status_code(FileNotFoundError("x")) == 404
    assert status_code(PermissionError("x")) == 403
    assert status_code(S3ClientError("no code", None)) is None
    assert status_code(ValueError("x")) is None


def test_describe_error_says_what_the_status_means():
    # Beam's S3ClientError reads as its (message, code) arguments.
    assert describe_error(S3ClientError("Not Found", 404)) == (
        "not found (404; deleted after listing?): S3ClientError: ('Not Found', 404)"
    )
    assert describe_error(_client_error("AccessDenied", 403)).startswith(
        "permission denied (403): ClientError: An error occurred (AccessDenied)"
    )
    assert describe_error(S3ClientError("Unauthorized", 401)).startswith("not authorised (401)")
    assert describe_error(ValueError("bad\nsecond line")) == "ValueError: bad"


def test_bucket_of():
    assert bucket_of("s3://b/k/x.png") == "s3://b"
    assert bucket_of("gs://b") == "gs://b"
    assert bucket_of("/local/x.png") == "/local/x.png"


def test_the_budget_comes_from_the_environment_and_blocks_override_it(monkeypatch):
    monkeypatch.delenv(RETRY_ENV, raising=False)
    assert retry_seconds() == RETRY_SECONDS == 180.0
    monkeypatch.setenv(RETRY_ENV, "12.5")
    assert retry_seconds() == 12.5
    monkeypatch.setenv(RETRY_ENV, "-3")
    assert retry_seconds() == 0.0
    monkeypatch.setenv(RETRY_ENV, "soon")
    assert retry_seconds() == RETRY_SECONDS
    monkeypatch.setenv(RETRY_ENV, "30")
    with retry_budget(2):
        assert retry_seconds() == 2
        with retry_budget(0.5):
            assert retry_seconds() == 0.5
        assert retry_seconds() == 2
    assert retry_seconds() == 30


def test_set_retry_seconds_reaches_child_processes_and_botocore(monkeypatch):
    for name in (RETRY_ENV, "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    set_retry_seconds(60)
    assert errors.os.environ[RETRY_ENV] == "60"
    # botocore's standard mode waits ~10 s a retry past the first five: 60 / 10 + 5.
    assert (errors.os.environ["AWS_RETRY_MODE"], errors.os.environ["AWS_MAX_ATTEMPTS"]) == (
        "standard",
        "11",
    )
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # the user's own setting
    configure_sdk_retries(300)
    assert errors.os.environ["AWS_MAX_ATTEMPTS"] == "2"
    configure_sdk_retries(300, force=True)
    assert errors.os.environ["AWS_MAX_ATTEMPTS"] == "35"
    set_retry_seconds(None)  # keeps the process's budget
    assert errors.os.environ[RETRY_ENV] == "60"


# --------------------------------------------------------------------------------------
# A real outage: SeaweedFS stopped (and restarted on the same port, with the same data)
# --------------------------------------------------------------------------------------
@pytest.fixture()
def stored_object(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("outage"))
    s3_server.boto3_client().put_object(Bucket=bucket, Key="a.png", Body=b"image bytes")
    uris.set_options(s3_server.beam_options())
    yield f"s3://{bucket}/a.png"
    if not _answers(s3_server):  # whatever happened in the test, the server is back
        s3_server.start_process()


def _answers(server) -> bool:
    try:
        server.boto3_client(connect_timeout=1, read_timeout=3, max_attempts=1).list_buckets()
        return True
    except Exception:  # noqa: BLE001 - any failure means it is not answering
        return False


def test_reading_while_the_store_is_down_fails_after_the_budget(s3_server, stored_object):
    s3_server.stop_process()
    try:
        with retry_budget(2), pytest.raises(StorageUnavailable) as e:
            uris.read_bytes(stored_object)
    finally:
        s3_server.start_process()
    message = str(e.value)
    bucket = stored_object.rsplit("/", 1)[0]
    assert message.startswith(f"{STORAGE_FAILURE_MARK} {bucket} ({stored_object}) did not answer")
    assert e.value.attempts >= 2 and e.value.seconds >= 2
    assert is_transient(e.value.error)
    assert uris.read_bytes(stored_object) == b"image bytes"  # back, with its data


def test_reading_rides_out_a_restart(s3_server, stored_object):
    s3_server.stop_process()
    restarted = threading.Timer(2.0, s3_server.start_process)
    restarted.start()
    try:
        with retry_budget(120):
            assert uris.read_bytes(stored_object) == b"image bytes"
    finally:
        restarted.join()
