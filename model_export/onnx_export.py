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

import numpy as np

from bucketscore.bundle.onnx_runtime import ort_session
from bucketscore.errors import described

DEFAULT_OPSET = 17
PARITY_TOLERANCE = 1e-4


class OnnxExportError(Exception):
    """Conversion failed, or the ONNX model does not match the SavedModel."""


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


def convert_saved_model(saved_model_dir: str, onnx_path: str, opset: int = DEFAULT_OPSET) -> dict:
    """Convert the SavedModel's serving_default to `onnx_path`; returns converter facts."""
    import tensorflow as tf

    try:
        import tf2onnx
        from tf2onnx import tf_loader
    except ImportError as e:
        raise OnnxExportError(
            f"tf2onnx is not installed ({e}); install it or pass --no-onnx"
        ) from None

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
                    graph_def,
                    name="bucketscore",
                    input_names=input_names,
                    output_names=output_names,
                    opset=opset,
                    tensors_to_rename=rename,
                )
        except Exception as e:  # noqa: BLE001 - any converter failure means the same here
            raise OnnxExportError(
                f"tf2onnx could not convert the model: "
                f"{described(e)} (pass --no-onnx to "
                f"export without model.onnx)"
            ) from None
    with open(onnx_path, "wb") as f:
        f.write(model_proto.SerializeToString())
    return {"converter": f"tf2onnx {tf2onnx.__version__}", "opset": opset}


def check_parity(
    saved_model_dir: str,
    onnx_path: str,
    calibration: np.ndarray,
    tolerance: float = PARITY_TOLERANCE,
) -> dict:
    """Run both models on `calibration` (uint8 [N, H, W, C]); raise when they differ.

    Returns {"max_abs_diff": {output: value}, "calibration_images": N, "tolerance": t,
    "top1_agreement": share of images whose argmax agrees}.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures["serving_default"]
    expected = {k: v.numpy() for k, v in fn(images=tf.constant(calibration)).items()}
    try:
        session = ort_session(onnx_path)
    except Exception as e:  # noqa: BLE001 - tf2onnx leaves ops it cannot convert in the graph
        raise OnnxExportError(
            f"the converted model.onnx does not load in ONNX Runtime: {described(e)} "
            f"(pass --no-onnx to export without model.onnx)"
        ) from None
    names = [o.name for o in session.get_outputs()]
    inputs = session.get_inputs()
    if [i.name for i in inputs] != ["images"] or inputs[0].type != "tensor(uint8)":
        raise OnnxExportError(
            f"model.onnx takes {[(i.name, i.type) for i in inputs]}, not images uint8"
        )
    got = dict(zip(names, session.run(None, {"images": calibration})))
    if set(got) != set(expected):
        raise OnnxExportError(
            f"model.onnx returns {sorted(got)}, the SavedModel {sorted(expected)}"
        )
    diffs = {}
    for key in sorted(expected):
        if got[key].shape != expected[key].shape:
            raise OnnxExportError(
                f"model.onnx returns {key} of shape {got[key].shape}, the "
                f"SavedModel {expected[key].shape}"
            )
        diffs[key] = float(
            np.max(np.abs(got[key].astype(np.float64) - expected[key].astype(np.float64)))
        )
    agreement = float(
        np.mean(got["probabilities"].argmax(1) == expected["probabilities"].argmax(1))
    )
    report = {
        "max_abs_diff": diffs,
        "tolerance": tolerance,
        "calibration_images": int(len(calibration)),
        "top1_agreement": agreement,
    }
    if not diffs["probabilities"] <= tolerance:
        raise OnnxExportError(
            f"ONNX parity check failed: probabilities differ by up to "
            f"{diffs['probabilities']:.3g} on {len(calibration)} calibration images "
            f"(tolerance {tolerance:g}); the bundle was not written (pass --no-onnx to export "
            f"the SavedModel alone)"
        )
    return report
