"""Export a Keras classifier as the bundle's SavedModel: uint8 images in, probabilities out.

The serving signature `serving_default` takes `images` uint8 [N, H, W, C] and returns
`probabilities` [N, K] and, when an embedding layer is named, `embeddings` [N, D]. The
cast to float happens inside; any normalisation must be part of the Keras model itself.
"""
from __future__ import annotations

import os
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def export_saved_model(model, path: str, height: int, width: int, channels: int,
                       embedding_layer: Optional[str] = None) -> Optional[int]:
    """Write `model` (Keras, float input 0..255) to `path`; returns the embedding size or None."""
    import keras
    import tensorflow as tf

    if embedding_layer:
        both = keras.Model(model.inputs, [model.outputs[0],
                                          model.get_layer(embedding_layer).output])
    else:
        both = keras.Model(model.inputs, [model.outputs[0]])
    archive = keras.export.ExportArchive()
    archive.track(both)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8,
                                                name="images")])
    def serve(images):
        outs = both(tf.cast(images, tf.float32), training=False)
        if embedding_layer:
            return {"probabilities": outs[0], "embeddings": outs[1]}
        return {"probabilities": outs[0] if isinstance(outs, (list, tuple)) else outs}

    archive.add_endpoint("serving_default", serve)
    archive.write_out(path, verbose=False)
    if embedding_layer:
        return int(model.get_layer(embedding_layer).output.shape[-1])
    return None
