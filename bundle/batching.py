"""Images from many callers predicted in shared batches: what `bucketscore serve` runs.

    batcher = Batcher(model.predictor, max_batch=32)
    futures = batcher.submit([pixels_a, pixels_b])   # from any thread
    probabilities = [f.result() for f in futures]     # float32 [K] each, or the exception
    batcher.close()

One thread owns the predictor and calls it once per batch. A batch is whatever is waiting
when the previous call returns (up to `max_batch` images, a caller's group kept whole): no
timer, so a lone request waits for nothing, and under load the calls grow by themselves
(docs/performance.md, "A scoring URL", says what that gains). A batch that fails is
retried image by image, so only the image that breaks the model gets the error, as in the
scoring pipeline and in `classify`.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Protocol, Sequence

import numpy as np


class _Predictor(Protocol):
    def predict(self, images: np.ndarray): ...  # -> an object with .probabilities [N, K]


_STOP = object()


class Batcher:
    """Calls `predictor.predict` from one thread on batches of the images submitted."""

    def __init__(self, predictor: _Predictor, max_batch: int = 32):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._predictor = predictor
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self.calls = 0  # predict calls made (batches), for the benchmark and the tests
        self.images = 0  # images predicted
        self._thread = threading.Thread(target=self._loop, name="bucketscore-batcher", daemon=True)
        self._thread.start()

    def submit(self, images: Sequence[np.ndarray]) -> list[Future]:
        """One Future per image (HxWxC uint8, the bundle's input): its probabilities, or
        the exception its prediction raised. The images of one call stay in one batch
        (split only when there are more than max_batch)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        group = [(np.asarray(image), Future()) for image in images]
        if group:
            self._queue.put(group)
        return [f for _image, f in group]

    def close(self, timeout: float = 30.0) -> None:
        """Predict what was submitted, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _loop(self) -> None:
        carried = None  # a group that did not fit in the previous batch: first in the next
        while True:
            first = carried if carried is not None else self._queue.get()
            carried = None
            if first is _STOP:
                return
            batch = list(first)
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP or len(batch) + len(more) > self.max_batch:
                    carried = more
                    break
                batch.extend(more)
            for start in range(0, len(batch), self.max_batch):  # a group over max_batch
                self._predict(batch[start : start + self.max_batch])

    def _predict(self, batch: list) -> None:
        self.calls += 1
        self.images += len(batch)
        try:
            probs = self._predictor.predict(np.stack([image for image, _f in batch])).probabilities
        except Exception:  # noqa: BLE001 - find the image that fails, one by one below
            probs = None
        for i, (image, future) in enumerate(batch):
            if not future.set_running_or_notify_cancel():
                continue
            if probs is not None:
                future.set_result(probs[i])
                continue
            try:
                future.set_result(self._predictor.predict(image[None]).probabilities[0])
            except Exception as e:  # noqa: BLE001 - this image's inference error
                future.set_exception(e)
