"""Model architectures trained from scratch. Inputs are float 0..255; scaling is inside."""
from __future__ import annotations

EMBEDDING_LAYER = "embedding"


def lenet(height: int, width: int, channels: int, num_classes: int, augment: bool = True):
    """LeNet-5 as in NVIDIA DIGITS: conv(20,5) pool conv(50,5) pool dense(500) softmax.

    The penultimate Dense layer is named `embedding` (the bundle's embeddings output).
    """
    import keras
    from keras import layers

    inputs = keras.Input((height, width, channels), name="images")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    if augment:
        # Small shifts and rotations: handwriting is never centred the same way twice.
        x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant")(x)
        x = layers.RandomRotation(0.04, fill_mode="constant")(x)
    x = layers.Conv2D(20, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(50, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(500, activation="relu", name=EMBEDDING_LAYER)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet")
