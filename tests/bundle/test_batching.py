"""bundle.batching: images from many threads predicted in shared batches, each answer the
one the bundle's own predictor gives the image alone (the reference: a direct call)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bucketscore.bundle.batching import Batcher
from bucketscore.bundle.predictor import load_predictor


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return load_predictor(demo_bundle.model, "onnx", "cpu")


def _pixels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


class Recording:
    """The real predictor, with each call's batch size recorded; a call can be held until
    the test lets it go (so that submissions queue up behind it)."""

    def __init__(self, inner, hold: bool = False):
        self.inner = inner
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def predict(self, images):
        self.sizes.append(len(images))
        self.entered.set()
        self.release.wait(30)
        return self.inner.predict(images)


def test_every_image_gets_its_own_probabilities_from_many_threads(predictor):
    images = _pixels(96, seed=1)
    reference = predictor.predict(images).probabilities
    recording = Recording(predictor)
    batcher = Batcher(recording, max_batch=16)
    try:
        groups = [list(range(i, min(i + 3, 96))) for i in range(0, 96, 3)]
        with ThreadPoolExecutor(8) as pool:
            futures = list(pool.map(lambda g: (g, batcher.submit(images[g])), groups))
        for group, fs in futures:
            for i, f in zip(group, fs):
                np.testing.assert_allclose(f.result(30), reference[i], atol=1e-6)
    finally:
        batcher.close()
    assert sum(recording.sizes) == 96 and max(recording.sizes) <= 15  # whole groups of 3
    assert (batcher.calls, batcher.images) == (len(recording.sizes), 96)


def test_what_waits_behind_a_call_goes_in_the_next_one(predictor):
    recording = Recording(predictor, hold=True)
    batcher = Batcher(recording, max_batch=32)
    try:
        first = batcher.submit(_pixels(1, seed=2))
        assert recording.entered.wait(30)  # the first call holds the predictor
        waiting = [batcher.submit(_pixels(2, seed=s)) for s in range(3, 8)]  # 5 groups of 2
        recording.release.set()
        first[0].result(30)
        for fs in waiting:
            for f in fs:
                f.result(30)
    finally:
        batcher.close()
    assert recording.sizes == [1, 10]  # not five calls of 2


def test_a_group_over_max_batch_is_split_and_max_batch_1_is_one_image_a_call(predictor):
    recording = Recording(predictor)
    batcher = Batcher(recording, max_batch=4)
    images = _pixels(10, seed=9)
    try:
        got = [f.result(30) for f in batcher.submit(images)]
    finally:
        batcher.close()
    assert recording.sizes == [4, 4, 2]
    np.testing.assert_allclose(np.stack(got), predictor.predict(images).probabilities, atol=1e-6)
    one = Recording(predictor)
    batcher = Batcher(one, max_batch=1)
    try:
        [f.result(30) for f in batcher.submit(images[:3])]
    finally:
        batcher.close()
    assert one.sizes == [1, 1, 1]


class Breaks:
    """The real predictor, failing any call that contains an all-white image."""

    def __init__(self, inner):
        self.inner = inner

    def predict(self, images):
        if (images.reshape(len(images), -1) == 255).all(axis=1).any():
            raise RuntimeError("this image breaks the model")
        return self.inner.predict(images)


def test_only_the_image_that_breaks_the_model_fails(predictor):
    images = _pixels(5, seed=4)
    images[2] = 255
    batcher = Batcher(Breaks(predictor), max_batch=8)
    try:
        futures = batcher.submit(images)
        with pytest.raises(RuntimeError, match="breaks the model"):
            futures[2].result(30)
        for i in (0, 1, 3, 4):
            np.testing.assert_allclose(
                futures[i].result(30), predictor.predict(images[i : i + 1]).probabilities[0]
            )
    finally:
        batcher.close()


def test_close_answers_what_was_submitted_then_refuses(predictor):
    recording = Recording(predictor, hold=True)
    batcher = Batcher(recording)
    futures = batcher.submit(_pixels(3, seed=5))
    assert recording.entered.wait(30)
    more = batcher.submit(_pixels(2, seed=6))
    recording.release.set()
    batcher.close()
    assert all(f.done() and f.exception() is None for f in futures + more)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(_pixels(1, seed=7))
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(predictor, max_batch=0)
