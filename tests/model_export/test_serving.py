"""model_export.serving: the bundle's SavedModel from a tiny Keras model (uint8 images in,
probabilities and embeddings out, equal to the Keras model's own outputs), locate_head and
serving_model on plain, nested and odd models, and the shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from bucketscore.model_export.serving import (
    ServingError,
    check_image_shape,
    export_saved_model,
    image_signature,
    locate_head,
    serving_model,
)


def _tiny(channels=3, head="softmax"):
    """Rescaling -> Conv -> pool -> Dense `features` (5) -> Dropout -> Dense (3) [-> head]."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 7, channels))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5, activation="relu", name="features")(x)
    x = layers.Dropout(0.2)(x)
    if head == "softmax":
        out = layers.Dense(3, activation="softmax", name="scores")(x)
    else:  # logits, then a separate softmax Activation
        out = layers.Activation("softmax", name="act")(layers.Dense(3, name="scores")(x))
    return keras.Model(inputs, out, name="tiny")


def _features(model, x):
    import keras

    return keras.Model(model.inputs, model.get_layer("features").output).predict(x, verbose=0)


def _x(n=4, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 7, channels), dtype=np.uint8)


def test_export_saved_model_takes_uint8_and_returns_what_the_keras_model_does(tmp_path):
    import tensorflow as tf

    model = _tiny()
    path = str(tmp_path / "saved_model")
    assert export_saved_model(model, path, 6, 7, 3, embedding_layer="features") == 5
    fn = tf.saved_model.load(path).signatures["serving_default"]
    ((name, spec),) = fn.structured_input_signature[1].items()
    assert name == "images" and spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 6, 7, 3]
    x = _x()
    out = fn(images=tf.constant(x))
    assert sorted(out) == ["embeddings", "probabilities"]
    floats = x.astype("float32")
    np.testing.assert_allclose(
        out["probabilities"].numpy(), model.predict(floats, verbose=0), atol=1e-6
    )
    np.testing.assert_allclose(out["embeddings"].numpy(), _features(model, floats), atol=1e-5)
    # Without an embedding layer: probabilities alone.
    assert export_saved_model(model, str(tmp_path / "plain"), 6, 7, 3) is None
    plain = tf.saved_model.load(str(tmp_path / "plain")).signatures["serving_default"]
    assert sorted(plain(images=tf.constant(x))) == ["probabilities"]


@pytest.mark.parametrize("head", ["softmax", "activation"])
def test_the_embedding_is_the_input_of_the_last_dense_layer(head):
    model = _tiny(head=head)
    emb, chain = locate_head(model)
    assert chain[0].name == "scores"  # the final Dense, then what follows it
    assert [layer.name for layer in chain] == (
        ["scores", "act"] if head != "softmax" else ["scores"]
    )
    pair, dim = serving_model(model)
    assert dim == 5 and len(pair.outputs) == 2
    x = _x(3).astype("float32")
    probs, embeddings = pair.predict(x, verbose=0)
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), atol=1e-6)
    # Dropout sits between `features` and the head: at inference the embedding is features'.
    np.testing.assert_allclose(embeddings, _features(model, x), atol=1e-5)


def test_a_users_model_nested_behind_preprocessing_is_followed_inside():
    import keras
    from keras import layers

    inner = _tiny()
    outer_in = keras.Input((6, 7, 3))
    outer = keras.Model(outer_in, inner(layers.Rescaling(2.0)(outer_in)), name="wrapped")
    pair, dim = serving_model(outer)
    assert dim == 5
    x = _x(2).astype("float32")
    probs, emb = pair.predict(x, verbose=0)
    np.testing.assert_allclose(probs, outer.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(emb, _features(inner, x * 2.0), atol=1e-5)
    # A layer named inside the nested model is found too.
    named, dim = serving_model(outer, embedding_layer="features")
    assert dim == 5
    np.testing.assert_allclose(named.predict(x, verbose=0)[1], emb, atol=1e-5)


def test_models_bucketscore_cannot_serve():
    import keras
    from keras import layers

    inputs = keras.Input((6, 7, 3))
    pooled = layers.GlobalAveragePooling2D()(inputs)
    two = keras.Model(inputs, [layers.Dense(2)(pooled), layers.Dense(3)(pooled)])
    with pytest.raises(ServingError, match="the model has 2 outputs"):
        serving_model(two)
    no_dense = keras.Model(inputs, layers.Softmax()(pooled), name="nodense")
    with pytest.raises(ServingError, match="cannot find the penultimate layer of nodense"):
        locate_head(no_dense)
    with pytest.raises(ServingError, match="has no layer 'nope'"):
        serving_model(_tiny(), embedding_layer="nope")
    conv = layers.Conv2D(2, 3, name="conv")(inputs)
    flat = keras.Model(inputs, layers.Dense(2, activation="softmax")(layers.Flatten()(conv)))
    with pytest.raises(ServingError, match="embeddings must be vectors"):
        serving_model(flat, embedding_layer="conv")
    only_probs, dim = serving_model(no_dense, embeddings=False)
    assert dim is None and len(only_probs.outputs) == 1


def test_check_image_shape():
    check_image_shape((None, 6, 7, 3), 6, 7, 3, what="x")
    check_image_shape((None, None, None, 3), 6, 7, 3, what="x")  # dynamic sizes fit any
    with pytest.raises(ServingError, match="x has shape \\(None, 10\\): not an image batch"):
        check_image_shape((None, 10), 6, 7, 3, what="x")
    with pytest.raises(ServingError, match="x has width 8, but the bundle was asked for 7"):
        check_image_shape((None, 6, 8, 3), 6, 7, 3, what="x")


def test_a_folder_that_is_no_saved_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ServingError, match="is not a loadable TensorFlow SavedModel"):
        image_signature(str(tmp_path))


def test_a_saved_model_without_the_signature_asked_for(tmp_path):
    path = str(tmp_path / "saved_model")
    export_saved_model(_tiny(), path, 6, 7, 3)
    _loaded, _fn, key = image_signature(path)
    assert key == "images"
    with pytest.raises(ServingError, match="has no signature 'predict' \\(it has: serving_default"):
        image_signature(path, "predict")
    with pytest.raises(ServingError, match="has no input 'pixels'"):
        image_signature(path, input_key="pixels")
