"""A user's ONNX model (PyTorch, scikit-learn, anything that exports ONNX) as a bundle's
`model.onnx`: `bucketscore export --onnx`.

Every bundle's model takes uint8 images `[N, H, W, C]` named `images` and returns
`probabilities` `[N, K]` (and `embeddings` `[N, D]`). A model from elsewhere takes floats,
usually NCHW (PyTorch) and scaled its own way, and returns logits or scores under its own
names. `wrap` puts ONNX nodes around the user's graph, so the bundle holds one ONNX model
that does it all:

    images uint8 NHWC -> Cast float -> [RGB->BGR] -> x * a + b (per channel) -> [NCHW]
        -> [Cast to the model's float type] -> the user's graph
        -> Flatten -> [Softmax] -> Cast float32 -> probabilities (and embeddings)

A model whose input is uint8 (its preprocessing inside it) gets the images as they are:
only the layout is changed (NCHW), no cast and no scaling (refused if given).

The scaling is the one `--scale/--offset/--mean/--std/--preprocess` describe
(model_export.scaling), folded into one multiply-add per channel. The layout is read from
the input's shape (channels 1 or 3 in position 1: NCHW; in position 3: NHWC) or given with
`--layout`; dynamic height/width/channels come from `--height/--width/--channels`. A fixed
batch size (PyTorch's default export) is kept: the predictor feeds such a model batches of
exactly that size. Needs the `onnx` package (the `train` extra), not TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bucketscore.model_export.scaling import (
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    Scaling,
    per_channel,
)

LAYOUTS = ("auto", "nchw", "nhwc")
IMAGE_CHANNELS = (1, 3)
# Names the bundle's model.onnx uses itself; the user's tensors of the same name are renamed.
RESERVED = ("images", "probabilities", "embeddings")
PREFIX = "bucketscore_"
MIN_OPSET = 7  # multidirectional broadcasting (per-channel Mul/Add)


class OnnxImportError(ValueError):
    """The ONNX model cannot be wrapped as a bundle; the message says why and what to do."""


@dataclass(frozen=True)
class ImageInput:
    """The user model's image input: its name, element type, layout, and its shape in NHWC
    order (None for a dynamic dimension)."""

    name: str
    elem_type: int
    layout: str  # nchw | nhwc
    nhwc: tuple  # (batch, height, width, channels), each an int or None

    @property
    def batch(self) -> Optional[int]:
        return self.nhwc[0]


def load(path: str):
    """The ONNX model at `path` (a local file), checked; OnnxImportError when it is not one."""
    import onnx

    try:
        model = onnx.load(path)
    except Exception as e:  # noqa: BLE001 - a protobuf error means "not an ONNX file"
        raise OnnxImportError(
            f"{path} is not an ONNX model: {type(e).__name__}: {str(e).strip()[:200]}"
        ) from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001
        raise OnnxImportError(
            f"{path} is not a valid ONNX model: {str(e).strip().splitlines()[0][:300]}"
        ) from None
    return model


def _dims(value_info) -> Optional[list]:
    """A tensor's dimensions (int, or None when symbolic/unknown); None when no shape."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
        for d in tensor.shape.dim
    ]


def _real_inputs(graph) -> list:
    """Graph inputs that are fed, not initialisers (older exporters list weights as inputs)."""
    weights = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in weights]


def image_input(model, layout: str = "auto") -> ImageInput:
    """The model's one image input, its layout detected (or as given) and its shape."""
    import onnx

    if layout not in LAYOUTS:
        raise OnnxImportError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    inputs = _real_inputs(model.graph)
    if len(inputs) != 1:
        raise OnnxImportError(
            f"the model takes {len(inputs)} inputs "
            f"({', '.join(i.name for i in inputs) or 'none'}); an image "
            f"classifier takes one image batch"
        )
    (inp,) = inputs
    elem = inp.type.tensor_type.elem_type
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    if elem not in floats + (onnx.TensorProto.UINT8,):
        raise OnnxImportError(
            f"the model's input {inp.name!r} is "
            f"{onnx.TensorProto.DataType.Name(elem).lower()}; bucketscore "
            f"wraps models that take float images (float, float16, double) or uint8 images"
        )
    try:
        layout, nhwc = image_layout(_dims(inp), layout, f"the model's input {inp.name!r}")
    except ValueError as e:
        raise OnnxImportError(str(e)) from None
    return ImageInput(name=inp.name, elem_type=elem, layout=layout, nhwc=nhwc)


def image_layout(dims: Optional[list], layout: str, what: str) -> tuple[str, tuple]:
    """(layout, NHWC dims) of an image input of shape `dims` (None for unknown sizes):
    `layout` as given, or for "auto" the one whose channel dimension (1 or 3) is the only
    one that could be channels. ValueError, naming `what`, for no 4-d batch or a layout that
    cannot be told. ONNX and torch.export inputs alike (model_export/torch_import.py)."""
    if dims is None or len(dims) != 4:
        raise ValueError(
            f"{what} has shape {_shape_text(dims)}: not an image batch (NCHW or NHWC); "
            f"bucketscore exports image classifiers"
        )
    if layout == "auto":
        first, last = dims[1] in IMAGE_CHANNELS, dims[3] in IMAGE_CHANNELS
        if first == last:
            why = "both could be channels" if first else "neither is 1 or 3 channels"
            raise ValueError(
                f"cannot tell the layout of {what} {_shape_text(dims)} ({why}); give "
                f"--layout nchw or --layout nhwc"
                + ("" if first else " (and --channels for a dynamic channel dimension)")
            )
        layout = "nchw" if first else "nhwc"
    nhwc = (dims[0], dims[2], dims[3], dims[1]) if layout == "nchw" else tuple(dims)
    return layout, nhwc


def _shape_text(dims) -> str:
    if dims is None:
        return "(unknown)"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def affine(scaling: Scaling, channels: int) -> tuple[bool, list[float], list[float]]:
    """(reverse RGB->BGR first, per-channel multiplier, per-channel addend): `scaling` as one
    x * a + b per channel on 0..255 floats (the arithmetic of Scaling.tf_apply)."""
    mode = scaling.mode
    ones, zeros = [1.0] * channels, [0.0] * channels
    if mode == "none" or (mode is None and scaling.is_identity):
        return False, ones, zeros
    if mode == "tf":
        return False, [1.0 / 127.5] * channels, [-1.0] * channels
    if mode == "caffe":
        if channels != 3:
            raise OnnxImportError("caffe preprocessing (resnet50, vgg) needs 3 channels")
        return True, ones, [-m for m in CAFFE_MEAN_BGR]
    if mode == "torch":
        scale, offset = 1.0 / 255.0, 0.0
        mean = per_channel(IMAGENET_MEAN_RGB, channels, "mean")
        std = per_channel(IMAGENET_STD_RGB, channels, "std")
    else:
        scale, offset = scaling.scale, scaling.offset
        mean = per_channel(scaling.mean, channels, "mean") if scaling.mean else zeros
        std = per_channel(scaling.std, channels, "std") if scaling.std else ones
    # ((x * scale + offset) - mean) / std
    return False, [scale / s for s in std], [(offset - m) / s for m, s in zip(mean, std)]


def _tensor_names(graph) -> set[str]:
    """Every tensor name the graph (and its subgraphs) uses."""
    names = {v.name for v in list(graph.input) + list(graph.output) + list(graph.value_info)}
    names |= {t.name for t in graph.initializer}
    for node in graph.node:
        names |= set(node.input) | set(node.output)
        for sub in _subgraphs(node):
            names |= _tensor_names(sub)
    return names


def _subgraphs(node) -> list:
    out = []
    for attr in node.attribute:
        if attr.HasField("g"):
            out.append(attr.g)
        out.extend(attr.graphs)
    return out


def _rename(graph, mapping: dict[str, str]) -> None:
    """Rename tensors everywhere in `graph`, subgraphs included (they see outer names)."""
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        v.name = mapping.get(v.name, v.name)
    for t in graph.initializer:
        t.name = mapping.get(t.name, t.name)
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for sub in _subgraphs(node):
            _rename(sub, mapping)


def _opset(model) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise OnnxImportError("the model imports no standard ONNX opset (ai.onnx)")


def _pick_output(graph, key: Optional[str], flag: str, what: str) -> str:
    names = [o.name for o in graph.output]
    if key is None:
        if len(names) != 1:
            raise OnnxImportError(
                f"the model has {len(names)} outputs ({', '.join(names)}); "
                f"name the {what} with {flag}"
            )
        return names[0]
    produced = {n for node in graph.node for n in node.output} | set(names)
    if key not in produced:
        raise OnnxImportError(
            f"{flag} {key}: the model has no such tensor (outputs: {', '.join(names)})"
        )
    return key


def wrap(
    model,
    inp: ImageInput,
    height: int,
    width: int,
    channels: int,
    scaling: Scaling,
    *,
    softmax: bool = False,
    output_key: Optional[str] = None,
    embedding_output: Optional[str] = None,
):
    """(the bundle's model.onnx as a ModelProto, facts for model.json): `model` behind the
    uint8 NHWC `images` input and the scaling, its class scores as `probabilities` (with a
    softmax when `softmax`) and `embedding_output`, if named, as `embeddings`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    opset = _opset(model)
    if opset < MIN_OPSET:
        raise OnnxImportError(
            f"the model uses ONNX opset {opset}; re-export it with opset {MIN_OPSET} or later"
        )
    wrapped = onnx.ModelProto()
    wrapped.CopyFrom(model)
    graph = wrapped.graph
    out_name = _pick_output(graph, output_key, "--output_key", "class scores output")
    emb_name = (
        _pick_output(graph, embedding_output, "--embedding_output", "embeddings")
        if embedding_output
        else None
    )
    if emb_name == out_name:
        raise OnnxImportError("--embedding_output names the class scores output")
    used = _tensor_names(graph)
    clash = [n for n in used if n in RESERVED or n.startswith(PREFIX)]
    mapping = {}
    for name in clash:
        new, i = f"user_{name}", 1
        while new in used or new in mapping.values():
            new, i = f"user{i}_{name}", i + 1
        mapping[name] = new
    _rename(graph, mapping)
    x_name = mapping.get(inp.name, inp.name)
    out_name, emb_name = mapping.get(out_name, out_name), mapping.get(emb_name, emb_name)

    uint8_input = inp.elem_type == TensorProto.UINT8
    if uint8_input and not scaling.is_identity:
        raise OnnxImportError(
            f"the model's input {inp.name!r} is uint8: its preprocessing is inside it; "
            f"--scale, --offset, --mean, --std and --preprocess do not apply"
        )
    reverse, mul, add = affine(scaling, channels) if not uint8_input else (False, [1.0], [0.0])
    nodes, inits = [], []

    def const(name: str, values, dtype=np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype), PREFIX + name))
        return PREFIX + name

    if uint8_input:  # the model takes the images as they are: no cast, no scaling
        cur = "images"
    else:
        cur = PREFIX + "float"
        nodes.append(
            helper.make_node(
                "Cast", ["images"], [cur], to=TensorProto.FLOAT, name=PREFIX + "cast_in"
            )
        )
    if reverse:
        nodes.append(
            helper.make_node(
                "Gather",
                [cur, const("bgr", [2, 1, 0], np.int64)],
                [PREFIX + "bgr_x"],
                axis=3,
                name=PREFIX + "rgb_to_bgr",
            )
        )
        cur = PREFIX + "bgr_x"
    if any(m != 1.0 for m in mul):
        nodes.append(
            helper.make_node(
                "Mul", [cur, const("mul", mul)], [PREFIX + "scaled"], name=PREFIX + "scale"
            )
        )
        cur = PREFIX + "scaled"
    if any(b != 0.0 for b in add):
        nodes.append(
            helper.make_node(
                "Add", [cur, const("add", add)], [PREFIX + "shifted"], name=PREFIX + "shift"
            )
        )
        cur = PREFIX + "shifted"
    if inp.layout == "nchw":
        nodes.append(
            helper.make_node(
                "Transpose", [cur], [PREFIX + "nchw"], perm=[0, 3, 1, 2], name=PREFIX + "to_nchw"
            )
        )
        cur = PREFIX + "nchw"
    # The user's graph reads its input tensor: the last preprocessing node now makes it.
    if inp.elem_type in (TensorProto.FLOAT, TensorProto.UINT8):
        nodes.append(helper.make_node("Identity", [cur], [x_name], name=PREFIX + "model_input"))
    else:
        nodes.append(
            helper.make_node("Cast", [cur], [x_name], to=inp.elem_type, name=PREFIX + "model_input")
        )

    post = []

    def finish(src: str, dst: str, with_softmax: bool) -> None:
        """src -> [N, D] (Flatten: a [N, D, 1, 1] pooling output too) -> float32 `dst`."""
        tensor = f"{PREFIX}{dst}_flat"
        post.append(
            helper.make_node("Flatten", [src], [tensor], axis=1, name=f"{PREFIX}flatten_{dst}")
        )
        if with_softmax:
            post.append(
                helper.make_node(
                    "Softmax", [tensor], [f"{PREFIX}{dst}_softmax"], axis=1, name=PREFIX + "softmax"
                )
            )
            tensor = f"{PREFIX}{dst}_softmax"
        post.append(
            helper.make_node(
                "Cast", [tensor], [dst], to=TensorProto.FLOAT, name=f"{PREFIX}cast_{dst}"
            )
        )

    finish(out_name, "probabilities", softmax)
    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [inp.batch or "N", None])
    ]
    if emb_name:
        finish(emb_name, "embeddings", False)
        outputs.append(
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [inp.batch or "N", None])
        )
    user_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + user_nodes + post)
    graph.initializer.extend(inits)
    kept_inputs = [i for i in graph.input if i.name != x_name]
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(
            "images", TensorProto.UINT8, [inp.batch or "N", height, width, channels]
        )
    )
    graph.input.extend(kept_inputs)  # initialisers some exporters list as inputs
    del graph.output[:]
    graph.output.extend(outputs)
    try:
        onnx.checker.check_model(wrapped)
    except Exception as e:  # noqa: BLE001 - our own wiring: say what the checker says
        raise OnnxImportError(
            f"the wrapped model does not check: {str(e).strip().splitlines()[0][:300]}"
        ) from None
    facts = {
        "opset": opset,
        "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p) or None,
        "layout": inp.layout,
        "input": {
            "name": inp.name,
            "type": TensorProto.DataType.Name(inp.elem_type).lower(),
            "batch": inp.batch,
        },
        "output_key": _original_name(mapping, out_name),
        "embedding_output": _original_name(mapping, emb_name) if emb_name else None,
    }
    return wrapped, facts


def _original_name(mapping: dict[str, str], name: str) -> str:
    """The user's own name of a tensor that `wrap` may have renamed."""
    return next((old for old, new in mapping.items() if new == name), name)
