"""The bundle's `model.onnx`: the SavedModel's `serving_default`, converted with tf2onnx.

The ONNX graph takes the same input (`images`, uint8 [N, H, W, C]) and returns the same
outputs (`probabilities`, and `embeddings` where exported) as the SavedModel, because it is
converted from the exported signature itself, not from the Keras model. `check_parity`
runs both on a calibration batch; the bundle records the largest absolute differences and
export fails when probabilities differ by more than the tolerance.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Optional

import numpy as np

from bucketscore.errors import described

DEFAULT_OPSET = 17
PARITY_TOLERANCE = 1e-4
THREADS_ENV = "BUCKETSCORE_ONNX_THREADS"
DEFAULT_THREADS = 2


class OnnxExportError(Exception):
    """Conversion failed, or the ONNX model does not match the SavedModel."""


def onnxruntime():
    """The onnxruntime module, imported with TMPDIR pointed at bucketscore's cache folder.

    Why: onnxruntime 1.32 writes a telemetry session file (`$TMPDIR/.ses`) when it is
    imported, even after disable_telemetry_events(); an hourly job must leave nothing in
    TMPDIR, so the file goes to `<cache>/onnxruntime/` instead (measured: with TMPDIR set to
    an empty folder, `import onnxruntime` leaves `.ses` in it; with this, nothing)."""
    import sys

    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    from bucketscore.storage.local_cache import cache_root

    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = cache_root("onnxruntime")
    try:
        import onnxruntime as ort
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
    return ort


def ort_threads() -> int:
    """Intra-op threads for ONNX Runtime: $BUCKETSCORE_ONNX_THREADS, else 2 (modest: Beam
    runs several workers per machine, each with its own session)."""
    try:
        return max(1, int(os.environ.get(THREADS_ENV, DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def ort_session(path: str, threads: Optional[int] = None,
                providers: Optional[list[str]] = None):
    """An ONNX Runtime session: `threads` intra-op threads (default ort_threads()), on
    `providers` (default: the CPU only)."""
    ort = onnxruntime()

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or ort_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=options,
                                providers=providers or ["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet():
    """tf2onnx and TF's graph freezing log pages of deprecation notes: keep errors only."""
    import tensorflow as tf

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow")]
    old = [lg.level for lg in loggers]
    tf_logger = tf.get_logger()
    old_tf = tf_logger.level
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, old):
            lg.setLevel(level)
        tf_logger.setLevel(old_tf)


def convert_saved_model(saved_model_dir: str, onnx_path: str,
                        opset: int = DEFAULT_OPSET) -> dict:
    """Convert the SavedModel's serving_default to `onnx_path`; returns converter facts."""
    import tensorflow as tf

    try:
        import tf2onnx
        from tf2onnx import tf_loader
    except ImportError as e:
        raise OnnxExportError(f"tf2onnx is not installed ({e}); install it or pass --no-onnx") \
            from None

    loaded = tf.saved_model.load(saved_model_dir)
    concrete = loaded.signatures["serving_default"]
    n_args = len(concrete.structured_input_signature[1])
    # Only the real arguments: the rest of `inputs` are captured variables and constants,
    # which freezing turns into initialisers (tf2onnx's from_function would keep
    # non-variable captures, e.g. a Normalization layer's mean, as extra graph inputs).
    input_names = [t.name for t in concrete.inputs[:n_args]]
    output_names = [t.name for t in concrete.outputs]
    # Signature outputs are a dict; its flattened order (sorted keys) is `outputs`' order.
    rename = dict(zip(output_names, sorted(concrete.structured_outputs)))
    rename.update(zip(input_names, sorted(concrete.structured_input_signature[1])))
    with _quiet():
        try:
            with tf.device("/cpu:0"):
                graph_def = tf_loader.from_function(concrete, input_names, output_names)
                model_proto, _ = tf2onnx.convert.from_graph_def(
                    graph_def, name="bucketscore", input_names=input_names,
                    output_names=output_names, opset=opset, tensors_to_rename=rename)
        except Exception as e:  # noqa: BLE001 - any converter failure means the same here
            raise OnnxExportError(f"tf2onnx could not convert the model: "
                                  f"{described(e)} (pass --no-onnx to "
                                  f"export without model.onnx)") from None
    with open(onnx_path, "wb") as f:
        f.write(model_proto.SerializeToString())
    return {"converter": f"tf2onnx {tf2onnx.__version__}", "opset": opset}


def check_parity(saved_model_dir: str, onnx_path: str, calibration: np.ndarray,
                 tolerance: float = PARITY_TOLERANCE) -> dict:
    """Run both models on `calibration` (uint8 [N, H, W, C]); raise when they differ.

    Returns {"max_abs_diff": {output: value}, "calibration_images": N, "tolerance": t,
    "top1_agreement": share of images whose argmax agrees}.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures["serving_default"]
    expected = {k: v.numpy() for k, v in fn(images=tf.constant(calibration)).items()}
    session = ort_session(onnx_path)
    names = [o.name for o in session.get_outputs()]
    inputs = session.get_inputs()
    if [i.name for i in inputs] != ["images"] or inputs[0].type != "tensor(uint8)":
        raise OnnxExportError(f"model.onnx takes {[(i.name, i.type) for i in inputs]}, not "
                              f"images uint8")
    got = dict(zip(names, session.run(None, {"images": calibration})))
    if set(got) != set(expected):
        raise OnnxExportError(f"model.onnx returns {sorted(got)}, the SavedModel "
                              f"{sorted(expected)}")
    diffs = {}
    for key in sorted(expected):
        if got[key].shape != expected[key].shape:
            raise OnnxExportError(f"model.onnx returns {key} of shape {got[key].shape}, the "
                                  f"SavedModel {expected[key].shape}")
        diffs[key] = float(np.max(np.abs(got[key].astype(np.float64)
                                         - expected[key].astype(np.float64))))
    agreement = float(np.mean(got["probabilities"].argmax(1)
                              == expected["probabilities"].argmax(1)))
    report = {"max_abs_diff": diffs, "tolerance": tolerance,
              "calibration_images": int(len(calibration)), "top1_agreement": agreement}
    if not diffs["probabilities"] <= tolerance:
        raise OnnxExportError(
            f"ONNX parity check failed: probabilities differ by up to "
            f"{diffs['probabilities']:.3g} on {len(calibration)} calibration images "
            f"(tolerance {tolerance:g}); the bundle was not written (pass --no-onnx to export "
            f"the SavedModel alone)")
    return report
