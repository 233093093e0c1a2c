"""Small ONNX image classifiers built with onnx.helper, as another framework would export
them (PyTorch is not installed here): float input, NCHW or NHWC, logits out, random weights.

`direct_probabilities` runs such a model with ONNX Runtime on pixels preprocessed by the
test itself (decode_image, then the scaling in numpy): the independent expectation for a
bundle made with `bucketscore export --onnx`.
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
IR_VERSION = 8  # what the installed onnxruntime reads (onnx's default may be newer)
OPSET = 17


def classifier(
    path: str,
    *,
    classes: int = 3,
    height=16,
    width=16,
    channels: int = 3,
    layout: str = "nchw",
    batch="batch",
    features: int = 6,
    seed: int = 0,
    input_name: str = "input.1",
    extra_output: bool = False,
    input_type: str = "float",
) -> str:
    """Write a Conv -> Relu -> GlobalAveragePool -> Flatten (`features`) -> Gemm (`logits`)
    classifier to `path`. `height`/`width`/`batch`: an int (fixed) or a name (dynamic).
    NHWC models transpose to NCHW first (as tf2onnx output does). `extra_output`: also
    output `features` (two graph outputs). `input_type` "double": the input is float64,
    cast to float32 first; "uint8": the input is uint8 images, cast and divided by 255
    inside (a model with its preprocessing built in)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    conv_w = rng.normal(0, 0.5, (features, channels, 3, 3)).astype(np.float32)
    conv_b = rng.normal(0, 0.1, features).astype(np.float32)
    fc_w = rng.normal(0, 1.0, (classes, features)).astype(np.float32)
    fc_b = rng.normal(0, 0.1, classes).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in (
            (conv_w, "conv.weight"),
            (conv_b, "conv.bias"),
            (fc_w, "fc.weight"),
            (fc_b, "fc.bias"),
        )
    ]
    nodes = []
    x = input_name
    if input_type == "double":
        nodes.append(helper.make_node("Cast", [x], ["x_float"], to=TensorProto.FLOAT))
        x = "x_float"
    if input_type == "uint8":
        inits.append(numpy_helper.from_array(np.array(1 / 255, np.float32), "inv255"))
        nodes.append(helper.make_node("Cast", [x], ["x_cast"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", ["x_cast", "inv255"], ["x_float"]))
        x = "x_float"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", [x], ["x_nchw"], perm=[0, 3, 1, 2]))
        x = "x_nchw"
    nodes += [
        helper.make_node(
            "Conv",
            [x, "conv.weight", "conv.bias"],
            ["conv_out"],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["conv_out"], ["relu_out"]),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", "fc.weight", "fc.bias"], ["logits"], transB=1),
    ]
    shape = (
        [batch, channels, height, width] if layout == "nchw" else [batch, height, width, channels]
    )
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])]
    if extra_output:
        outputs.append(
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, features])
        )
    graph = helper.make_graph(
        nodes,
        "user_classifier",
        [
            helper.make_tensor_value_info(
                input_name,
                {"double": TensorProto.DOUBLE, "uint8": TensorProto.UINT8}.get(
                    input_type, TensorProto.FLOAT
                ),
                shape,
            )
        ],
        outputs,
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="pytorch",
        producer_version="2.9.0",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def direct_outputs(
    path: str, pixels: np.ndarray, layout: str = "nchw", names=("logits",)
) -> list[np.ndarray]:
    """The original model on uint8 NHWC `pixels` scaled here with ImageNet mean/std in numpy
    ((x / 255 - mean) / std), transposed for NCHW; returns the named tensors (graph outputs
    or intermediate ones, which are made outputs of a copy of the model)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = (pixels.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    if layout == "nchw":
        x = x.transpose(0, 3, 1, 2)
    model = onnx.load(path)
    outputs = {o.name for o in model.graph.output}
    model.graph.output.extend(
        helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n not in outputs
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    dtype = np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x, dtype)}
    fixed = session.get_inputs()[0].shape[0]
    if isinstance(fixed, int):  # a fixed batch size: one call per image
        runs = [
            session.run(list(names), {k: v[i : i + 1] for k, v in feed.items()})
            for i in range(len(x))
        ]
        return [np.concatenate([r[j] for r in runs]) for j in range(len(names))]
    return session.run(list(names), feed)
