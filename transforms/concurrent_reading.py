"""Read listed objects' bytes with many requests in flight: the scoring pipeline's read stage.

Small objects in a bucket are bound by request latency, not bandwidth: one GET at a time
leaves the worker idle for most of each round trip. `ConcurrentReadImageBytes` keeps up to
`max_in_flight` reads (and at most `max_bytes_in_flight` listed bytes) going in a thread
pool and emits the results in input order, so the stages after it see the same stream.
Each read is `transforms.reading.read_with_retries` (for s3://, `storage.s3`: one client
per process, one GET per object). Local files are read inline (no thread: a page-cache
read is cheaper than a hand-off).

Same contract as `transforms.reading.ReadImageBytes`, the plain one-read-at-a-time reader
it is tested against: ListedImage -> ImageBytes on the main output; an object that cannot
be read -> ErrorRow(uri, "read", message) on `errors`; the same retries
(`storage.errors.with_retries`: transient errors retried within the budget, then
StorageUnavailable fails the run; no retry for 400/401/403/404), the same error wording
(`storage.errors.describe_error`), the same counters (read, bytes_read, failed).
"""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from bucketscore.storage import uris
from bucketscore.storage.errors import StorageUnavailable, describe_error
from bucketscore.transforms import counters
from bucketscore.transforms.reading import read_with_retries
from bucketscore.transforms.records import ERRORS_TAG, ErrorRow, ImageBytes, ListedImage

# Small objects are latency-bound: keep reads in flight (docs/decisions.md, "Many reads in
# flight").
DEFAULT_THREADS = 8
DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_MAX_BYTES_IN_FLIGHT = 64 << 20  # by listed size: big photos never pile up in memory


class ConcurrentReadImageBytes(beam.DoFn):
    """ListedImage -> ImageBytes; unreadable objects -> ErrorRow(stage="read") on `errors`.

    Up to `max_in_flight` remote reads at a time (`threads` threads), results in input order.
    """

    def __init__(
        self,
        threads: int = DEFAULT_THREADS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
        retry_seconds: Optional[float] = None,
    ):
        if threads < 1 or max_in_flight < 1:
            raise ValueError("threads and max_in_flight must be at least 1")
        self._threads = threads
        self._max_in_flight = max_in_flight
        self._max_bytes = max_bytes_in_flight
        self._retry_seconds = retry_seconds  # None: this process's budget (storage.errors)
        # Through transforms.counters: Beam counters, and the live progress board.
        self._read = counters.counter("read")
        self._bytes = counters.counter("bytes_read")
        self._failed = counters.counter("failed")
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pending: collections.deque = collections.deque()
        self._pending_bytes = 0

    # -- life cycle ----------------------------------------------------------------------
    def setup(self) -> None:
        # The run's storage retry budget in this worker, for our reads and for the boto3
        # clients Beam's file sinks make here (a Dataflow worker has no launcher env).
        uris.prepare_process(self._retry_seconds)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="bucketscore-read")

    def start_bundle(self) -> None:
        self._pending = collections.deque()
        self._pending_bytes = 0

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_pool=None, _pending=collections.deque(), _pending_bytes=0)
        return state

    # -- Beam ----------------------------------------------------------------------------------
    def process(
        self, image: ListedImage, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam
    ) -> Iterator:
        if not uris.is_remote(image.uri):
            # In order: first whatever remote reads are still pending.
            while self._pending:
                yield from self._emit(self._pending.popleft())
            yield from self._outputs(image, *self._try_read(image.uri), None)
            return
        if self._pool is None:  # setup() not called (direct DoFn use): make it now
            self.setup()
        future = self._pool.submit(self._try_read, image.uri)
        size = max(0, int(image.size or 0))
        self._pending.append((image, future, window, timestamp, size))
        self._pending_bytes += size
        while self._pending and (
            len(self._pending) >= self._max_in_flight
            or self._pending_bytes > self._max_bytes
            or self._pending[0][1].done()
        ):
            yield from self._emit(self._pending.popleft())

    def finish_bundle(self) -> Iterator:
        while self._pending:
            yield from self._emit(self._pending.popleft())

    def _try_read(self, uri: str) -> tuple[Optional[bytes], Optional[BaseException]]:
        try:
            return read_with_retries(uri), None
        except Exception as e:  # noqa: BLE001 - the object's error (or storage's: _outputs)
            return None, e

    def _emit(self, entry) -> Iterator:
        image, future, window, timestamp, size = entry
        self._pending_bytes -= size
        data, error = future.result()
        yield from self._outputs(image, data, error, (window, timestamp))

    def _outputs(
        self, image: ListedImage, data: Optional[bytes], error: Optional[BaseException], where
    ) -> Iterator:
        if isinstance(error, StorageUnavailable):
            raise error  # storage failed, not this image: the run fails and says so
        if error is not None:
            self._failed.inc()
            out = ErrorRow(image.uri, "read", describe_error(error))
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, self._windowed(out, where))
            return
        self._read.inc()
        self._bytes.inc(len(data))
        yield self._windowed(ImageBytes(image=image, data=data), where)

    @staticmethod
    def _windowed(value, where):
        """Outputs of an earlier element (or of finish_bundle) carry that element's window."""
        if where is None:
            return value
        window, timestamp = where
        return WindowedValue(value, timestamp, [window])
