"""model_export.architectures: each architecture builds with the right input and output
shapes, an `embedding` layer before the softmax and its scaling inside (lenet and small_cnn
cheap; the transfer backbones built without weights), and the backbones' limits."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.model_export.architectures import (
    ARCHITECTURES,
    BACKBONES,
    DEFAULT_INPUT,
    EMBEDDING_LAYER,
    BackboneError,
    lenet,
    small_cnn,
    transfer,
)


def _layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_lenet_shapes_and_layers():
    model = lenet(28, 28, 1, 10)
    assert tuple(model.input.shape) == (None, 28, 28, 1)
    assert tuple(model.output.shape) == (None, 10)
    assert tuple(model.get_layer(EMBEDDING_LAYER).output.shape) == (None, 500)
    assert model.layers[-1].name == "probabilities"
    types = _layer_types(model)
    assert types.count("Conv2D") == 2 and types.count("MaxPooling2D") == 2
    assert {"RandomTranslation", "RandomRotation"} <= set(types)
    assert not {"RandomTranslation", "RandomRotation"} & set(
        _layer_types(lenet(28, 28, 1, 10, False))
    )
    # conv 5x5x1x20 + 20, conv 5x5x20x50 + 50, dense (7*7*50)x500 + 500, dense 500x10 + 10
    assert model.count_params() == 520 + 25050 + 1225500 + 5010


def test_lenet_takes_0_to_255_and_gives_probabilities():
    model = lenet(12, 16, 3, 4, augment=False)
    x = np.random.default_rng(0).uniform(0, 255, (3, 12, 16, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (3, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.layers[1].__class__.__name__ == "Rescaling"  # the scaling is inside


@pytest.mark.parametrize("height, width, channels", [(32, 32, 3), (8, 8, 1), (20, 36, 3)])
def test_small_cnn_shapes_for_any_size(height, width, channels):
    model = small_cnn(height, width, channels, 5, filters=(8, 16, 32), embedding_units=12)
    assert tuple(model.input.shape) == (None, height, width, channels)
    assert tuple(model.output.shape) == (None, 5)
    assert tuple(model.get_layer(EMBEDDING_LAYER).output.shape) == (None, 12)
    # Global pooling: the input size changes the compute, not the parameter count.
    same = small_cnn(64, 64, channels, 5, filters=(8, 16, 32), embedding_units=12)
    assert model.count_params() == same.count_params()
    x = np.full((2, height, width, channels), 128, np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, atol=1e-5)


def test_small_cnn_pools_only_while_there_is_something_to_pool():
    model = small_cnn(8, 8, 1, 2, filters=(4, 4, 4, 4))
    pools = [layer.name for layer in model.layers if layer.name.endswith("_pool")]
    assert pools == ["block1_pool", "block2_pool", "block3_pool"]  # 8 -> 4 -> 2 -> 1, then none


def test_the_architecture_list_and_default_inputs():
    assert ARCHITECTURES == (
        "lenet",
        "small_cnn",
        "mobilenet_v2",
        "efficientnet_b0",
        "resnet50",
        "inception_v3",
    )
    assert DEFAULT_INPUT["lenet"] == (28, 28, 1) and DEFAULT_INPUT["small_cnn"] == (64, 64, 3)
    assert DEFAULT_INPUT["inception_v3"] == (299, 299, 3)
    assert DEFAULT_INPUT["mobilenet_v2"] == (224, 224, 3)


def test_mobilenet_v2_transfer_with_a_head_layer():
    base = BACKBONES["mobilenet_v2"].build(32, 32, alpha=0.35)
    assert base.name == "base" and tuple(base.input.shape) == (None, 32, 32, 3)
    model = transfer("mobilenet_v2", 32, 32, 1, 3, base, head_units=7)
    assert tuple(model.input.shape) == (None, 32, 32, 1)  # grey in, repeated to RGB inside
    assert model.get_layer("grey_to_rgb") is not None
    assert tuple(model.get_layer(EMBEDDING_LAYER).output.shape) == (None, 7)
    assert tuple(model.output.shape) == (None, 3)
    assert not model.get_layer("base").trainable


def test_backbone_refusals():
    with pytest.raises(BackboneError, match="--alpha applies to mobilenet_v2 only"):
        BACKBONES["resnet50"].build(32, 32, alpha=0.5)
    with pytest.raises(BackboneError, match="cannot build mobilenet_v2"):
        BACKBONES["mobilenet_v2"].build(32, 32, weights="/no/such/weights.h5")
    with pytest.raises(BackboneError, match="needs images of at least 32x32; asked for 16x40"):
        BACKBONES["efficientnet_b0"].build(16, 40)


def test_inception_needs_75_pixels():
    from bucketscore.model_export.architectures import BACKBONES, BackboneError

    with pytest.raises(BackboneError, match="at least 75x75"):
        BACKBONES["inception_v3"].build(64, 64)


@pytest.mark.parametrize(
    "backbone,size,channels",
    [("efficientnet_b0", 32, 3), ("resnet50", 32, 1), ("inception_v3", 75, 3)],
)
def test_every_backbone_builds_a_servable_transfer_model(backbone, size, channels):
    """Build only (converting resnet50/inception_v3 takes tens of seconds): frozen base,
    scaling inside, one probabilities output and the pooled features as embeddings."""
    from bucketscore.model_export.architectures import BACKBONES, transfer
    from bucketscore.model_export.serving import serving_model

    base = BACKBONES[backbone].build(size, size)
    model = transfer(backbone, size, size, channels, 4, base)
    assert not model.get_layer("base").trainable
    pair, dim = serving_model(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, channels)).astype("float32")
    probs, emb = pair.predict(x, verbose=0)
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert emb.shape == (2, dim) and dim == base.output.shape[-1]
