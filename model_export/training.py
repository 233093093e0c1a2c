"""`bucketscore train`: a labelled prefix in, a verified bundle out.

    data (prefix, any storage) --decode_image--> train / validation / test (uint8, in memory)
    model: lenet | small_cnn | backbone (frozen) + head  [or the model of --from BUNDLE]
    fit: augmentation (tf.data), Adam, early stopping on validation loss (best weights kept)
         [then --fine_tune_layers N: the last N backbone layers unfrozen, lower learning rate]
    export: BundleBuilder (SavedModel + embeddings, model.keras, model.onnx parity-checked)
    evaluate the exported signature on the test split; curves, per-class report -> bundle

The bundle holds `training/curves.csv|png`, `training/per_class.csv` and
`training/confusion_matrix.csv`; `model.json` holds the test accuracy, the per-class report
and how the model was trained.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from bucketscore.bundle.meta import InputSpec, sha256_file
from bucketscore.errors import described, first_line
from bucketscore.model_export.architectures import SCRATCH
from bucketscore.model_export.datasets import Dataset

_log = logging.getLogger(__name__)

TRAINING_DIR = "training"
# XLA: compiling takes longer than these small fits run (docs/decisions.md, "Training
# without XLA").
JIT = False
FLIPS = ("none", "horizontal", "vertical", "both")


class TrainError(Exception):
    """Training cannot go ahead (or failed); the message says why and what to do."""


@dataclass(frozen=True)
class Augmentation:
    """Random changes to training images only (as NVIDIA DIGITS offers them)."""

    flip: str = "none"  # none | horizontal | vertical | both
    rotation: float = 0.0  # degrees, +-
    zoom: float = 0.0  # fraction, +-
    contrast: float = 0.0  # fraction, +-
    translate: float = 0.0  # fraction of the size, +-

    def __post_init__(self):
        if self.flip not in FLIPS:
            raise TrainError(f"--flip must be one of {', '.join(FLIPS)}, not {self.flip!r}")
        for name in ("rotation", "zoom", "contrast", "translate"):
            value = getattr(self, name)
            limit = 180.0 if name == "rotation" else 1.0
            if not 0.0 <= value <= limit:
                raise TrainError(f"--{name} must be between 0 and {limit:g}, not {value}")

    @property
    def active(self) -> bool:
        return self.flip != "none" or any((self.rotation, self.zoom, self.contrast, self.translate))

    def model(self, seed: int):
        """A Keras Sequential of random layers (float 0..255 in and out), or None."""
        if not self.active:
            return None
        import keras
        from keras import layers

        out = []
        if self.flip != "none":
            mode = {"both": "horizontal_and_vertical"}.get(self.flip, self.flip)
            out.append(layers.RandomFlip(mode, seed=seed))
        if self.rotation:
            out.append(
                layers.RandomRotation(self.rotation / 360.0, fill_mode="reflect", seed=seed + 1)
            )
        if self.zoom:
            out.append(layers.RandomZoom(self.zoom, fill_mode="reflect", seed=seed + 2))
        if self.translate:
            out.append(
                layers.RandomTranslation(
                    self.translate, self.translate, fill_mode="reflect", seed=seed + 3
                )
            )
        if self.contrast:
            out.append(layers.RandomContrast(self.contrast, value_range=(0, 255), seed=seed + 4))
        return keras.Sequential(out, name="augmentation")


@dataclass
class TrainConfig:
    data: str
    out: str
    architecture: str = "small_cnn"
    height: Optional[int] = None
    width: Optional[int] = None
    channels: Optional[int] = None
    resize: Optional[str] = None  # default squash
    interpolation: Optional[str] = None  # default bilinear
    labels_csv: Optional[str] = None
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 5
    dropout: float = 0.2
    head_units: int = 0
    alpha: float = 1.0
    fine_tune_layers: int = 0
    fine_tune_epochs: Optional[int] = None
    fine_tune_learning_rate: Optional[float] = None
    base_weights: Optional[str] = None
    from_bundle: Optional[str] = None
    name: Optional[str] = None
    onnx: bool = True
    augment: Augmentation = field(default_factory=Augmentation)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc.pop("out")
        return doc


@dataclass
class TrainResult:
    meta: object  # BundleMeta
    curves: list[dict]
    dataset: Dataset
    train_seconds: float


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------
def input_spec_for(cfg: TrainConfig) -> InputSpec:
    from bucketscore.model_export.architectures import ARCHITECTURES, DEFAULT_INPUT

    if cfg.architecture not in ARCHITECTURES:
        raise TrainError(
            f"--architecture must be one of {', '.join(ARCHITECTURES)}, not {cfg.architecture!r}"
        )
    h, w, c = DEFAULT_INPUT[cfg.architecture]
    return InputSpec(
        height=cfg.height or h,
        width=cfg.width or w,
        channels=cfg.channels or c,
        resize=cfg.resize or "squash",
        interpolation=cfg.interpolation or "bilinear",
    )


def local_copy(uri: str, tmp: str) -> str:
    """A local path for a file given as a local path or a bucket URI."""
    from bucketscore.storage import uris

    try:
        return uris.local_file(uri, tmp)
    except uris.CopyError as e:
        raise TrainError(str(e)) from None


def build_base(cfg: TrainConfig, spec: InputSpec, log: Callable[[str], None]):
    """(backbone with its weights, weights record for model.json)."""
    from bucketscore.model_export.architectures import BACKBONES, BackboneError

    backbone = BACKBONES[cfg.architecture]
    weights = cfg.base_weights
    if weights is None:
        log(
            f"NOTE: no --base_weights given: the {backbone.name} base starts from RANDOM "
            f"weights, not ImageNet features; expect far lower accuracy than transfer learning "
            f"gives. Pass --base_weights PATH (a Keras weights file, local or in a bucket)."
        )
        try:
            return backbone.build(spec.height, spec.width, None, cfg.alpha), {"source": "random"}
        except BackboneError as e:
            raise TrainError(str(e)) from None
    if weights == "imagenet":
        try:
            base = backbone.build(spec.height, spec.width, "imagenet", cfg.alpha)
        except BackboneError as e:
            raise TrainError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - download failures come as bare Exception
            raise TrainError(
                f"--base_weights imagenet: the ImageNet weights of {backbone.name} cannot be "
                f"downloaded here ({first_line(e)}). Download the no-top weights file on a "
                f"machine with internet access ({backbone.weights_url}), copy it next to your "
                f"data (local or bucket) and pass --base_weights PATH."
            ) from None
        return base, {"source": "imagenet (Keras Applications)"}
    if not weights.endswith((".h5", ".hdf5", ".keras")):
        raise TrainError(
            f"--base_weights {weights}: expected a Keras weights file "
            f"(*.weights.h5 from model.save_weights, or a Keras Applications "
            f"*_notop.h5 file)"
        )
    try:
        base = backbone.build(spec.height, spec.width, None, cfg.alpha)
    except BackboneError as e:
        raise TrainError(str(e)) from None
    with tempfile.TemporaryDirectory() as tmp:
        path = local_copy(weights, tmp)
        digest = sha256_file(path)
        misfit = (
            f"--base_weights {weights} does not fit the {backbone.name} base "
            f"(include_top=False"
            + (f", alpha {cfg.alpha:g}" if backbone.name == "mobilenet_v2" else "")
            + ")"
        )
        with warnings.catch_warnings(record=True) as caught:
            # Keras warns (and keeps fresh weights) for parts it cannot match: not loaded.
            warnings.simplefilter("always")
            try:
                base.load_weights(path)
            except Exception as e:  # noqa: BLE001
                raise TrainError(f"{misfit}: {described(e)}") from None
        partial = [
            str(w.message)
            for w in caught
            if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)
        ]
        if partial:
            raise TrainError(f"{misfit}: only part of it matches ({first_line(partial[0])})")
    log(f"loaded the {backbone.name} base weights from {weights}")
    if backbone.name == "efficientnet_b0" and match_keras_imagenet_efficientnet(base):
        log(
            "efficientnet_b0: ImageNet input statistics found in the weights; applied the "
            "extra input rescaling Keras adds when it loads ImageNet weights itself"
        )
    return base, {"source": weights, "sha256": digest}


def match_keras_imagenet_efficientnet(base) -> bool:
    """Keras' EfficientNet adds `Rescaling(1/sqrt(ImageNet std))` after its Normalization layer
    only when it downloads the ImageNet weights itself
    (keras/src/applications/efficientnet.py, tensorflow/tensorflow#49930). A base built
    without weights and loaded from a file lacks it; fold the same factor into the
    Normalization variance when the file holds the ImageNet statistics (variance = std^2).
    Returns whether it did."""
    import keras

    from bucketscore.model_export.scaling import IMAGENET_STD_RGB

    norm = next(
        (layer for layer in base.layers if isinstance(layer, keras.layers.Normalization)), None
    )
    if norm is None:
        return False
    values = norm.get_weights()
    if len(values) != 3:
        return False
    mean, variance, count = values
    std = np.asarray(IMAGENET_STD_RGB, np.float32).reshape(np.shape(variance))
    if not np.allclose(variance, std**2, rtol=1e-3):
        return False
    norm.set_weights([mean, variance * std, count])
    norm.finalize_state()
    return True


def build_model(
    cfg: TrainConfig,
    spec: InputSpec,
    num_classes: int,
    log: Callable[[str], None],
    base_and_weights: Optional[tuple] = None,
):
    """(new Keras model, facts for model.json). `base_and_weights`: a backbone already
    built by `build_base` (so a bad weights file fails before the data is read)."""
    from bucketscore.model_export import architectures as arch

    if cfg.architecture == "lenet":
        return arch.lenet(spec.height, spec.width, spec.channels, num_classes, augment=False), {}
    if cfg.architecture == "small_cnn":
        return arch.small_cnn(
            spec.height, spec.width, spec.channels, num_classes, dropout=cfg.dropout
        ), {}
    base, weights = base_and_weights or build_base(cfg, spec, log)
    model = arch.transfer(
        cfg.architecture,
        spec.height,
        spec.width,
        spec.channels,
        num_classes,
        base,
        dropout=cfg.dropout,
        head_units=cfg.head_units,
    )
    facts = {"base_weights": weights, "preprocess": arch.BACKBONES[cfg.architecture].preprocess}
    if cfg.architecture == "mobilenet_v2":
        facts["alpha"] = cfg.alpha
    return model, facts


def base_of(model):
    """The transfer model's backbone (a nested model named `base`), or None."""
    from bucketscore.model_export.architectures import BASE_LAYER

    try:
        return model.get_layer(BASE_LAYER)
    except ValueError:
        return None


def extend_head(model, num_classes: int):
    """The same model with a final layer of `num_classes` outputs; old outputs keep their
    weights (and indices), new ones start from fresh weights."""
    import keras

    from bucketscore.model_export.serving import ServingError, locate_head

    try:
        emb, head = locate_head(model)
    except ServingError as e:
        raise TrainError(f"cannot add classes to this model: {e}") from None
    old = head[0]
    kernel, bias = old.get_weights()[:2] if old.use_bias else (old.get_weights()[0], None)
    old_k = kernel.shape[1]
    if num_classes < old_k:
        raise TrainError(f"the model has {old_k} outputs; it cannot shrink to {num_classes}")
    if num_classes == old_k:
        return model
    new = keras.layers.Dense(
        num_classes, activation=old.activation, use_bias=old.use_bias, name=old.name
    )
    x = new(emb)
    for layer in head[1:]:
        x = layer(x)
    extended = keras.Model(model.inputs, x, name=model.name)
    new_weights = new.get_weights()
    new_weights[0][:, :old_k] = kernel
    if bias is not None:
        new_weights[1][:old_k] = bias
        new_weights[1][old_k:] = float(np.mean(bias))
    new.set_weights(new_weights)
    return extended


def load_bundle_model(bundle_uri: str):
    """(meta, Keras model) of a bundle that carries model.keras (loaded with safe_mode)."""
    import keras

    from bucketscore.bundle.meta import BundleError
    from bucketscore.bundle.verified import fetch_verified
    from bucketscore.model_export.exporting import KERAS_FILE

    try:
        meta, local = fetch_verified(bundle_uri)
    except BundleError as e:
        raise TrainError(str(e)) from None
    path = os.path.join(local, KERAS_FILE)
    if not os.path.isfile(path):
        raise TrainError(
            f"--from {bundle_uri}: the bundle has no {KERAS_FILE}, so it cannot be "
            f"trained further (bundles written by bucketscore train/tune/export "
            f"--keras have one)"
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001
        raise TrainError(f"cannot load the {KERAS_FILE} of {bundle_uri}: {described(e)}") from None
    return meta, model


# ---------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------
def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    augment=None,
    shuffle: bool = False,
    seed: int = 0,
):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(
            lambda a, b: (augment(tf.cast(a, tf.float32), training=True), b),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b))
    return ds.prefetch(tf.data.AUTOTUNE)


class _EpochLog:
    """Collects per-epoch rows (and prints one line per epoch when asked)."""

    def __init__(self, log: Optional[Callable[[str], None]]):
        self.rows: list[dict] = []
        self.log = log

    def callback(self, phase: str, epochs: int):
        import keras

        outer = self

        class Cb(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.monotonic()

            def on_epoch_end(self, epoch, logs=None):
                logs = dict(logs or {})
                lr = self.model.optimizer.learning_rate
                row = {
                    "epoch": len(outer.rows) + 1,
                    "phase": phase,
                    "loss": _f(logs.get("loss")),
                    "accuracy": _f(logs.get("accuracy")),
                    "val_loss": _f(logs.get("val_loss")),
                    "val_accuracy": _f(logs.get("val_accuracy")),
                    "learning_rate": _f(np.asarray(lr)),
                    "seconds": round(time.monotonic() - self._t, 2),
                }
                outer.rows.append(row)
                if outer.log:
                    outer.log(
                        f"  {phase} epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f} "
                        f"accuracy {row['accuracy']:.4f}  val_loss {row['val_loss']:.4f} "
                        f"val_accuracy {row['val_accuracy']:.4f}  ({row['seconds']:.1f} s)"
                    )

        return Cb()


def _f(value) -> Optional[float]:
    return None if value is None else float(value)


def compile_model(model, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=JIT,
    )


def unfreeze_top(model, n_layers: int) -> int:
    """Make the last `n_layers` layers of the backbone trainable (BatchNorm stays frozen).
    Returns how many layers became trainable."""
    import keras

    base = base_of(model)
    if base is None:
        raise TrainError(
            "--fine_tune_layers applies to transfer-learning models "
            "(mobilenet_v2, efficientnet_b0, resnet50, inception_v3)"
        )
    base.trainable = True
    layers = base.layers
    cut = max(0, len(layers) - n_layers)
    count = 0
    for i, layer in enumerate(layers):
        trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable
        count += bool(trainable and layer.weights)
    return count


def fit(
    model,
    data: Dataset,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    augment: Augmentation,
    seed: int = 0,
    fine_tune_layers: int = 0,
    fine_tune_epochs: Optional[int] = None,
    fine_tune_learning_rate: Optional[float] = None,
    callbacks: Optional[list] = None,
    log: Optional[Callable[[str], None]] = None,
) -> list[dict]:
    """Train in place (two phases with fine-tuning); returns the per-epoch rows."""
    import keras

    aug = augment.model(seed)
    train_ds = make_dataset(data.train.x, data.train.y, batch_size, aug, shuffle=True, seed=seed)
    val_ds = make_dataset(data.validation.x, data.validation.y, batch_size)
    history = _EpochLog(log)
    phases = [("train" if not fine_tune_layers else "head", epochs, learning_rate, 0)]
    if fine_tune_layers:
        phases.append(
            (
                "fine_tune",
                fine_tune_epochs or epochs,
                fine_tune_learning_rate or learning_rate / 10.0,
                fine_tune_layers,
            )
        )
    best_loss, best_weights = float("inf"), None
    for phase, n_epochs, lr, unfreeze in phases:
        if unfreeze:
            n = unfreeze_top(model, unfreeze)
            if log:
                log(
                    f"fine-tuning: {n} layer(s) with weights in the last {unfreeze} layers of "
                    f"the base unfrozen (BatchNormalization stays frozen), learning rate {lr:g}"
                )
        compile_model(model, lr)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
        first = len(history.rows)
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=n_epochs,
            verbose=0,
            shuffle=False,
            callbacks=[stop, history.callback(phase, n_epochs), *(callbacks or [])],
        )
        losses = [r["val_loss"] for r in history.rows[first:] if r["val_loss"] is not None]
        phase_best = min(losses, default=float("inf"))
        if len(phases) > 1 and phase_best >= best_loss and best_weights is not None:
            # Fine-tuning never beat the head-only model: keep what was best overall.
            for v in model.weights:
                v.assign(best_weights[id(v)])
            if log:
                log(
                    f"fine-tuning did not lower the validation loss ({phase_best:.4f} >= "
                    f"{best_loss:.4f}): keeping the weights from before it"
                )
        elif len(phases) > 1:
            best_loss = phase_best
            best_weights = {id(v): v.numpy() for v in model.weights}
    return history.rows


# ---------------------------------------------------------------------------------------
# Evaluate and write
# ---------------------------------------------------------------------------------------
def evaluate_and_seal(
    bundle,
    data: Dataset,
    *,
    out: str,
    curves: list[dict],
    title: str,
    metrics: dict,
    extra: dict,
    onnx: bool,
    log: Callable[[str], None],
):
    """ONNX, evaluation of the exported signature, reports into the bundle, seal."""
    from bucketscore.model_export.exporting import calibration_batch
    from bucketscore.model_export.training_reports import (
        CURVE_FIELDS,
        confusion_csv,
        curves_png,
        per_class_rows,
        to_csv,
    )

    if onnx:
        real = data.validation.x if len(data.validation) else data.train.x
        report = bundle.add_onnx(calibration_batch(bundle.spec, real))
        log(
            f"model.onnx: max |probability difference| to the SavedModel "
            f"{report['max_abs_diff']['probabilities']:.2g} on {report['calibration_images']} "
            f"calibration images (tolerance {report['tolerance']:g})"
        )
    val_pred = bundle.predict(data.validation.x)["probabilities"].argmax(1)
    metrics["validation_accuracy"] = float(np.mean(val_pred == data.validation.y))
    if len(data.test):
        split, part = "test", data.test
        pred = bundle.predict(part.x)["probabilities"].argmax(1)
        metrics["test_accuracy"] = float(np.mean(pred == part.y))
    else:
        split, part, pred = "validation", data.validation, val_pred
        metrics["test_accuracy"] = None
        log(
            "no test split (--test_fraction 0 and no test/ folder): the per-class report is "
            "on the validation split"
        )
    per_class = per_class_rows(data.labels, part.y, pred)
    metrics.update(
        {
            "evaluated_on": split,
            "train_images": len(data.train),
            "validation_images": len(data.validation),
            "test_images": len(data.test),
            "macro_f1": float(np.mean([r["f1"] for r in per_class if r["support"]] or [0.0])),
            "per_class": per_class,
        }
    )
    bundle.add_text(f"{TRAINING_DIR}/curves.csv", to_csv(curves, CURVE_FIELDS))
    bundle.add_bytes(f"{TRAINING_DIR}/curves.png", curves_png(curves, title))
    bundle.add_text(
        f"{TRAINING_DIR}/per_class.csv",
        to_csv(per_class, ["label", "precision", "recall", "f1", "support"]),
    )
    bundle.add_text(
        f"{TRAINING_DIR}/confusion_matrix.csv", confusion_csv(data.labels, part.y, pred)
    )
    extra = dict(extra)
    extra["training_files"] = [
        f"{TRAINING_DIR}/{n}"
        for n in ("curves.csv", "curves.png", "per_class.csv", "confusion_matrix.csv")
    ]
    return bundle.seal(out, metrics=metrics, extra=extra)


def train(cfg: TrainConfig, log: Callable[[str], None] = _log.info) -> TrainResult:
    """Load data, build (or load) the model, fit, export, evaluate; returns the result."""
    import keras

    from bucketscore.model_export.datasets import load_dataset
    from bucketscore.model_export.exporting import BundleBuilder

    keras.utils.set_random_seed(cfg.seed)
    base_meta = None
    if cfg.from_bundle:
        base_meta, model = load_bundle_model(cfg.from_bundle)
        spec = base_meta.input
        for flag, want, got in (
            ("--height", cfg.height, spec.height),
            ("--width", cfg.width, spec.width),
            ("--channels", cfg.channels, spec.channels),
            ("--resize", cfg.resize, spec.resize),
            ("--interpolation", cfg.interpolation, spec.interpolation),
        ):
            if want is not None and want != got:
                raise TrainError(
                    f"{flag} {want}: the bundle {cfg.from_bundle} has {got}; a "
                    f"continued model keeps its input preprocessing"
                )
        architecture = str(base_meta.extra.get("architecture", "unknown"))
        label_order = list(base_meta.labels)
    else:
        spec = input_spec_for(cfg)
        architecture = cfg.architecture
        label_order = None
    prebuilt = None
    if base_meta is None and architecture not in SCRATCH:
        prebuilt = build_base(cfg, spec, log)  # a weights problem fails before any data is read
    data = load_dataset(
        cfg.data,
        spec,
        labels_csv=cfg.labels_csv,
        validation_fraction=cfg.validation_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        label_order=label_order,
        log=log,
    )
    log(f"data {data.source} ({data.layout}): {data.describe()}")
    facts: dict = {}
    if base_meta is not None:
        added = data.labels[len(base_meta.labels) :]
        if added:
            log(
                f"adding {len(added)} class(es) to {base_meta.name}: {', '.join(added)} "
                f"(existing labels keep their indices)"
            )
        model = extend_head(model, len(data.labels))
        facts["continued_from"] = {
            "uri": cfg.from_bundle,
            "version": base_meta.version,
            "labels": list(base_meta.labels),
            "added_labels": added,
        }
        for key in ("base_weights", "preprocess", "alpha"):
            if key in base_meta.extra:
                facts[key] = base_meta.extra[key]
    else:
        model, facts = build_model(cfg, spec, len(data.labels), log, prebuilt)
    log(
        f"training {architecture} ({model.count_params():,} parameters) on "
        f"{spec.height}x{spec.width}x{spec.channels} images for up to {cfg.epochs} epochs"
    )
    started = time.monotonic()
    curves = fit(
        model,
        data,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        patience=cfg.patience,
        augment=cfg.augment,
        seed=cfg.seed,
        fine_tune_layers=cfg.fine_tune_layers,
        fine_tune_epochs=cfg.fine_tune_epochs,
        fine_tune_learning_rate=cfg.fine_tune_learning_rate,
        log=log,
    )
    seconds = time.monotonic() - started
    name = cfg.name or (
        base_meta.name
        if base_meta is not None
        else f"{architecture}-{os.path.basename(data.source.rstrip('/')) or 'model'}"
    )
    metrics = {
        "epochs": len(curves),
        "train_seconds": round(seconds, 1),
        "best_val_loss": min(
            (r["val_loss"] for r in curves if r["val_loss"] is not None), default=None
        ),
    }
    extra = {
        "architecture": architecture,
        **facts,
        "training": cfg.to_json(),
        "dataset": {"source": data.source, "layout": data.layout, "counts": data.counts()},
    }
    with BundleBuilder(name=name, labels=data.labels, input_spec=spec) as bundle:
        bundle.add_keras(model)
        meta = evaluate_and_seal(
            bundle,
            data,
            out=cfg.out,
            curves=curves,
            title=f"{name}: {architecture}",
            metrics=metrics,
            extra=extra,
            onnx=cfg.onnx,
            log=log,
        )
    return TrainResult(meta=meta, curves=curves, dataset=data, train_seconds=seconds)


__all__ = [
    "Augmentation",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "train",
    "fit",
    "build_model",
    "extend_head",
    "load_bundle_model",
    "evaluate_and_seal",
    "input_spec_for",
]
