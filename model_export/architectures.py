"""Model architectures: from scratch (lenet, small_cnn) and transfer learning on Keras
Applications backbones. Inputs are float 0..255; scaling is inside every model, and the
penultimate layer is named `embedding` (the bundle's embeddings output)."""

from __future__ import annotations

from dataclasses import dataclass

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


def small_cnn(
    height: int,
    width: int,
    channels: int,
    num_classes: int,
    dropout: float = 0.3,
    filters: tuple[int, ...] = (32, 64, 128),
    embedding_units: int = 128,
):
    """A small VGG-style CNN for grey or colour images of any size (>= 8x8).

    Blocks of conv-BN-ReLU + max-pool, global average pooling (so the input size only
    changes the compute, not the parameter count), Dense `embedding`, dropout, softmax.
    """
    import keras
    from keras import layers

    inputs = keras.Input((height, width, channels), name="images")
    x = layers.Rescaling(1.0 / 255.0, name="scale_unit")(inputs)
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv")(x)
        # momentum 0.9: the moving statistics settle within a few epochs on small data
        x = layers.BatchNormalization(momentum=0.9, name=f"block{i + 1}_bn")(x)
        x = layers.ReLU(name=f"block{i + 1}_relu")(x)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(embedding_units, activation="relu", name=EMBEDDING_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


# ---------------------------------------------------------------------------------------
# Transfer learning on Keras Applications backbones
# ---------------------------------------------------------------------------------------
BASE_LAYER = "base"


class BackboneError(ValueError):
    """A backbone cannot be built as asked (size, channels, weights file)."""


@dataclass(frozen=True)
class Backbone:
    name: str
    constructor: str  # attribute of keras.applications
    preprocess: str  # a model_export.scaling.PREPROCESS_MODES name
    default_size: int
    min_size: int
    weights_url: str  # where the ImageNet no-top weights come from (for the error message)

    def build(self, height: int, width: int, weights=None, alpha: float = 1.0):
        import keras

        if min(height, width) < self.min_size:
            raise BackboneError(
                f"{self.name} needs images of at least {self.min_size}x"
                f"{self.min_size}; asked for {height}x{width} (--height/--width)"
            )
        kwargs = dict(
            input_shape=(height, width, 3), include_top=False, weights=weights, name=BASE_LAYER
        )
        if self.name == "mobilenet_v2":
            kwargs["alpha"] = alpha
        elif alpha != 1.0:
            raise BackboneError(f"--alpha applies to mobilenet_v2 only, not {self.name}")
        try:
            return getattr(keras.applications, self.constructor)(**kwargs)
        except ValueError as e:
            raise BackboneError(f"cannot build {self.name}: {e}") from None


_KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"
BACKBONES = {
    "mobilenet_v2": Backbone(
        "mobilenet_v2",
        "MobileNetV2",
        "mobilenet_v2",
        224,
        32,
        _KERAS_WEIGHTS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_"
        "ordering_tf_kernels_<alpha>_<size>_no_top.h5",
    ),
    "efficientnet_b0": Backbone(
        "efficientnet_b0",
        "EfficientNetB0",
        "efficientnet_b0",
        224,
        32,
        _KERAS_WEIGHTS + "efficientnetb0_notop.h5",
    ),
    "resnet50": Backbone(
        "resnet50",
        "ResNet50",
        "resnet50",
        224,
        32,
        _KERAS_WEIGHTS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "inception_v3": Backbone(
        "inception_v3",
        "InceptionV3",
        "inception_v3",
        299,
        75,
        _KERAS_WEIGHTS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
}
SCRATCH = ("lenet", "small_cnn")
ARCHITECTURES = SCRATCH + tuple(BACKBONES)
DEFAULT_INPUT = {"lenet": (28, 28, 1), "small_cnn": (64, 64, 3)}
DEFAULT_INPUT.update({name: (b.default_size, b.default_size, 3) for name, b in BACKBONES.items()})


def transfer(
    backbone: str,
    height: int,
    width: int,
    channels: int,
    num_classes: int,
    base,
    dropout: float = 0.2,
    head_units: int = 0,
):
    """Backbone (frozen, inference-mode BN) + global pooling + [Dense] + softmax.

    `base` is the built backbone (from `Backbone.build`, weights already loaded). Grey input
    is repeated to three channels inside the model; the backbone's own input scaling is the
    first layer, so the model takes 0..255 like every other bundle model. The embeddings are
    the pooled backbone features, or the `head_units` Dense layer when there is one.
    """
    import keras
    from keras import layers

    from bucketscore.model_export.scaling import Scaling

    spec = BACKBONES[backbone]
    inputs = keras.Input((height, width, channels), name="images")
    x = inputs
    if channels == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = Scaling(preprocess=spec.preprocess).apply(x, 3)
    base.trainable = False
    x = base(x, training=False)
    if head_units:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        x = layers.Dense(head_units, activation="relu", name=EMBEDDING_LAYER)(x)
    else:
        x = layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{backbone}_transfer")
