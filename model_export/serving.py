"""Export a classifier as the bundle's SavedModel: uint8 images in, probabilities out.

The serving signature `serving_default` takes `images` uint8 [N, H, W, C] and returns
`probabilities` [N, K] and, where the model has one, `embeddings` [N, D]: the output of the
penultimate layer (the input of the final Dense layer). The cast to float happens inside;
any normalisation must be part of the Keras model itself (see model_export/scaling.py), or, for
a wrapped SavedModel, of the wrapper.
"""

from __future__ import annotations

import os
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bucketscore.errors import first_line
from bucketscore.private_apis import keras_inbound_nodes, keras_producer

# Layers that may sit between the final Dense layer and the model's output.
_PASSTHROUGH = (
    "Activation",
    "Softmax",
    "Dropout",
    "Identity",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "SpatialDropout1D",
)


class ServingError(ValueError):
    """The model's outputs cannot be served as bucketscore needs (one probabilities output)."""


def _producer(tensor):
    """(layer, its input tensor) of the layer that produced `tensor` in a Keras graph."""
    layer, inputs = keras_producer(tensor)
    return layer, (inputs[0] if len(inputs) == 1 else None)


def locate_head(model) -> tuple:
    """(embedding tensor, head layers) of a single-output Keras classifier.

    The embedding is the input of the final Dense layer: the penultimate layer's output.
    The head is that Dense layer plus what follows it (softmax Activation, ...). Nested
    models (a user's model wrapped behind preprocessing layers) are followed inside; the
    returned tensor then belongs to a new node of `model`'s graph. Raises ServingError.
    """
    import keras

    if len(model.outputs) != 1:
        raise ServingError(
            f"the model has {len(model.outputs)} outputs; bucketscore needs "
            f"one (the class probabilities)"
        )
    chain = []
    tensor = model.outputs[0]
    while True:
        layer, inp = _producer(tensor)
        if isinstance(layer, keras.layers.Dense):
            if inp is None:
                break
            return inp, [layer] + chain
        if isinstance(layer, keras.Model) and inp is not None:
            inner_emb, inner_chain = locate_head(layer)
            features = keras.Model(layer.inputs, inner_emb, name=f"{layer.name}_features")
            return features(inp), inner_chain + chain
        if type(layer).__name__ in _PASSTHROUGH and inp is not None:
            chain.insert(0, layer)
            tensor = inp
            continue
        break
    raise ServingError(
        f"cannot find the penultimate layer of {model.name}: its output does "
        f"not come from a Dense layer (found {type(layer).__name__} "
        f"{layer.name!r}); name the embedding layer explicitly"
    )


def serving_model(model, embedding_layer: Optional[str] = None, embeddings: bool = True):
    """(Keras model returning [probabilities, embeddings] or [probabilities], embedding dim).

    `embedding_layer` names the layer whose output are the embeddings; by default the
    penultimate layer (see `locate_head`). With `embeddings=False` only probabilities.
    """
    import keras

    if len(model.outputs) != 1:
        raise ServingError(
            f"the model has {len(model.outputs)} outputs; bucketscore needs "
            f"one (the class probabilities)"
        )
    if not embeddings:
        return keras.Model(model.inputs, [model.outputs[0]]), None
    if embedding_layer:
        emb = _named_layer_output(model, embedding_layer)
        probs = model.outputs[0]
    else:
        emb, head = locate_head(model)
        probs = model.outputs[0]
        if not _reachable(model, emb):
            # The embedding is a new node (nested model): compute the output from it, so
            # the network runs once per batch.
            probs = emb
            for layer in head:
                probs = layer(probs)
    if len(emb.shape) != 2:
        raise ServingError(
            f"the embedding layer's output has shape {tuple(emb.shape)}; "
            f"embeddings must be vectors [N, D]"
        )
    return keras.Model(model.inputs, [probs, emb]), int(emb.shape[-1])


def _named_layer_output(model, name: str):
    """The output of layer `name` in `model`'s graph, looking into nested models too."""
    import keras

    try:
        return model.get_layer(name).output
    except ValueError:
        pass
    for layer in model.layers:
        if not isinstance(layer, keras.Model):
            continue
        try:
            inner = layer.get_layer(name)
        except ValueError:
            continue
        for node in keras_inbound_nodes(layer):  # where the outer graph calls it
            if any(_reachable(model, t) for t in node.output_tensors):
                features = keras.Model(layer.inputs, inner.output, name=f"{name}_features")
                return features(node.input_tensors[0])
    names = ", ".join(layer.name for layer in model.layers)
    raise ServingError(f"the model has no layer {name!r} (its layers: {names})")


def _reachable(model, tensor) -> bool:
    """Whether `tensor` is one of `model`'s own graph tensors (not a new node)."""
    seen, stack = set(), list(model.outputs)
    while stack:
        t = stack.pop()
        if t is tensor:
            return True
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.extend(keras_producer(t)[1])
    return False


def export_serving(pair, path: str, height: int, width: int, channels: int) -> None:
    """Write `pair` (a Keras model: float 0..255 -> [probabilities(, embeddings)]) to `path`."""
    import keras
    import tensorflow as tf

    n_out = len(pair.outputs)
    archive = keras.export.ExportArchive()
    archive.track(pair)

    @tf.function(
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")]
    )
    def serve(images):
        outs = pair(tf.cast(images, tf.float32), training=False)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        result = {"probabilities": outs[0]}
        if n_out > 1:
            result["embeddings"] = outs[1]
        return result

    archive.add_endpoint("serving_default", serve)
    archive.write_out(path, verbose=False)


def export_saved_model(
    model, path: str, height: int, width: int, channels: int, embedding_layer: Optional[str] = None
) -> Optional[int]:
    """Write `model` (Keras, float input 0..255) to `path`; returns the embedding size or None.

    With `embedding_layer` the signature also returns that layer's output as `embeddings`.
    """
    pair, dim = serving_model(model, embedding_layer, embeddings=bool(embedding_layer))
    export_serving(pair, path, height, width, channels)
    return dim


def image_signature(
    src: str, signature: str = "serving_default", input_key: Optional[str] = None
) -> tuple:
    """(loaded SavedModel, its `signature` function, the image input's name) of a user's
    SavedModel; ServingError when it does not load, lacks the signature, or its image input
    cannot be told (several inputs and no `input_key`)."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(src)
    except Exception as e:  # noqa: BLE001
        raise ServingError(
            f"{src} is not a loadable TensorFlow SavedModel: {first_line(e)}"
        ) from None
    sigs = dict(loaded.signatures)
    if signature not in sigs:
        raise ServingError(
            f"the SavedModel has no signature {signature!r} (it has: "
            f"{', '.join(sorted(sigs)) or 'none'}); pass --signature"
        )
    fn = sigs[signature]
    inputs = fn.structured_input_signature[1]
    if input_key is None:
        if len(inputs) != 1:
            raise ServingError(
                f"signature {signature!r} takes {len(inputs)} inputs "
                f"({', '.join(sorted(inputs))}); an image classifier takes one "
                f"image batch (name it with --input_key)"
            )
        input_key = next(iter(inputs))
    if input_key not in inputs:
        raise ServingError(f"signature {signature!r} has no input {input_key!r}")
    return loaded, fn, input_key


def wrap_saved_model(
    src: str,
    path: str,
    height: int,
    width: int,
    channels: int,
    *,
    signature: str = "serving_default",
    input_key: Optional[str] = None,
    output_key: Optional[str] = None,
    embedding_key: Optional[str] = None,
    scaling=None,
    softmax: bool = False,
) -> dict:
    """Wrap a user's SavedModel signature as a bundle SavedModel (uint8 in, dict out).

    Returns {"input_key", "input_dtype", "output_key", "embedding_key", "embedding_dim"}.
    Raises ServingError when the signature is not an image classifier.
    """
    import tensorflow as tf

    loaded, fn, input_key = image_signature(src, signature, input_key)
    inputs = fn.structured_input_signature[1]
    spec = inputs[input_key]
    check_image_shape(tuple(spec.shape), height, width, channels, what=f"input {input_key!r}")
    outputs = fn.structured_outputs
    if output_key is None:
        candidates = [
            k
            for k in outputs
            if k in ("probabilities", "probs", "predictions", "output_0", "logits")
        ]
        if len(outputs) == 1:
            output_key = next(iter(outputs))
        elif len(candidates) == 1:
            output_key = candidates[0]
        else:
            raise ServingError(
                f"signature {signature!r} has outputs "
                f"{', '.join(sorted(outputs))}; name the class scores with "
                f"--output_key"
            )
    for key, what in ((output_key, "--output_key"), (embedding_key, "--embedding_output")):
        if key is not None and key not in outputs:
            raise ServingError(
                f"{what} {key!r}: signature {signature!r} has outputs {', '.join(sorted(outputs))}"
            )
        if key is not None and len(outputs[key].shape) != 2:
            raise ServingError(
                f"output {key!r} has shape {tuple(outputs[key].shape)}; it must be [N, D]"
            )
    in_dtype = spec.dtype
    if not (in_dtype.is_floating or in_dtype in (tf.uint8, tf.int32, tf.int64)):
        raise ServingError(
            f"input {input_key!r} has dtype {in_dtype.name}; an image input is float or integer"
        )

    class Wrapped(tf.Module):
        def __init__(self):
            super().__init__()
            self.inner = loaded

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")
            ]
        )
        def serve(self, images):
            x = tf.cast(images, tf.float32)
            if scaling is not None:
                x = scaling.tf_apply(x, channels)
            out = self.inner.signatures[signature](**{input_key: tf.cast(x, in_dtype)})
            probs = tf.cast(out[output_key], tf.float32)
            if softmax:
                probs = tf.nn.softmax(probs, axis=-1)
            result = {"probabilities": probs}
            if embedding_key is not None:
                result["embeddings"] = tf.cast(out[embedding_key], tf.float32)
            return result

    module = Wrapped()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    dim = int(outputs[embedding_key].shape[-1]) if embedding_key else None
    return {
        "input_key": input_key,
        "input_dtype": in_dtype.name,
        "output_key": output_key,
        "embedding_key": embedding_key,
        "embedding_dim": dim,
    }


def check_image_shape(shape: tuple, height: int, width: int, channels: int, what: str) -> None:
    """Raise ServingError unless `shape` is [N, H, W, C] compatible with the given size."""
    if len(shape) != 4:
        raise ServingError(
            f"{what} has shape {shape}: not an image batch [N, height, width, channels]"
        )
    for got, want, name in zip(
        shape[1:], (height, width, channels), ("height", "width", "channels")
    ):
        if got is not None and got != want:
            raise ServingError(f"{what} has {name} {got}, but the bundle was asked for {want}")
