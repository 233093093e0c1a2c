"""BundleModelHandler through RunInference: equals a direct SavedModel call; culprits isolated."""

import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bucketscore.transforms.inference import BundleModelHandler, Infer
from bucketscore.transforms.records import ERRORS_TAG, ImageExample, ListedImage


def _examples(n, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return [
        ImageExample(
            ListedImage(f"mem://{i}.png", "mem://"),
            rng.integers(0, 256, shape, dtype=np.uint8),
            28,
            28,
        )
        for i in range(n)
    ]


def test_predictions_equal_direct_model_call(demo_bundle):
    examples = _examples(10)
    fn = tf.saved_model.load(os.path.join(demo_bundle.model, "saved_model")).signatures[
        "serving_default"
    ]
    direct = fn(images=tf.constant(np.stack([e.pixels for e in examples])))["probabilities"].numpy()
    expected = {e.uri: direct[i] for i, e in enumerate(examples)}

    def close(outputs):
        assert len(outputs) == 10
        for out in outputs:
            np.testing.assert_allclose(
                out.probabilities, expected[out.example.uri], rtol=1e-5, atol=1e-7
            )

    with TestPipeline() as p:
        out = (
            p
            | beam.Create(examples)
            | Infer(BundleModelHandler(demo_bundle.model, max_batch_size=4))
        )
        assert_that(out.outputs, close, label="outputs")
        assert_that(out[ERRORS_TAG], equal_to([]), label="no errors")


def test_one_bad_tensor_does_not_take_its_batch_with_it(demo_bundle):
    good = _examples(5)
    # Wrong shape: the batch cannot even be stacked, then the model refuses it alone.
    bad = ImageExample(ListedImage("mem://bad.png", "mem://"), np.zeros((5, 5, 1), np.uint8), 5, 5)
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(good + [bad])
            | Infer(BundleModelHandler(demo_bundle.model, min_batch_size=6, max_batch_size=6))
        )
        assert_that(
            out.outputs | beam.Map(lambda o: o.example.uri),
            equal_to([e.uri for e in good]),
            label="good scored",
        )
        assert_that(
            out[ERRORS_TAG] | beam.Map(lambda e: (e.uri, e.stage)),
            equal_to([("mem://bad.png", "inference")]),
            label="culprit",
        )
