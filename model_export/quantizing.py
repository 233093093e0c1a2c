"""The int8 twin of a bundle's model.onnx: statically quantized, measured, recorded.

`quantize_bundle(uri, ...)` (`bucketscore quantize`, `export --quantize int8`) quantizes
model.onnx with ONNX Runtime's tools (quant_pre_process, then quantize_static: QDQ format,
per-channel int8 weights, uint8 activations, MinMax ranges) calibrated on sample images,
decoded by `bundle.images.decode_image` as scoring decodes them: the user's --calibration
prefix, or generated images. Every 4th sample image (in name order) is held out and not
calibrated on: on those the int8 model is compared with model.onnx (top-1 agreement, the
largest probability difference, and with labels the accuracy of each). Below the floor
(--min_agreement, default 99% top-1) the twin is refused and the bundle left as it was;
otherwise model.int8.onnx is added to the bundle, its digest in `files`, the figures in
model.json's `int8`, and the bundle's version changes with its content.

Scoring reads nothing here: `--precision int8` loads the file (bundle/predictor.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from typing import Callable, Optional

import numpy as np

from bucketscore.bundle.meta import (
    INT8_FILE,
    MODEL_JSON,
    ONNX_FILE,
    BundleMeta,
    content_version,
    sha256_file,
)
from bucketscore.model_export.exporting import ExportError, synthetic_images
from bucketscore.storage import uris

_log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 256  # sample images: 3/4 calibrate, 1/4 held out to measure agreement
DEFAULT_MIN_AGREEMENT = 0.99  # top-1 agreement with fp32 on the held-out images
HELD_OUT_EVERY = 4  # every 4th sample image (name order) is held out
MIN_SAMPLES = HELD_OUT_EVERY  # at least one held-out image
CALIBRATION_BATCH = 8  # images per calibration call (the calibrator keeps per-batch min/max)


class QuantizeError(ExportError):
    """The bundle cannot be quantized as asked (no model.onnx, no images, ...)."""


class QuantizeFailed(ExportError):
    """ONNX Runtime failed to quantize the model (the message says how)."""


class AgreementTooLow(QuantizeError):
    """The int8 model agrees with fp32 below the floor: refused, the bundle unchanged."""

    def __init__(self, message: str, record: dict):
        super().__init__(message)
        self.record = record


@dataclasses.dataclass
class Samples:
    """Decoded sample images, split: calibration and held out (labels: None where unknown)."""

    source: str  # the --calibration prefix, or "generated"
    calibration: np.ndarray  # uint8 [n, H, W, C]
    held_out: np.ndarray
    held_out_labels: Optional[list[Optional[str]]] = None
    undecodable: int = 0


def split(images: np.ndarray, labels: Optional[list] = None):
    """(calibration, held out, held-out labels): every HELD_OUT_EVERY-th image held out."""
    idx = np.arange(len(images))
    held = idx % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    held_labels = None if labels is None else [labels[i] for i in idx[held]]
    return images[~held], images[held], held_labels


def sample_images(
    meta: BundleMeta, calibration: Optional[str], samples: int, labels: str = "folder"
) -> Samples:
    """Up to `samples` images of the --calibration prefix (spread evenly over its listing in
    name order, decoded as scoring decodes them; `labels` a --labels source for the accuracy
    figures), or generated ones (noise, flats, gradients) when there is no prefix."""
    from bucketscore.bundle.label_sources import LabelSource, LabelSourceError, label_of

    if samples < MIN_SAMPLES:
        raise QuantizeError(f"--samples {samples}: at least {MIN_SAMPLES} are needed")
    try:
        source = LabelSource.parse(labels)
    except LabelSourceError as e:
        raise QuantizeError(str(e)) from None
    if not calibration:
        images = np.concatenate(
            [synthetic_images(meta.input, 8, seed) for seed in range(-(-samples // 8))]
        )[:samples]
        cal, held, _ = split(images)
        return Samples("generated", cal, held)

    from bucketscore.bundle.images import decode_image
    from bucketscore.storage.listing import list_input

    found = sorted(list_input(calibration), key=lambda o: o.uri)
    if not found:
        raise QuantizeError(f"--calibration {calibration}: no images there")
    if len(found) > samples:
        found = [found[i] for i in np.linspace(0, len(found) - 1, samples).round().astype(int)]
    pixels, names, bad = [], [], 0
    for obj in found:
        try:
            pixels.append(decode_image(uris.read_bytes(obj.uri), meta.input)[0])
        except Exception:  # noqa: BLE001 - an image that does not decode is not a sample
            bad += 1
            continue
        names.append(label_of(source, obj) if source.has_labels else None)
    if len(pixels) < MIN_SAMPLES:
        raise QuantizeError(
            f"--calibration {calibration}: {len(pixels)} of {len(found)} images decode; "
            f"at least {MIN_SAMPLES} are needed ({HELD_OUT_EVERY - 1} of every "
            f"{HELD_OUT_EVERY} calibrate, the rest measure the agreement)"
        )
    cal, held, held_labels = split(np.stack(pixels), names)
    return Samples(calibration, cal, held, held_labels, bad)


def quantize_onnx(src: str, dst: str, calibration: np.ndarray, work: str) -> dict:
    """Statically quantize the ONNX model `src` (uint8 NHWC images in) to `dst`, calibrated
    on `calibration`; returns what model.json records of how."""
    from bucketscore.bundle.onnx_runtime import onnxruntime

    ort = onnxruntime()  # first, so that ONNX Runtime's import leaves nothing in TMPDIR
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = os.path.join(work, "preprocessed.onnx")
    try:  # shape inference and graph clean-up: better ranges, fewer Q/DQ pairs
        quant_pre_process(src, pre, skip_symbolic_shape=False)
        preprocessed = True
    except Exception as e:  # noqa: BLE001 - some graphs defeat it; quantize them as they are
        _log.info("quant_pre_process failed (%s): quantizing model.onnx as it is", e)
        pre, preprocessed = src, False

    session = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    batch = first.shape[0] if first.shape else None
    size = batch if isinstance(batch, int) and batch > 0 else CALIBRATION_BATCH

    class Reader(CalibrationDataReader):
        def __init__(self):
            chunks = []
            for start in range(0, len(calibration), size):
                chunk = calibration[start : start + size]
                if len(chunk) < size:  # a fixed batch size: repeat images (ranges unchanged)
                    chunk = np.concatenate([chunk] * (-(-size // len(chunk))))[:size]
                chunks.append({first.name: np.ascontiguousarray(chunk, np.uint8)})
            self._it = iter(chunks)

        def get_next(self):
            return next(self._it, None)

    del session
    with _tmpdir_in(work):  # the calibrator's augmented model goes to `work`, not TMPDIR
        quantize_static(
            pre,
            dst,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return {
        "tool": f"onnxruntime.quantization {ort.__version__}",
        "format": "QDQ",
        "weights": "int8, per channel",
        "activations": "uint8, MinMax ranges",
        "preprocessed": preprocessed,
    }


class _tmpdir_in:
    """TMPDIR (and tempfile's cached choice) pointed at `folder` for a while."""

    def __init__(self, folder: str):
        self.folder = folder

    def __enter__(self):
        self._saved = os.environ.get("TMPDIR"), tempfile.tempdir
        os.environ["TMPDIR"] = self.folder
        tempfile.tempdir = self.folder

    def __exit__(self, *exc):
        env, cached = self._saved
        if env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env
        tempfile.tempdir = cached


def measure_agreement(
    fp32_path: str,
    int8_path: str,
    images: np.ndarray,
    labels: Optional[list[Optional[str]]],
    bundle_labels: tuple[str, ...],
) -> dict:
    """The int8 model against the fp32 one on `images`: top-1 agreement, the largest
    probability difference; on the images whose label is one of the bundle's, the accuracy
    of each (None without such images)."""
    from bucketscore.bundle.predictor import ONNXPredictor
    from bucketscore.bundle.torch_runtime import agreement

    folder = os.path.dirname(fp32_path)
    fp32 = ONNXPredictor(None, folder, "cpu", name="model.onnx", file=os.path.basename(fp32_path))
    int8 = ONNXPredictor(
        None, os.path.dirname(int8_path), "cpu", name="int8", file=os.path.basename(int8_path)
    )
    a = fp32.predict(images).probabilities
    b = int8.predict(images).probabilities
    out = agreement(a, b)
    index = {label: i for i, label in enumerate(bundle_labels)}
    known = [(k, index[lab]) for k, lab in enumerate(labels or []) if lab in index]
    out["labelled_images"] = len(known)
    out["accuracy_fp32"] = out["accuracy_int8"] = None
    if known:
        rows, truth = np.array([k for k, _ in known]), np.array([t for _, t in known])
        out["accuracy_fp32"] = float(np.mean(a[rows].argmax(1) == truth))
        out["accuracy_int8"] = float(np.mean(b[rows].argmax(1) == truth))
    return out


def describe_agreement(a: dict) -> str:
    """One line of the figures: agreement, largest difference, accuracies when known."""
    text = (
        f"top-1 agreement with fp32 {a['top1_agreement']:.1%} on {a['images']} held-out "
        f"images, largest probability difference {a['max_probability_difference']:.3g}"
    )
    if a.get("accuracy_fp32") is not None:
        text += (
            f", accuracy on {a['labelled_images']} labelled: fp32 {a['accuracy_fp32']:.1%}, "
            f"int8 {a['accuracy_int8']:.1%}"
        )
    return text


def quantize_bundle(
    bundle_uri: str,
    *,
    calibration: Optional[str] = None,
    samples: int = DEFAULT_SAMPLES,
    labels: str = "folder",
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    default: bool = False,
    images: Optional[Samples] = None,
    log: Callable[[str], None] = _log.info,
) -> BundleMeta:
    """Add model.int8.onnx to the bundle at `bundle_uri` (replacing an earlier one) and its
    record to model.json; returns the new BundleMeta. `images` (tests, benchmarks): the
    samples to use instead of reading --calibration. AgreementTooLow leaves the bundle as
    it was."""
    from bucketscore.bundle.meta import BundleError
    from bucketscore.bundle.verified import fetch_verified

    if not 0.0 <= min_agreement <= 1.0:
        raise QuantizeError(f"--min_agreement {min_agreement}: a share between 0 and 1")
    try:
        meta, local = fetch_verified(bundle_uri)
    except BundleError as e:
        raise QuantizeError(str(e)) from None
    if ONNX_FILE not in meta.files:
        raise QuantizeError(
            f"the bundle {bundle_uri} has no {ONNX_FILE} to quantize (exported with "
            f"--no-onnx, or from a torch program without its ONNX twin)"
        )
    samples_ = images or sample_images(meta, calibration, samples, labels)
    if samples_.undecodable:
        log(f"{samples_.undecodable} calibration file(s) did not decode: left out")
    kind = "generated images" if samples_.source == "generated" else "images"
    log(
        f"quantizing {ONNX_FILE}: calibrating on {len(samples_.calibration)} {kind}, "
        f"measuring on {len(samples_.held_out)} held out"
    )
    with tempfile.TemporaryDirectory(prefix="bucketscore-quantize-") as work:
        out = os.path.join(work, INT8_FILE)
        try:
            how = quantize_onnx(os.path.join(local, ONNX_FILE), out, samples_.calibration, work)
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's errors, one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise QuantizeFailed(f"ONNX Runtime could not quantize {ONNX_FILE}: {first}") from None
        figures = measure_agreement(
            os.path.join(local, ONNX_FILE),
            out,
            samples_.held_out,
            samples_.held_out_labels,
            meta.labels,
        )
        record = {
            "file": INT8_FILE,
            **how,
            "calibration": {
                "source": samples_.source,
                "images": int(len(samples_.calibration)),
                "held_out_every": HELD_OUT_EVERY,
            },
            "agreement": figures,
            "min_agreement": min_agreement,
            "default": bool(default),
            "fp32_sha256": meta.files[ONNX_FILE],
        }
        if figures["top1_agreement"] < min_agreement:
            raise AgreementTooLow(
                f"the int8 model is refused: {describe_agreement(figures)}; below "
                f"--min_agreement {min_agreement:.1%}. The bundle is unchanged (try more or "
                f"more typical --calibration images, or a lower --min_agreement)",
                record,
            )
        new = _add_twin(bundle_uri, meta, out, record)
    log(f"int8 twin written: {describe_agreement(figures)}")
    if samples_.source == "generated":
        log(
            "note: calibrated and measured on generated images (noise, flats, gradients): "
            "give --calibration PREFIX of real images for figures that mean something"
        )
    from bucketscore.bundle.predictor import load_predictor

    try:  # load it back as scoring will: digests verified, one black image predicted
        load_predictor(bundle_uri, "onnx", "cpu", "int8")
    except BundleError as e:
        raise QuantizeFailed(f"the int8 twin written to {bundle_uri} does not load: {e}") from None
    return new


def _add_twin(bundle_uri: str, meta: BundleMeta, int8_path: str, record: dict) -> BundleMeta:
    """Write model.int8.onnx into the bundle, then model.json (last: until then the bundle
    is the one it was, its files listed and checked without the new one)."""
    files = {**meta.files, INT8_FILE: sha256_file(int8_path)}
    extra = {k: v for k, v in meta.extra.items() if k != "int8"}
    extra["int8"] = record
    new = dataclasses.replace(meta, files=files, version=content_version(files), extra=extra)
    target = uris.normalize(bundle_uri)
    with open(int8_path, "rb") as f:
        uris.write_bytes(uris.join(target, INT8_FILE), f.read())
    uris.write_text(uris.join(target, MODEL_JSON), new.to_json(), mime_type="application/json")
    return new
