"""`bucketscore export`: wrap a user's Keras model or SavedModel and its labels as a bundle."""
from __future__ import annotations

import argparse
import textwrap

NAME = "export"
HELP = "wrap your own Keras model or SavedModel and labels file into a bundle"
DESCRIPTION = ("Wrap a model trained elsewhere (Keras .keras/.h5, or a TensorFlow "
               "SavedModel) and its labels file (one label per line, in output order) into a "
               "bundle that `bucketscore score` uses as it is. The bundle's signature takes "
               "uint8 images and applies the scaling you name; input size and channels come "
               "from the model. The result is smoke-tested, converted to ONNX (parity-"
               "checked), written, and loaded back.")
EPILOG = textwrap.dedent("""\
    examples:
      bucketscore export --keras my_model.keras --labels labels.txt --scale 1/255 \\
          --out models/mine
      bucketscore export --keras s3://models/raw/cartoons.h5 --labels s3://models/raw/labels.txt \\
          --preprocess mobilenet_v2 --resize crop --name cartoons --out s3://models/cartoons
      bucketscore export --saved_model exported/1/ --labels labels.txt --height 224 \\
          --width 224 --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \\
          --embedding_output features --out gs://models/resnet-tuned

    Scaling (applied to pixel values 0..255, inside the bundle): --scale S [--offset O]
    gives x*S+O; --mean/--std (per channel, after --scale) give (x-mean)/std;
    --preprocess NAME uses a Keras Applications preprocess_input (mobilenet_v2,
    inception_v3, resnet50, vgg16, densenet, efficientnet, tf, torch, caffe, none).
    Keras models are loaded with safe_mode=True: Lambda layers are refused.
    """) + "\n" + "Storage options for buckets (--s3_endpoint_url, ...) are accepted as for " \
    "score; other unknown flags are refused.\nExit status: 0 exported, 1 the model does not " \
    "fit (the message says why), 2 the command was wrong."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bucketscore.model_export.scaling import PREPROCESS_MODES
    from bucketscore.pipelines.commands.model_flags import add_input_arguments

    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--keras", metavar="PATH", help="a Keras model file (.keras, .h5), local "
                                                     "or in a bucket")
    src.add_argument("--saved_model", metavar="PATH",
                     help="a TensorFlow SavedModel folder, local or in a bucket")
    parser.add_argument("--labels", required=True, metavar="FILE",
                        help="labels file: one label per line, in the model's output order")
    parser.add_argument("--out", required=True, metavar="URI",
                        help="where to write the bundle (local, s3://, gs://); replaced if it "
                             "exists")
    parser.add_argument("--name", help="bundle name (default: the model file's name)")
    add_input_arguments(parser, "the model's input shape")
    g = parser.add_argument_group("input scaling (pixel values 0..255 in)")
    g.add_argument("--scale", help="multiply by this (1/255, 0.0078125, ...)")
    g.add_argument("--offset", help="then add this (-1 with --scale 1/127.5 gives -1..1)")
    g.add_argument("--mean", help="per-channel mean to subtract after --scale (r,g,b or one)")
    g.add_argument("--std", help="per-channel std to divide by after --mean")
    g.add_argument("--preprocess", choices=sorted(PREPROCESS_MODES), metavar="NAME",
                   help="a Keras Applications preprocessing by name: "
                        + ", ".join(sorted(PREPROCESS_MODES)))
    g.add_argument("--softmax", action="store_true",
                   help="the model returns logits: add a softmax")
    g = parser.add_argument_group("outputs")
    g.add_argument("--embedding_layer", metavar="NAME",
                   help="Keras: layer whose output are the embeddings (default: the "
                        "penultimate layer, i.e. the input of the final Dense layer)")
    g.add_argument("--signature", default="serving_default",
                   help="SavedModel: signature to wrap (default serving_default)")
    g.add_argument("--input_key", help="SavedModel: the image input's name, if several")
    g.add_argument("--output_key", help="SavedModel: the class scores output, if several")
    g.add_argument("--embedding_output", metavar="KEY",
                   help="SavedModel: an output to export as embeddings")
    g = parser.add_argument_group("checks")
    g.add_argument("--calibration", metavar="URI",
                   help="a prefix of sample images for the ONNX parity check (default: "
                        "generated images)")
    g.add_argument("--no-onnx", dest="onnx", action="store_false",
                   help="do not write model.onnx")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from bucketscore.model_export.scaling import ScalingError, scaling_from_flags
    from bucketscore.model_export.user_models import ExportRequest
    from bucketscore.pipelines.commands.model_flags import (
        ONNX_EXPORT,
        apply_storage_flags,
        check_training_packages,
        run_reporting_errors,
    )
    from bucketscore.pipelines.validators import UsageError

    apply_storage_flags(extra)
    try:
        scaling = scaling_from_flags(args.scale, args.offset, args.mean, args.std,
                                     args.preprocess)
    except ScalingError as e:
        raise UsageError(str(e)) from None
    if args.keras and any((args.input_key, args.output_key, args.embedding_output,
                           args.signature != "serving_default")):
        raise UsageError("--signature, --input_key, --output_key and --embedding_output apply "
                         "to --saved_model")
    if args.saved_model and args.embedding_layer:
        raise UsageError("--embedding_layer applies to --keras; for a SavedModel name an "
                         "output with --embedding_output")
    req = ExportRequest(out=args.out, labels=args.labels, keras=args.keras,
                        saved_model=args.saved_model, name=args.name, resize=args.resize,
                        interpolation=args.interpolation, height=args.height, width=args.width,
                        channels=args.channels, scaling=scaling, softmax=args.softmax,
                        embedding_layer=args.embedding_layer, signature=args.signature,
                        input_key=args.input_key, output_key=args.output_key,
                        embedding_output=args.embedding_output, calibration=args.calibration,
                        onnx=args.onnx)

    if not check_training_packages(NAME, ONNX_EXPORT if args.onnx else ()):
        return 1

    def go() -> int:
        from bucketscore.model_export.user_models import export_model

        meta = export_model(req, log=print)
        files = ", ".join(sorted({f.split("/")[0] + ("/" if "/" in f else "")
                                  for f in meta.files} | {"model.json"}))
        print(f"bundle: {args.out} (version {meta.version}, {len(meta.labels)} labels, "
              f"input {meta.input.height}x{meta.input.width}x{meta.input.channels}, "
              f"outputs {', '.join(meta.outputs)})")
        print(f"files: {files}")
        return 0

    return run_reporting_errors(NAME, go)
