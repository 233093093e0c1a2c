"""Storage errors: which ones a retry can fix, retries within a time budget, readable wording.

Used by every reader and writer (storage.uris, storage.s3, storage.pages, the pipeline's
read stage, the finishing step) so that they all retry, give up and describe failures the
same way:

* permanent answers (400, 401, 403, 404, NoSuchKey, InvalidAccessKeyId, AccessDenied,
  SignatureDoesNotMatch, a missing local file) are never retried: they are the object's
  (or the settings') fault, and become errors rows or a clear command error;
* transient ones (connection refused or reset, timeouts, 408/429/500/502/503/504,
  SlowDown/Throttling, and a service code that names one even with a 4xx status: S3's
  RequestTimeout comes as a 400) are retried with exponential backoff and full jitter until the
  retry budget (`--storage_retry_seconds`, default RETRY_SECONDS) is spent; then
  StorageUnavailable is raised, which fails the run saying that storage failed (never an
  errors row: an outage is not a bad image);
* anything else is retried a few times quickly (QUICK_ATTEMPTS) and then raised as it is.

Beam's own S3 filesystem (the file sinks' temporary files, their finalisation, listing by
glob) makes its boto3 clients itself; `configure_sdk_retries` points botocore's standard
retry mode at the same budget through AWS_RETRY_MODE / AWS_MAX_ATTEMPTS, which every boto3
client created afterwards in the process reads.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import time
from typing import Callable, Iterator, Optional, TypeVar

from bucketscore.errors import error_message, first_line

T = TypeVar("T")
# Rides out an outage of at least two minutes (docs/decisions.md, "A storage retry budget").
RETRY_SECONDS = 180.0
RETRY_ENV = "BUCKETSCORE_STORAGE_RETRY_SECONDS"  # how the budget reaches worker processes
QUICK_ATTEMPTS = 3  # errors that are neither permanent nor known to be transient
FIRST_WAIT = 0.5  # seconds; doubles each attempt, capped at MAX_WAIT, full jitter
MAX_WAIT = 8.0
STORAGE_FAILURE_MARK = "bucketscore storage failed:"

PERMANENT_CODES = {400, 401, 403, 404, 405, 409, 411, 412, 416}
TRANSIENT_CODES = {408, 429, 500, 502, 503, 504, 509}
PERMANENT_NAMES = (
    "NoSuchKey",
    "NoSuchBucket",
    "InvalidAccessKeyId",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidBucketName",
    "NotFound",
    "Forbidden",
)
TRANSIENT_NAMES = (
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyConnectionError",
    "ConnectionError",
    "ProtocolError",
    "IncompleteRead",
    "RemoteDisconnected",
    "TooManyRequests",
    "GatewayTimeout",
    "BadGateway",
    "DeadlineExceeded",
)
# Beam's S3 client re-raises every boto3 error as S3ClientError(message, code): a
# connection problem then has no code and only its message says what it was.
TRANSIENT_WORDS = (
    "could not connect",
    "connection refused",
    "connection reset",
    "connection aborted",
    "connection was closed",
    "connection closed",
    "timed out",
    "timeout",
    "max retries exceeded",
    "remote end closed",
    "temporarily unavailable",
    "slow down",
    "please reduce your request rate",
    "service unavailable",
    "bad gateway",
    "broken pipe",
)


class StorageUnavailable(RuntimeError):
    """Storage kept failing with transient errors for the whole retry budget."""

    def __init__(self, uri: str, error: BaseException, seconds: float, attempts: int):
        self.uri, self.error, self.seconds, self.attempts = uri, error, seconds, attempts
        where = bucket_of(uri) if uri else "storage"
        doing = f" ({uri})" if uri and uri != where else ""
        super().__init__(
            f"{STORAGE_FAILURE_MARK} {where}{doing} did not answer for "
            f"{seconds:.0f} s ({attempts} attempts; --storage_retry_seconds): "
            f"{_root_message(error)}"
        )


_QUERY = re.compile(r"\?[^\s\"')]*")


def _root_message(e: BaseException) -> str:
    """The innermost error of the chain in one line, URLs without their query (a presigned
    URL's signature is noise)."""
    root = _chain(e)[-1]
    return _QUERY.sub("", error_message(root))


def bucket_of(uri: str) -> str:
    """s3://bucket/key -> s3://bucket; a local path stays as it is."""
    if "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def status_code(e: BaseException) -> Optional[int]:
    """The HTTP status behind a storage error (Beam's S3ClientError, google's, botocore's
    ClientError), if any."""
    for attr in ("code", "status_code"):
        value = getattr(e, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    if isinstance(e, FileNotFoundError):
        return 404
    if isinstance(e, PermissionError):
        return 403
    return None


def _chain(e: BaseException) -> list[BaseException]:
    """The error and its causes (at most five)."""
    out = []
    while e is not None and len(out) < 5:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _codes(e: BaseException) -> set[str]:
    """Class names and service error codes (botocore's Error.Code) of the error and its
    causes: what is matched against PERMANENT_NAMES / TRANSIENT_NAMES (never the message,
    which may quote an object's name)."""
    out = set()
    for err in _chain(e):
        out.update(k.__name__ for k in type(err).__mro__)
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            out.add(str(response.get("Error", {}).get("Code", "")))
    return out


def _transient_service_code(e: BaseException) -> bool:
    """Whether a service error code (botocore's Error.Code) of the error or its causes names
    a transient condition: S3 answers some with a 4xx status (RequestTimeout: 400)."""
    for err in _chain(e):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            if str(response.get("Error", {}).get("Code", "")) in TRANSIENT_NAMES:
                return True
    return False


def _messages(e: BaseException) -> str:
    return " ".join(first_line(err) for err in _chain(e)).lower()


def is_permanent(e: BaseException) -> bool:
    """Errors that retrying cannot fix: missing, forbidden, unauthorised, malformed."""
    if isinstance(e, StorageUnavailable):  # its budget is spent: not to be retried again
        return True
    if status_code(e) in PERMANENT_CODES:
        return not _transient_service_code(e)
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return True
    return bool(_codes(e) & set(PERMANENT_NAMES)) and not is_transient_code(e)


def is_transient_code(e: BaseException) -> bool:
    return status_code(e) in TRANSIENT_CODES


def is_transient(e: BaseException) -> bool:
    """Errors a store that is restarting, overloaded or briefly unreachable gives."""
    if is_transient_code(e) or _transient_service_code(e):
        return True
    if status_code(e) in PERMANENT_CODES:
        return False
    if any(isinstance(err, (ConnectionError, TimeoutError, socket.timeout)) for err in _chain(e)):
        return True
    if _codes(e) & set(TRANSIENT_NAMES):
        return True
    text = _messages(e)
    return any(word in text for word in TRANSIENT_WORDS)


def describe_error(e: BaseException) -> str:
    """A storage error in words a person understands, with the original message after."""
    code = status_code(e)
    prefix = {
        401: "not authorised (401)",
        403: "permission denied (403)",
        404: "not found (404; deleted after listing?)",
    }.get(code)
    return f"{prefix}: {error_message(e)}" if prefix else error_message(e)


_override: list[float] = []  # retry_budget(): a shorter budget for best-effort work


@contextlib.contextmanager
def retry_budget(seconds: float) -> Iterator[None]:
    """Use this budget inside the block (e.g. best-effort clean-up after storage failed)."""
    _override.append(seconds)
    try:
        yield
    finally:
        _override.pop()


def retry_seconds() -> float:
    """This process's retry budget: $BUCKETSCORE_STORAGE_RETRY_SECONDS, else RETRY_SECONDS."""
    if _override:
        return _override[-1]
    try:
        return max(0.0, float(os.environ.get(RETRY_ENV, RETRY_SECONDS)))
    except ValueError:
        return RETRY_SECONDS


def set_retry_seconds(seconds: Optional[float]) -> None:
    """Use this budget from now on in this process and the processes it starts (None: keep
    this process's budget, and point botocore at it unless the user configured it)."""
    if seconds is None:
        configure_sdk_retries()
        return
    os.environ[RETRY_ENV] = f"{float(seconds):g}"
    configure_sdk_retries(seconds, force=True)


def configure_sdk_retries(seconds: Optional[float] = None, force: bool = False) -> None:
    """Make boto3 clients created from now on (Beam's S3 filesystem makes its own) retry
    transient errors in botocore's standard mode for about `seconds` (default: this
    process's budget). Variables the user set are kept unless `force`."""
    seconds = retry_seconds() if seconds is None else seconds
    # Standard mode waits random() * min(2 ** attempt, 20) s: ~10 s a retry once past the
    # first five, so budget / 10 + 5 attempts last about the budget.
    attempts = str(max(1, int(seconds / 10) + 5))
    for name, value in (("AWS_RETRY_MODE", "standard"), ("AWS_MAX_ATTEMPTS", attempts)):
        if force or name not in os.environ:
            os.environ[name] = value


def with_retries(
    fn: Callable[[], T],
    uri: str = "",
    seconds: Optional[float] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn`, retrying as the module docstring says. `uri` names what is read or
    written (for StorageUnavailable's message); `seconds` overrides the budget."""
    budget = retry_seconds() if seconds is None else seconds
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as e:
            if is_permanent(e):
                raise
            elapsed = time.monotonic() - started
            if is_transient(e):
                remaining = budget - elapsed
                if remaining <= 0:
                    raise StorageUnavailable(uri, e, elapsed, attempt) from e
                # Exponential, with jitter so that many readers do not retry in step.
                cap = min(MAX_WAIT, FIRST_WAIT * 2 ** (attempt - 1))
                wait = min(remaining, cap / 2 + random.uniform(0, cap / 2))
            elif attempt >= QUICK_ATTEMPTS:
                raise
            else:
                wait = FIRST_WAIT * 2 ** (attempt - 1)
            sleep(wait)
