"""`bucketscore export`: wrap a model trained elsewhere (Keras, SavedModel or ONNX) into a
bundle.

* Keras (`.keras`, `.h5`): loaded with `safe_mode=True` (a Lambda layer's pickled code is
  refused, not run). The input scaling the user names is put in front of it as Keras layers,
  an optional softmax after it; the result is saved as `model.keras` (so `train --from`
  can continue it) and exported like every other bundle, embeddings = penultimate layer.
* SavedModel: one signature is wrapped behind a uint8 `serving_default` (the scaling and
  softmax as TensorFlow ops); embeddings when `--embedding_output` names an output.
* ONNX (PyTorch or any framework that exports it): the graph is wrapped behind a uint8 NHWC
  `images` input (the scaling, NCHW transpose and softmax as ONNX nodes,
  model_export.onnx_import); the bundle holds model.onnx alone and is scored with ONNX
  Runtime (model.json `backends`: onnx). No TensorFlow is loaded.

Height, width and channels come from the model's input shape; `--height/--width/--channels`
fill in dynamic dimensions (and must agree with fixed ones). The labels file has one label
per line, in output order. The exported model is smoke-tested (shapes, label count, outputs
that are probabilities) before anything is written, then loaded back from its destination.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional

from bucketscore.bundle.meta import BundleError, InputSpec, sha256_file
from bucketscore.errors import UsageError, described, first_line
from bucketscore.model_export.exporting import BundleBuilder, ExportError, calibration_batch
from bucketscore.model_export.scaling import Scaling
from bucketscore.storage import uris

_log = logging.getLogger(__name__)

KERAS_EXTENSIONS = (".keras", ".h5", ".hdf5")


@dataclass
class ExportRequest:
    out: str
    labels: str
    keras: Optional[str] = None
    saved_model: Optional[str] = None
    onnx_file: Optional[str] = None  # --onnx: a user's ONNX model
    torch_file: Optional[str] = None  # --torch: a torch.export program (.pt2)
    layout: str = "auto"  # --onnx: nchw | nhwc | auto (from the input's shape)
    name: Optional[str] = None
    resize: Optional[str] = None  # default squash
    interpolation: Optional[str] = None  # default bilinear
    height: Optional[int] = None
    width: Optional[int] = None
    channels: Optional[int] = None
    scaling: Scaling = Scaling()
    softmax: bool = False
    embedding_layer: Optional[str] = None
    signature: str = "serving_default"
    input_key: Optional[str] = None
    output_key: Optional[str] = None
    embedding_output: Optional[str] = None
    calibration: Optional[str] = None
    onnx: bool = True


def read_labels_file(uri: str) -> list[str]:
    """One label per line (index order); blank lines and surrounding spaces ignored."""
    try:
        text = uris.read_text(uris.normalize(uri))
    except Exception as e:  # noqa: BLE001
        raise ExportError(
            f"cannot read the labels file {uri}: {type(e).__name__}: {first_line(e)}"
        ) from None
    labels = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not labels:
        raise ExportError(f"the labels file {uri} is empty (expected one label per line)")
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ExportError(
            f"the labels file {uri} repeats {', '.join(dupes)}; labels must be unique"
        )
    return labels


def _local_file(uri: str, tmp: str) -> str:
    try:
        return uris.local_file(uri, tmp)
    except uris.CopyError as e:
        raise ExportError(str(e)) from None


def _local_tree(uri: str, tmp: str) -> str:
    if not uris.is_remote(uri):
        path = os.path.abspath(os.path.expanduser(uri))
        if not os.path.isdir(path):
            raise ExportError(f"{uri}: not a SavedModel folder")
        return path
    target = os.path.join(tmp, "saved_model_src")
    try:
        copied = uris.copy_tree(uris.as_prefix(uri), target)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"cannot copy {uri}: {described(e)}") from None
    if not copied:
        raise ExportError(f"{uri}: empty or missing SavedModel folder")
    return target


def load_user_keras(path: str):
    """Load a user's Keras model with safe_mode=True; clear errors for the usual problems."""
    import keras

    if not path.endswith(KERAS_EXTENSIONS):
        raise ExportError(
            f"--keras {path}: expected a .keras or .h5 file (for a SavedModel "
            f"folder use --saved_model)"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001
        text = str(e)
        if "safe_mode" in text or "Lambda" in text:
            raise ExportError(
                "the model contains a Lambda layer (Python code stored in the file); "
                "bucketscore loads models with safe_mode=True and will not run stored code. "
                "Rebuild the model without Lambda layers (use standard layers, or pass the "
                "scaling with --scale/--mean/--std/--preprocess)"
            ) from None
        if "Could not locate" in text or "Unknown layer" in text or "unknown" in text.lower():
            raise ExportError(
                f"the model uses a custom layer or object Keras cannot find: {first_line(e)}"
            ) from None
        raise ExportError(
            f"cannot load the Keras model {path}: {type(e).__name__}: {first_line(e)}"
        ) from None


def resolve_size(shape: tuple, req: ExportRequest, what: str) -> tuple[int, int, int]:
    """(height, width, channels) from the model's input shape and the override flags."""
    if len(shape) != 4:
        raise ExportError(
            f"{what} has shape {shape}: not an image batch [N, height, width, "
            f"channels]; bucketscore exports image classifiers"
        )
    out = []
    for got, flag, value in zip(
        shape[1:], ("--height", "--width", "--channels"), (req.height, req.width, req.channels)
    ):
        if got is None:
            if value is None:
                raise ExportError(f"{what} has a dynamic {flag[2:]} ({shape}); give it with {flag}")
            out.append(int(value))
        else:
            if value is not None and int(value) != int(got):
                raise ExportError(f"{flag} {value}: the model's input has {flag[2:]} {got}")
            out.append(int(got))
    if out[2] not in (1, 3):
        raise ExportError(
            f"{what} has {out[2]} channels; bucketscore feeds grey (1) or RGB (3) images"
        )
    return out[0], out[1], out[2]


def _wrap_keras(user, spec: InputSpec, req: ExportRequest):
    """The user's model behind the scaling layers (and a softmax), taking 0..255 floats."""
    import keras

    if req.scaling.is_identity and not req.softmax:
        return user
    inputs = keras.Input((spec.height, spec.width, spec.channels), name="images")
    x = req.scaling.apply(inputs, spec.channels)
    y = user(x)
    if req.softmax:
        y = keras.layers.Activation("softmax", name="softmax")(y)
    return keras.Model(inputs, y, name=f"{user.name}_bundle")


def _calibration_images(uri: str, spec: InputSpec, n: int = 32):
    import numpy as np

    from bucketscore.bundle.images import decode_image
    from bucketscore.storage.listing import list_input

    found = sorted(list_input(uri), key=lambda i: i.uri)[:n]
    if not found:
        raise ExportError(f"--calibration {uri}: no images there")
    return np.stack([decode_image(uris.read_bytes(i.uri), spec)[0] for i in found])


def export_model(req: ExportRequest, log: Callable[[str], None] = _log.info):
    """Export a user's model as a bundle at `req.out`; returns the BundleMeta."""
    if sum(bool(x) for x in (req.keras, req.saved_model, req.onnx_file, req.torch_file)) != 1:
        raise ExportError(
            "give exactly one of --keras PATH, --saved_model PATH, --onnx PATH or --torch PATH"
        )
    labels = read_labels_file(req.labels)
    if req.onnx_file:
        return _export_onnx(req, labels, log)
    if req.torch_file:
        return _export_torch(req, labels, log)
    with tempfile.TemporaryDirectory(prefix="bucketscore-export-") as tmp:
        if req.keras:
            src = _local_file(req.keras, tmp)
            user = load_user_keras(src)
            if len(user.inputs) != 1:
                raise ExportError(
                    f"the model takes {len(user.inputs)} inputs; an image "
                    f"classifier takes one image batch"
                )
            h, w, c = resolve_size(tuple(user.inputs[0].shape), req, "the model's input")
            spec = _spec(h, w, c, req)
            model = _wrap_keras(user, spec, req)
            source = {"format": "keras", "uri": req.keras, "sha256": sha256_file(src)}
        else:
            src = _local_tree(req.saved_model, tmp)
            h, w, c = _saved_model_size(src, req)
            spec = _spec(h, w, c, req)
            source = {"format": "saved_model", "uri": req.saved_model}
        name = req.name or _default_name(req)
        with BundleBuilder(name=name, labels=labels, input_spec=spec) as bundle:
            if req.keras:
                dim = bundle.add_keras(model, embedding_layer=req.embedding_layer)
            else:
                info = bundle.add_wrapped_saved_model(
                    src,
                    signature=req.signature,
                    input_key=req.input_key,
                    output_key=req.output_key,
                    embedding_key=req.embedding_output,
                    scaling=req.scaling,
                    softmax=req.softmax,
                )
                dim = info["embedding_dim"]
                source.update(
                    {
                        k: info[k]
                        for k in ("input_key", "input_dtype", "output_key", "embedding_key")
                    }
                )
                source["signature"] = req.signature
                if not dim:
                    log(
                        "NOTE: no --embedding_output given: this bundle exports probabilities "
                        "only (score --embeddings will refuse it)"
                    )
            _log_summary(log, name, spec, labels, req, dim)
            if req.onnx:
                real = _calibration_images(req.calibration, spec) if req.calibration else None
                report = bundle.add_onnx(calibration_batch(spec, real))
                log(
                    f"model.onnx: max |probability difference| to the SavedModel "
                    f"{report['max_abs_diff']['probabilities']:.2g} on "
                    f"{report['calibration_images']} calibration images "
                    f"(tolerance {report['tolerance']:g})"
                )
            extra = {
                "architecture": "imported",
                "source": source,
                "scaling": req.scaling.to_json(),
                "softmax_added": req.softmax,
            }
            return bundle.seal(req.out, metrics={}, extra=extra)


def _log_summary(
    log: Callable[[str], None],
    name: str,
    spec: InputSpec,
    labels: list[str],
    req: ExportRequest,
    dim: Optional[int],
    layout: str = "",
) -> None:
    """What was exported, in a line (and a note when the pixels go in unscaled)."""
    log(
        f"{name}: input {spec.height}x{spec.width}x{spec.channels}"
        + (f" {layout.upper()}" if layout else "")
        + f" ({spec.resize}), {len(labels)} "
        f"labels, scaling {req.scaling.describe()}"
        + (", softmax added" if req.softmax else "")
        + (f", embeddings {dim}-d" if dim else "")
    )
    if req.scaling.is_identity and not req.scaling.preprocess:
        log(
            "NOTE: no --scale, --mean/--std or --preprocess given: the model receives "
            "pixel values 0..255 as they are"
        )


def _export_onnx(req: ExportRequest, labels: list[str], log: Callable[[str], None]):
    """`export --onnx`: the user's ONNX model wrapped (onnx_import.wrap), smoke-tested with
    ONNX Runtime, sealed and loaded back; returns the BundleMeta."""
    from bucketscore.model_export import onnx_import
    from bucketscore.model_export.scaling import ScalingError

    with tempfile.TemporaryDirectory(prefix="bucketscore-export-") as tmp:
        src = _local_file(req.onnx_file, tmp)
        try:
            model = onnx_import.load(src)
            inp = onnx_import.image_input(model, req.layout)
            h, w, c = resolve_size(inp.nhwc, req, f"the model's input {inp.name!r}")
            spec = _spec(h, w, c, req)
            wrapped, facts = onnx_import.wrap(
                model,
                inp,
                h,
                w,
                c,
                req.scaling,
                softmax=req.softmax,
                output_key=req.output_key,
                embedding_output=req.embedding_output,
            )
        except (onnx_import.OnnxImportError, ScalingError) as e:
            raise ExportError(str(e)) from None
        name = req.name or _default_name(req)
        source = {
            "format": "onnx",
            "uri": req.onnx_file,
            "sha256": sha256_file(src),
            **{
                k: facts[k]
                for k in ("producer", "layout", "input", "output_key", "embedding_output")
            },
        }
        with BundleBuilder(name=name, labels=labels, input_spec=spec) as bundle:
            dim = bundle.add_imported_onnx(wrapped, {"imported": True, "opset": facts["opset"]})
            _log_summary(log, name, spec, labels, req, dim, inp.layout)
            if not dim:
                log(
                    "NOTE: no --embedding_output given: this bundle exports probabilities "
                    "only (score --embeddings will refuse it)"
                )
            if inp.batch:
                log(
                    f"NOTE: the model has a fixed batch size of {inp.batch}: it is fed "
                    f"batches of exactly {inp.batch} (export it with a dynamic batch "
                    f"dimension to score larger batches at once)"
                )
            uint8_input = facts["input"]["type"] == "uint8"
            if uint8_input:
                log("NOTE: the model takes uint8 images: the bundle applies no scaling")
            extra = {
                "architecture": "imported",
                "source": source,
                "scaling": {"none": "the model takes uint8 images"}
                if uint8_input
                else req.scaling.to_json(),
                "softmax_added": req.softmax,
            }
            return bundle.seal(req.out, metrics={}, extra=extra)


def _export_torch(req: ExportRequest, labels: list[str], log: Callable[[str], None]):
    """`export --torch`: the user's torch.export program wrapped (torch_import.wrapper),
    exported again as the bundle's model.pt2, converted to ONNX and parity-checked (unless
    --no-onnx), smoke-tested, sealed and loaded back; returns the BundleMeta."""
    from bucketscore.model_export import torch_import
    from bucketscore.model_export.scaling import ScalingError

    with tempfile.TemporaryDirectory(prefix="bucketscore-export-") as tmp:
        src = _local_file(req.torch_file, tmp)
        try:
            # A file that is no image classifier's program: the command was wrong (exit 2),
            # as a --model that is no bundle is.
            program = torch_import.load(src)
            inp = torch_import.program_input(program, req.layout)
        except torch_import.TorchImportError as e:
            raise UsageError(f"--torch {req.torch_file}: {e}") from None
        try:
            h, w, c = resolve_size(inp.nhwc, req, "the program's input")
            spec = _spec(h, w, c, req)
            module, facts = torch_import.wrapper(
                program,
                inp,
                c,
                req.scaling,
                softmax=req.softmax,
                output_key=req.output_key,
                embedding_output=req.embedding_output,
            )
        except (torch_import.TorchImportError, ScalingError) as e:
            raise ExportError(str(e)) from None
        calibration = _calibration_images(req.calibration, spec) if req.calibration else None
        name = req.name or _default_name(req)
        with BundleBuilder(name=name, labels=labels, input_spec=spec) as bundle:
            dim = bundle.add_torch(module, facts, onnx=req.onnx, calibration=calibration)
            _log_summary(log, name, spec, labels, req, dim, inp.layout)
            if inp.uint8:
                log("NOTE: the program takes uint8 images: the bundle applies no scaling")
            if not dim:
                log(
                    "NOTE: no --embedding_output given: this bundle exports probabilities "
                    "only (score --embeddings will refuse it)"
                )
            source = {"format": "torch.export", "uri": req.torch_file, "sha256": sha256_file(src)}
            extra = {
                "architecture": "imported",
                "source": source,
                "scaling": {"none": "the program takes uint8 images"}
                if inp.uint8
                else req.scaling.to_json(),
                "softmax_added": req.softmax,
            }
            return bundle.seal(req.out, metrics={}, extra=extra)


def _spec(h: int, w: int, c: int, req: ExportRequest) -> InputSpec:
    try:
        return InputSpec(
            height=h,
            width=w,
            channels=c,
            resize=req.resize or "squash",
            interpolation=req.interpolation or "bilinear",
        )
    except BundleError as e:
        raise ExportError(str(e)) from None


def _saved_model_size(path: str, req: ExportRequest) -> tuple[int, int, int]:
    from bucketscore.model_export.serving import ServingError, image_signature

    try:
        _loaded, fn, key = image_signature(path, req.signature, req.input_key)
    except ServingError as e:
        raise ExportError(str(e).replace(path, req.saved_model or path)) from None
    return resolve_size(tuple(fn.structured_input_signature[1][key].shape), req, f"input {key!r}")


def _default_name(req: ExportRequest) -> str:
    src = (req.keras or req.saved_model or req.onnx_file or req.torch_file or "model").rstrip("/")
    base = src.rsplit("/", 1)[-1]
    for ext in KERAS_EXTENSIONS + (".onnx", ".pt2"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return base or "model"
