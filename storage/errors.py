"""Storage errors: which ones a retry can fix, retries with backoff, and readable wording.

Used by every reader and writer (storage.uris, storage.s3, the pipeline's read stage) so
that they all retry, give up and describe failures the same way.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from bucketscore.errors import error_message

T = TypeVar("T")
ATTEMPTS = 5  # 0.5 + 1 + 2 + 4 s of backoff: rides out a store restarting


def status_code(e: BaseException) -> int | None:
    """The HTTP status behind a storage error (Beam's S3ClientError, google's), if any."""
    for attr in ("code", "status_code"):
        value = getattr(e, attr, None)
        if isinstance(value, int):
            return value
    if isinstance(e, FileNotFoundError):
        return 404
    if isinstance(e, PermissionError):
        return 403
    return None


def is_permanent(e: BaseException) -> bool:
    """Errors that retrying cannot fix: missing, forbidden, unauthorised."""
    return status_code(e) in (400, 401, 403, 404)


def describe_error(e: BaseException) -> str:
    """A storage error in words a person understands, with the original message after."""
    code = status_code(e)
    prefix = {401: "not authorised (401)", 403: "permission denied (403)",
              404: "not found (404; deleted after listing?)"}.get(code)
    return f"{prefix}: {error_message(e)}" if prefix else error_message(e)


def with_retries(fn: Callable[[], T], attempts: int = ATTEMPTS, first_wait: float = 0.5) -> T:
    """Call `fn`, retrying with exponential backoff; permanent errors are not retried."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - storage clients raise many kinds
            if is_permanent(e) or attempt == attempts - 1:
                raise
            time.sleep(first_wait * 2 ** attempt)
    raise AssertionError("unreachable")
