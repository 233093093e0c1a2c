"""Input scaling that lives inside the model: uint8-valued floats 0..255 in, what the net wants out.

Every bundle's serving signature takes uint8 pixels; the normalisation a network was trained
with is expressed here as plain Keras layers (Rescaling, Normalization, a fixed 1x1
convolution) placed in front of it, so it is saved in `model.keras`, exported in the
SavedModel and converted to ONNX like any other layer, and loads with `safe_mode=True`
(no Lambda layers).

`Scaling` describes one of them:

* `scale`/`offset`: x * scale + offset (`--scale 1/255`, `--scale 1/127.5 --offset -1`);
* then optional per-channel `mean`/`std`: (x - mean) / std (`--mean 0.485,0.456,0.406
  --std 0.229,0.224,0.225` after `--scale 1/255`);
* or a Keras Applications `preprocess_input` mode by name (`--preprocess mobilenet_v2`):
  `tf` (-1..1), `torch` (ImageNet mean/std on 0..1), `caffe` (RGB->BGR, ImageNet mean
  subtracted, 0..255), `none` (the network scales its own input, as EfficientNet does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Keras Applications families -> the `mode` of their preprocess_input.
PREPROCESS_MODES = {
    "tf": "tf",
    "torch": "torch",
    "caffe": "caffe",
    "none": "none",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "mobilenet_v3": "none",
    "inception_v3": "tf",
    "inception_resnet_v2": "tf",
    "xception": "tf",
    "resnet_v2": "tf",
    "nasnet": "tf",
    "resnet50": "caffe",
    "resnet": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "densenet": "torch",
    "efficientnet": "none",
    "efficientnet_b0": "none",
    "efficientnet_v2": "none",
    "convnext": "none",
}


class ScalingError(ValueError):
    """A scaling flag is malformed or does not fit the model's channels."""


@dataclass(frozen=True)
class Scaling:
    """How 0..255 floats are turned into the network's input (recorded in model.json)."""

    scale: float = 1.0
    offset: float = 0.0
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None
    preprocess: Optional[str] = None  # a PREPROCESS_MODES name; excludes the others

    def __post_init__(self):
        if self.preprocess is not None:
            if self.preprocess not in PREPROCESS_MODES:
                raise ScalingError(
                    f"--preprocess {self.preprocess!r}: expected one of "
                    f"{', '.join(sorted(PREPROCESS_MODES))}"
                )
            if (self.scale, self.offset, self.mean, self.std) != (1.0, 0.0, None, None):
                raise ScalingError(
                    "--preprocess cannot be combined with --scale, --offset, --mean or --std"
                )
        if (self.mean is None) != (self.std is None):
            raise ScalingError("--mean and --std go together")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ScalingError(f"--std values must be positive, not {self.std}")
        if self.scale == 0:
            raise ScalingError("--scale must not be 0")

    @property
    def is_identity(self) -> bool:
        return (
            self.mode == "none"
            if self.preprocess
            else (self.scale == 1.0 and self.offset == 0.0 and self.mean is None)
        )

    @property
    def mode(self) -> Optional[str]:
        return PREPROCESS_MODES[self.preprocess] if self.preprocess else None

    def describe(self) -> str:
        if self.preprocess:
            return {
                "tf": "x / 127.5 - 1",
                "torch": "(x / 255 - ImageNet mean) / ImageNet std",
                "caffe": "RGB->BGR, x - ImageNet mean (0..255)",
                "none": "0..255 as is (the network scales its own input)",
            }[self.mode] + f" (preprocess {self.preprocess})"
        parts = []
        if self.scale != 1.0 or self.offset != 0.0:
            parts.append(f"x * {self.scale:g}" + (f" + {self.offset:g}" if self.offset else ""))
        if self.mean is not None:
            parts.append(f"(x - {list(self.mean)}) / {list(self.std)}")
        return ", then ".join(parts) if parts else "0..255 as is"

    def to_json(self) -> dict:
        doc = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        doc["formula"] = self.describe()
        return doc

    @classmethod
    def from_json(cls, doc: Optional[dict]) -> "Scaling":
        if not doc:
            return cls()
        return cls(
            scale=float(doc.get("scale", 1.0)),
            offset=float(doc.get("offset", 0.0)),
            mean=tuple(doc["mean"]) if doc.get("mean") is not None else None,
            std=tuple(doc["std"]) if doc.get("std") is not None else None,
            preprocess=doc.get("preprocess"),
        )

    def apply(self, x, channels: int):
        """Apply this scaling to the symbolic Keras tensor `x` (float 0..255)."""
        for layer in self._layers(channels):
            x = layer(x)
            if layer.name == CAFFE_LAYER:
                _set_caffe_weights(layer)
        return x

    def _layers(self, channels: int) -> list:
        from keras import layers

        mode = self.mode
        if mode == "none" or (mode is None and self.is_identity):
            return []
        if mode == "tf":
            return [layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_tf")]
        if mode == "torch":
            return [
                layers.Rescaling(1.0 / 255.0, name="scale_unit"),
                _normalization(
                    per_channel(IMAGENET_MEAN_RGB, channels, "mean"),
                    per_channel(IMAGENET_STD_RGB, channels, "std"),
                ),
            ]
        if mode == "caffe":
            if channels != 3:
                raise ScalingError("caffe preprocessing (resnet50, vgg) needs 3 channels")
            return [layers.Conv2D(3, 1, use_bias=True, trainable=False, name=CAFFE_LAYER)]
        out = []
        if self.scale != 1.0 or self.offset != 0.0:
            out.append(layers.Rescaling(self.scale, offset=self.offset, name="scale"))
        if self.mean is not None:
            out.append(
                _normalization(
                    per_channel(self.mean, channels, "mean"), per_channel(self.std, channels, "std")
                )
            )
        return out

    def tf_apply(self, x, channels: int):
        """The same arithmetic with TensorFlow ops (for wrapping a SavedModel)."""
        import tensorflow as tf

        mode = self.mode
        if mode == "none" or (mode is None and self.is_identity):
            return x
        if mode == "tf":
            return x / 127.5 - 1.0
        if mode == "torch":
            mean = per_channel(IMAGENET_MEAN_RGB, channels, "mean")
            std = per_channel(IMAGENET_STD_RGB, channels, "std")
            return (x / 255.0 - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
        if mode == "caffe":
            if channels != 3:
                raise ScalingError("caffe preprocessing (resnet50, vgg) needs 3 channels")
            return tf.reverse(x, axis=[-1]) - tf.constant(CAFFE_MEAN_BGR, tf.float32)
        if self.scale != 1.0 or self.offset != 0.0:
            x = x * self.scale + self.offset
        if self.mean is not None:
            x = (
                x - tf.constant(per_channel(self.mean, channels, "mean"), tf.float32)
            ) / tf.constant(per_channel(self.std, channels, "std"), tf.float32)
        return x


CAFFE_LAYER = "caffe_preprocess"


def _set_caffe_weights(layer) -> None:
    """RGB->BGR and subtract the ImageNet mean as a frozen 1x1 convolution (exact arithmetic)."""
    import numpy as np

    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for i in range(3):
        kernel[0, 0, 2 - i, i] = 1.0  # output channel i (B, G, R) <- input channel 2 - i
    layer.set_weights([kernel, -np.asarray(CAFFE_MEAN_BGR, np.float32)])


def per_channel(values: Sequence[float], channels: int, what: str) -> list[float]:
    values = list(values)
    if len(values) == channels:
        return values
    if len(values) == 1:
        return values * channels
    if channels == 1 and len(values) == 3:
        # A grey model given RGB statistics: use their mean (what a grey image averages to).
        return [sum(values) / 3.0]
    raise ScalingError(f"--{what} has {len(values)} values but the model has {channels} channel(s)")


def _normalization(mean: list[float], std: list[float]):
    from keras import layers

    return layers.Normalization(axis=-1, mean=mean, variance=[s * s for s in std], name="normalize")


def parse_number(text: str) -> float:
    """'1/255', '0.5', '-1' -> float."""
    text = str(text).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise ScalingError(f"{text!r} is not a number (examples: 1/255, 0.5, -1)") from None


def parse_list(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """'0.485,0.456,0.406' -> (0.485, 0.456, 0.406); None stays None."""
    if text is None:
        return None
    try:
        return tuple(parse_number(v) for v in str(text).split(",") if v.strip())
    except ScalingError:
        raise ScalingError(f"{text!r} is not a comma-separated list of numbers") from None


def scaling_from_flags(
    scale: Optional[str],
    offset: Optional[str],
    mean: Optional[str],
    std: Optional[str],
    preprocess: Optional[str],
) -> Scaling:
    return Scaling(
        scale=parse_number(scale) if scale is not None else 1.0,
        offset=parse_number(offset) if offset is not None else 0.0,
        mean=parse_list(mean),
        std=parse_list(std),
        preprocess=preprocess,
    )
