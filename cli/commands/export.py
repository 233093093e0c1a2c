"""`bucketscore export`: wrap a user's Keras model, SavedModel or ONNX model and its labels
as a bundle."""

from __future__ import annotations

import argparse
import textwrap

NAME = "export"
HELP = "wrap your own Keras, SavedModel, PyTorch or ONNX model and labels file into a bundle"
DESCRIPTION = (
    "Wrap a model trained elsewhere (Keras .keras/.h5, a TensorFlow SavedModel, a PyTorch "
    "program saved with torch.export, or an ONNX file from any framework) and its labels "
    "file (one label "
    "per line, in output order) into a bundle that `bucketscore score` and "
    "`classify` use as it is. The bundle's model takes uint8 images and applies "
    "the scaling you name; input size and channels come from the model. The "
    "result is smoke-tested, converted to ONNX (parity-checked; an ONNX model is "
    "wrapped as it is and scored with ONNX Runtime), written, and loaded back."
)
EPILOG = (
    textwrap.dedent("""\
    examples:
      bucketscore export --keras my_model.keras --labels labels.txt --scale 1/255 \\
          --out models/mine
      bucketscore export --keras s3://models/raw/cartoons.h5 --labels s3://models/raw/labels.txt \\
          --preprocess mobilenet_v2 --resize crop --name cartoons --out s3://models/cartoons
      bucketscore export --saved_model exported/1/ --labels labels.txt --height 224 \\
          --width 224 --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \\
          --embedding_output features --out gs://models/resnet-tuned
      bucketscore export --onnx resnet18.onnx --labels imagenet.txt --preprocess torch \\
          --softmax --resize crop --out models/resnet18      # torch.onnx.export'ed, NCHW
      bucketscore export --torch mnv2.pt2 --labels labels.txt --preprocess torch \\
          --softmax --resize crop --out models/mnv2          # torch.export.save'd, NCHW
      bucketscore export --keras my_model.keras --labels labels.txt --scale 1/255 \\
          --calibration photos/sample/ --quantize int8 --out models/mine  # + model.int8.onnx

    PyTorch programs (torch.export.save of torch.export.export(model.eval(), (example,),
    dynamic_shapes=...)): the same input rules as ONNX; several outputs: --output_key and
    --embedding_output name them by position (0, 1, ...) or name. The bundle holds the
    program (model.pt2: --backend torch) and its ONNX twin, parity-checked (model.onnx:
    what --backend auto runs on CPUs); --no-onnx keeps the program alone. Needs the torch
    extra: pip install 'bucketscore[torch]'. A model whose input is uint8 (its
    preprocessing inside) is wrapped as it is, ONNX or PyTorch: no scaling flags.

    ONNX models: one float input, NCHW or NHWC (told apart by the channel dimension, 1 or
    3; --layout when both could be), wrapped so the bundle takes uint8 NHWC images; dynamic
    sizes from --height/--width/--channels; several outputs: name the class scores with
    --output_key and, optionally, embeddings with --embedding_output (any tensor of the
    graph). The bundle has no SavedModel: score and classify use ONNX Runtime
    (--backend tf is refused).

    Scaling (applied to pixel values 0..255, inside the bundle): --scale S [--offset O]
    gives x*S+O; --mean/--std (per channel, after --scale) give (x-mean)/std;
    --preprocess NAME uses a Keras Applications preprocess_input (mobilenet_v2,
    inception_v3, resnet50, vgg16, densenet, efficientnet, tf, torch, caffe, none).
    Keras models are loaded with safe_mode=True: Lambda layers are refused.
    """)
    + "\n"
    + "Storage options for buckets (--s3_endpoint_url, ...) are accepted as for "
    "score; other unknown flags are refused.\nExit status: 0 exported, 1 the model does not "
    "fit (the message says why), 2 the command was wrong."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.cli.commands.model_flags import add_input_arguments
    from bucketscore.model_export.onnx_import import LAYOUTS
    from bucketscore.model_export.scaling import PREPROCESS_MODES

    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--keras", metavar="PATH", help="a Keras model file (.keras, .h5), local or in a bucket"
    )
    src.add_argument(
        "--saved_model", metavar="PATH", help="a TensorFlow SavedModel folder, local or in a bucket"
    )
    src.add_argument(
        "--onnx",
        dest="onnx_file",
        metavar="PATH",
        help="an ONNX model file (from PyTorch, ...), local or in a bucket",
    )
    src.add_argument(
        "--torch",
        dest="torch_file",
        metavar="PATH",
        help="a PyTorch program saved with torch.export.save (.pt2), local or in a bucket",
    )
    parser.add_argument(
        "--labels",
        required=True,
        metavar="FILE",
        help="labels file: one label per line, in the model's output order",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="URI",
        help="where to write the bundle (local, s3://, gs://); replaced if it exists",
    )
    parser.add_argument("--name", help="bundle name (default: the model file's name)")
    add_input_arguments(parser, "the model's input shape")
    g = parser.add_argument_group("input scaling (pixel values 0..255 in)")
    g.add_argument("--scale", help="multiply by this (1/255, 0.0078125, ...)")
    g.add_argument("--offset", help="then add this (-1 with --scale 1/127.5 gives -1..1)")
    g.add_argument("--mean", help="per-channel mean to subtract after --scale (r,g,b or one)")
    g.add_argument("--std", help="per-channel std to divide by after --mean")
    g.add_argument(
        "--preprocess",
        choices=sorted(PREPROCESS_MODES),
        metavar="NAME",
        help="a Keras Applications preprocessing by name: " + ", ".join(sorted(PREPROCESS_MODES)),
    )
    g.add_argument("--softmax", action="store_true", help="the model returns logits: add a softmax")
    g = parser.add_argument_group("outputs")
    g.add_argument(
        "--embedding_layer",
        metavar="NAME",
        help="Keras: layer whose output are the embeddings (default: the "
        "penultimate layer, i.e. the input of the final Dense layer)",
    )
    g.add_argument(
        "--signature",
        default="serving_default",
        help="SavedModel: signature to wrap (default serving_default)",
    )
    g.add_argument("--input_key", help="SavedModel: the image input's name, if several")
    g.add_argument("--output_key", help="SavedModel, ONNX: the class scores output, if several")
    g.add_argument(
        "--embedding_output",
        metavar="KEY",
        help="SavedModel: an output to export as embeddings; ONNX: an output or "
        "any tensor of the graph (e.g. the pooled features)",
    )
    g.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="ONNX: the input's layout, nchw (PyTorch) or nhwc (default auto: "
        "from the input's shape)",
    )
    g = parser.add_argument_group("checks")
    g.add_argument(
        "--calibration",
        metavar="URI",
        help="a prefix of sample images for the ONNX parity check and --quantize int8's "
        "calibration (default: generated images)",
    )
    g.add_argument("--no-onnx", dest="onnx", action="store_false", help="do not write model.onnx")
    from bucketscore.cli.commands.quantize import add_quantize_arguments
    from bucketscore.pipelines.validators import positive_int, probability

    g = parser.add_argument_group(
        "int8 twin (as bucketscore quantize; calibrated on --calibration, labels from folders)"
    )
    g.add_argument(
        "--quantize",
        choices=("int8",),
        help="also write model.int8.onnx, statically quantized, for `score --precision int8`; "
        "refused (exit 2, the fp32 bundle kept) under --min_agreement",
    )
    add_quantize_arguments(g, positive_int, probability, calibration=False, labels=False)
    g.add_argument(
        "--int8_default",
        action="store_true",
        help="score with the int8 twin when no --precision is given",
    )


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.cli import storage_flags
    from bucketscore.cli.commands import model_flags as flags
    from bucketscore.errors import UsageError
    from bucketscore.model_export.quantizing import DEFAULT_MIN_AGREEMENT, DEFAULT_SAMPLES
    from bucketscore.model_export.scaling import ScalingError, scaling_from_flags
    from bucketscore.model_export.user_models import ExportRequest
    from bucketscore.storage.preflight import check_targets

    storage_flags.apply(extra)
    try:
        scaling = scaling_from_flags(args.scale, args.offset, args.mean, args.std, args.preprocess)
    except ScalingError as e:
        raise UsageError(str(e)) from None
    if args.keras and any(
        (
            args.input_key,
            args.output_key,
            args.embedding_output,
            args.signature != "serving_default",
        )
    ):
        raise UsageError(
            "--signature, --input_key, --output_key and --embedding_output apply "
            "to --saved_model (--output_key and --embedding_output also to "
            "--onnx)"
        )
    if args.saved_model and args.embedding_layer:
        raise UsageError(
            "--embedding_layer applies to --keras; for a SavedModel name an "
            "output with --embedding_output"
        )
    quantize_only = [
        flag
        for flag, on in (
            ("--samples", args.samples != DEFAULT_SAMPLES),
            ("--min_agreement", args.min_agreement != DEFAULT_MIN_AGREEMENT),
            ("--int8_default", args.int8_default),
        )
        if on
    ]
    if quantize_only and not args.quantize:
        raise UsageError(f"{', '.join(quantize_only)}: only with --quantize int8")
    if args.quantize and not args.onnx:
        raise UsageError("--quantize int8 quantizes model.onnx: not with --no-onnx")
    if args.onnx_file:
        given = [
            flag
            for flag, on in (
                ("--embedding_layer", args.embedding_layer),
                ("--signature", args.signature != "serving_default"),
                ("--input_key", args.input_key),
                ("--calibration", args.calibration and not args.quantize),
                ("--no-onnx", not args.onnx),
            )
            if on
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)}: not for --onnx (the model is wrapped as "
                f"it is: no conversion, no parity check)"
            )
    elif args.torch_file:
        given = [
            flag
            for flag, on in (
                ("--embedding_layer", args.embedding_layer),
                ("--signature", args.signature != "serving_default"),
                ("--input_key", args.input_key),
            )
            if on
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: not for --torch")
        from bucketscore.bundle.torch_runtime import MISSING, torch_available

        if not torch_available():
            raise UsageError(f"--torch: {MISSING.replace('the torch backend needs', 'needs')}")
    elif args.layout != "auto":
        raise UsageError("--layout applies to --onnx and --torch")
    req = ExportRequest(
        out=args.out,
        labels=args.labels,
        keras=args.keras,
        saved_model=args.saved_model,
        onnx_file=args.onnx_file,
        torch_file=args.torch_file,
        layout=args.layout,
        name=args.name,
        resize=args.resize,
        interpolation=args.interpolation,
        height=args.height,
        width=args.width,
        channels=args.channels,
        scaling=scaling,
        softmax=args.softmax,
        embedding_layer=args.embedding_layer,
        signature=args.signature,
        input_key=args.input_key,
        output_key=args.output_key,
        embedding_output=args.embedding_output,
        calibration=None if args.onnx_file else args.calibration,
        onnx=args.onnx,
    )
    if args.torch_file:
        needed = ("onnx",) if args.onnx else ()
    else:
        needed = ("onnx",) if args.onnx_file else flags.ONNX_EXPORT if args.onnx else ()
    if not flags.check_training_packages(NAME, needed):
        return 1
    # The install first (missing packages are not a wrong command), then the paths.
    check_targets(export_targets(args), extra)  # forms, local paths, one request per bucket

    def go() -> int:
        from bucketscore.model_export.user_models import export_model

        meta = export_model(req, log=print)
        files = ", ".join(
            sorted(
                {f.split("/")[0] + ("/" if "/" in f else "") for f in meta.files} | {"model.json"}
            )
        )
        print(
            f"bundle: {args.out} (version {meta.version}, {len(meta.labels)} labels, "
            f"input {meta.input.height}x{meta.input.width}x{meta.input.channels}, "
            f"outputs {', '.join(meta.outputs)})"
        )
        print(f"files: {files}")
        if args.quantize:
            return quantize_export(args)
        return 0

    return flags.run_reporting_errors(NAME, go)


def quantize_export(args: argparse.Namespace) -> int:
    """`--quantize int8`: the int8 twin of the bundle just written (bucketscore quantize);
    refused: exit 2 with the figures, the fp32 bundle left as written."""
    from bucketscore.errors import UsageError
    from bucketscore.model_export.quantizing import QuantizeError, quantize_bundle

    try:
        meta = quantize_bundle(
            args.out,
            calibration=args.calibration,
            samples=args.samples,
            min_agreement=args.min_agreement,
            default=args.int8_default,
            log=print,
        )
    except QuantizeError as e:
        raise UsageError(
            f"--quantize int8: {e} (the fp32 bundle at {args.out} is written, without it)"
        ) from None
    print(f"int8 twin: model.int8.onnx (bundle version {meta.version})")
    return 0


def export_targets(args: argparse.Namespace) -> list:
    """The paths `export` reads (they must exist) and writes, for storage.preflight."""
    from bucketscore.storage.preflight import Target

    return [
        Target("--keras", args.keras or "", must_exist=True, exact=True),
        Target("--saved_model", args.saved_model or "", must_exist=True),
        Target("--onnx", getattr(args, "onnx_file", None) or "", must_exist=True, exact=True),
        Target("--torch", getattr(args, "torch_file", None) or "", must_exist=True, exact=True),
        Target("--labels", args.labels, must_exist=True, exact=True),
        Target("--calibration", args.calibration or "", must_exist=True),
        Target("--out", args.out),
    ]
