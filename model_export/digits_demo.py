"""The demo: LeNet trained on scikit-learn's bundled handwritten digits.

scikit-learn ships 1,797 real 8x8 digit scans (nothing is downloaded). Each is written as
a 32x32 grey PNG; a seeded stratified split keeps 25% as the held-out test set, which is
both the test accuracy recorded in model.json and the demo "bucket" (one folder per class).
Training reads its images through the pipeline's own `decode_image`, so it sees exactly
the pixels scoring will.
"""

from __future__ import annotations

import io
import logging
import os
import time
from typing import Callable

import numpy as np

from bucketscore.bundle.meta import BundleError, BundleMeta, InputSpec, read_meta

_log = logging.getLogger(__name__)

DEMO_SPEC = InputSpec(height=28, width=28, channels=1, resize="squash", interpolation="bilinear")
PNG_SIZE = 32
SEED = 0
TEST_FRACTION = 0.25
VALIDATION_FRACTION = 0.15
LABELS = [str(d) for d in range(10)]


def digit_png(image8x8: np.ndarray) -> bytes:
    """One 8x8 digit (values 0..16) -> a 32x32 8-bit grey PNG, white ink on black."""
    from PIL import Image

    pixels = np.rint(np.asarray(image8x8, dtype=np.float64) * 255.0 / 16.0).astype(np.uint8)
    img = Image.fromarray(pixels, mode="L").resize((PNG_SIZE, PNG_SIZE), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def load_split():
    """(images 8x8, labels, train idx, validation idx, test idx): seeded and stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    idx = np.arange(len(digits.target))
    rest, test = train_test_split(
        idx, test_size=TEST_FRACTION, random_state=SEED, stratify=digits.target
    )
    train, val = train_test_split(
        rest, test_size=VALIDATION_FRACTION, random_state=SEED, stratify=digits.target[rest]
    )
    return digits.images, digits.target, train, val, test


def demo_file_name(index: int) -> str:
    return f"digit_{index:04d}.png"


def write_demo_images(folder: str) -> int:
    """Write the held-out test split as folder/<label>/digit_NNNN.png; returns the count."""
    images, target, _train, _val, test = load_split()
    for i in test:
        path = os.path.join(folder, LABELS[target[i]], demo_file_name(int(i)))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(digit_png(images[i]))
    return len(test)


def _pixels(images: np.ndarray, idx: np.ndarray) -> np.ndarray:
    from bucketscore.bundle.images import decode_image

    return np.stack([decode_image(digit_png(images[i]), DEMO_SPEC)[0] for i in idx])


def train_demo_model(out_uri: str, epochs: int = 60, seed: int = SEED) -> BundleMeta:
    """Train LeNet on the train split, export, evaluate the exported model on the test split."""
    import keras

    from bucketscore.model_export.architectures import lenet
    from bucketscore.model_export.exporting import BundleBuilder, calibration_batch

    keras.utils.set_random_seed(seed)
    images, target, train, val, test = load_split()
    x_train, x_val, x_test = (_pixels(images, i) for i in (train, val, test))
    y_train, y_val, y_test = target[train], target[val], target[test]

    model = lenet(DEMO_SPEC.height, DEMO_SPEC.width, DEMO_SPEC.channels, len(LABELS))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.monotonic()
    history = model.fit(
        x_train.astype("float32"),
        y_train,
        validation_data=(x_val.astype("float32"), y_val),
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=10, restore_best_weights=True
            )
        ],
    )
    train_seconds = time.monotonic() - started

    with BundleBuilder(name="digits-lenet", labels=LABELS, input_spec=DEMO_SPEC) as bundle:
        dim = bundle.add_keras(model)
        bundle.add_onnx(calibration_batch(DEMO_SPEC, x_val))
        # Evaluate what is shipped: the exported signature on uint8 pixels.
        probs = bundle.predict(x_test)["probabilities"]
        test_accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
        metrics = {
            "test_accuracy": test_accuracy,
            "test_images": int(len(test)),
            "train_images": int(len(train)),
            "validation_images": int(len(val)),
            "validation_accuracy": float(max(history.history["val_accuracy"])),
            "epochs": len(history.history["loss"]),
            "train_seconds": round(train_seconds, 1),
            "dataset": "sklearn.datasets.load_digits (1797 8x8 scans, upscaled to 32x32 PNG)",
        }
        assert dim, "lenet has an embedding layer"
        return bundle.seal(out_uri, metrics=metrics, extra={"architecture": "lenet"})


def _data_written(data_dir: str) -> bool:
    return os.path.isdir(data_dir) and any(os.scandir(data_dir))


def demo_ready(model_uri: str, data_dir: str) -> bool:
    """Whether the demo bundle and images are both there (nothing to train or write)."""
    try:
        read_meta(model_uri)
    except BundleError:
        return False
    return _data_written(data_dir)


def ensure_demo(
    model_uri: str, data_dir: str, force: bool = False, say: Callable[[str], None] = _log.info
) -> BundleMeta:
    """Train the demo bundle unless it exists, and write the demo images unless present;
    `say` receives what it does."""
    meta = None
    if not force:
        try:
            meta = read_meta(model_uri)
        except BundleError:
            meta = None
    if meta is None:
        say(f"training the demo model (LeNet on scikit-learn digits) -> {model_uri}")
        meta = train_demo_model(model_uri)
        say(
            f"trained in {meta.metrics['train_seconds']} s; test accuracy "
            f"{meta.metrics['test_accuracy']:.4f}"
        )
    if not _data_written(data_dir):
        n = write_demo_images(data_dir)
        say(f"wrote {n} demo images to {data_dir}")
    return meta
