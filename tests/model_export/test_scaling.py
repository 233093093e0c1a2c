"""model_export.scaling: the input scaling inside a bundle's model, from flags or a Keras
Applications preprocessing name: the numbers it gives on a known pixel (worked out by
hand), its Keras layers and TensorFlow ops agreeing, and the flag refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.model_export.scaling import (
    Scaling,
    ScalingError,
    parse_list,
    parse_number,
    per_channel,
    scaling_from_flags,
)

PIXEL = np.array([255.0, 128.0, 0.0], np.float32)  # one RGB pixel, 0..255
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _through_layers(scaling: Scaling, pixel=PIXEL) -> np.ndarray:
    import keras

    channels = len(pixel)
    inputs = keras.Input((1, 1, channels))
    model = keras.Model(inputs, scaling.apply(inputs, channels))
    return model.predict(np.asarray(pixel, np.float32).reshape(1, 1, 1, -1), verbose=0).ravel()


def _through_tf(scaling: Scaling, pixel=PIXEL) -> np.ndarray:
    import tensorflow as tf

    x = tf.constant(np.asarray(pixel, np.float32).reshape(1, 1, 1, -1))
    return np.asarray(scaling.tf_apply(x, len(pixel))).ravel()


@pytest.mark.parametrize(
    "flags, want",
    [
        # --scale 1/255: 0..1
        (("1/255", None, None, None, None), [1.0, 128 / 255, 0.0]),
        # --scale 1/127.5 --offset -1: -1..1
        (("1/127.5", "-1", None, None, None), [1.0, 128 / 127.5 - 1, -1.0]),
        # --scale 1/255 --mean/--std ImageNet: (x/255 - mean) / std
        (
            ("1/255", None, "0.485,0.456,0.406", "0.229,0.224,0.225", None),
            [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225],
        ),
        # one mean and std for every channel, no scale
        ((None, None, "100", "50", None), [(255 - 100) / 50, (128 - 100) / 50, -2.0]),
        # --preprocess tf (mobilenet_v2, inception_v3): x / 127.5 - 1
        ((None, None, None, None, "mobilenet_v2"), [1.0, 128 / 127.5 - 1, -1.0]),
        # --preprocess torch (densenet): ImageNet mean/std on 0..1
        (
            (None, None, None, None, "densenet"),
            [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, -0.406 / 0.225],
        ),
        # --preprocess caffe (resnet50, vgg16): RGB -> BGR, ImageNet mean (BGR) subtracted
        (
            (None, None, None, None, "resnet50"),
            [0 - 103.939, 128 - 116.779, 255 - 123.68],
        ),
        # --preprocess none (efficientnet): as is
        ((None, None, None, None, "efficientnet"), [255.0, 128.0, 0.0]),
        # no flags: as is
        ((None, None, None, None, None), [255.0, 128.0, 0.0]),
    ],
)
def test_the_numbers_on_a_known_pixel(flags, want):
    scaling = scaling_from_flags(*flags)
    np.testing.assert_allclose(_through_layers(scaling), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_through_tf(scaling), want, rtol=1e-5, atol=1e-5)


def test_a_grey_model_given_rgb_statistics_uses_their_mean():
    scaling = scaling_from_flags("1/255", None, "0.485,0.456,0.406", "0.229,0.224,0.225", None)
    want = (128 / 255 - MEAN.mean()) / STD.mean()
    np.testing.assert_allclose(_through_layers(scaling, [128.0]), [want], rtol=1e-5)
    np.testing.assert_allclose(_through_tf(scaling, [128.0]), [want], rtol=1e-5)


@pytest.mark.parametrize(
    "flags, message",
    [
        (("1/255", None, None, None, "resnet50"), "cannot be combined"),
        ((None, None, "0.5", None, None), "--mean and --std go together"),
        ((None, None, "0.5", "0", None), "must be positive"),
        (("0", None, None, None, None), "--scale must not be 0"),
        (("1/0", None, None, None, None), "is not a number"),
        (("abc", None, None, None, None), "is not a number"),
        ((None, None, "0.5,x", "1", None), "not a comma-separated list"),
        ((None, None, None, None, "vgg99"), "--preprocess 'vgg99': expected one of"),
    ],
)
def test_flag_refusals(flags, message):
    with pytest.raises(ScalingError, match=message):
        scaling_from_flags(*flags)


def test_statistics_that_do_not_fit_the_channels():
    assert per_channel([0.5], 3, "mean") == [0.5, 0.5, 0.5]
    assert per_channel([1, 2, 3], 1, "mean") == [2.0]
    with pytest.raises(ScalingError, match="--std has 2 values but the model has 3"):
        per_channel([1, 2], 3, "std")
    with pytest.raises(ScalingError, match="caffe preprocessing .* needs 3 channels"):
        _through_layers(Scaling(preprocess="caffe"), [128.0])


def test_numbers_and_lists_as_written_on_the_command_line():
    assert parse_number("1/255") == pytest.approx(1 / 255)
    assert parse_number(" -1 ") == -1.0 and parse_number("0.5") == 0.5
    assert parse_list("0.485, 0.456,0.406") == (0.485, 0.456, 0.406)
    assert parse_list(None) is None


def test_recorded_in_model_json_and_read_back():
    scaling = scaling_from_flags("1/255", None, "0.5", "0.25", None)
    doc = scaling.to_json()
    assert doc == {
        "scale": pytest.approx(1 / 255),
        "offset": 0.0,
        "mean": [0.5],
        "std": [0.25],
        "preprocess": None,
        "formula": "x * 0.00392157, then (x - [0.5]) / [0.25]",
    }
    assert Scaling.from_json(doc) == scaling
    assert Scaling.from_json(None) == Scaling() and Scaling().is_identity
    assert Scaling(preprocess="efficientnet").is_identity
    assert not Scaling(preprocess="tf").is_identity
    assert Scaling(preprocess="vgg16").describe() == (
        "RGB->BGR, x - ImageNet mean (0..255) (preprocess vgg16)"
    )


def test_scaling_layers_equal_the_tensorflow_arithmetic():
    import keras
    import tensorflow as tf

    from bucketscore.model_export.scaling import Scaling, scaling_from_flags

    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    for scaling in (
        Scaling(preprocess="mobilenet_v2"),
        Scaling(preprocess="resnet50"),
        Scaling(preprocess="densenet"),
        Scaling(preprocess="efficientnet"),
        scaling_from_flags("1/255", None, "0.5", "0.25", None),
        scaling_from_flags("1/127.5", "-1", None, None, None),
    ):
        inputs = keras.Input((4, 4, 3))
        model = keras.Model(inputs, scaling.apply(inputs, 3))
        np.testing.assert_allclose(
            model.predict(x, verbose=0),
            scaling.tf_apply(tf.constant(x), 3).numpy(),
            rtol=1e-5,
            atol=1e-4,
        )
    caffe = keras.applications.resnet50.preprocess_input(x.copy())
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, Scaling(preprocess="resnet50").apply(inputs, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), caffe, atol=1e-4)
