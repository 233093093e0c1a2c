"""The reference programs the benchmark compares bucketscore with; each runs as its own process.

    python -m benchmarks.variants plain --input DIR --bundle B --backend onnx --output F
    python -m benchmarks.variants stock --input PATTERN --model B/model.keras --output P \
        [beam flags]

(a) `plain`: a plain Python loop: list the folder, and for each file Pillow decode + resize
    and one model call (batch of 1) through the bundle's predictor; results to a CSV.
(b) `stock`: the pipeline a user writes from Beam's documentation: MatchFiles ->
    ReadMatches -> Pillow decode + resize -> RunInference(KeyedModelHandler(
    TFModelHandlerNumpy(model))) -> format -> WriteToText, with the runner's defaults
    except one: max_batch_size=64 (bucketscore's default --batch_size). With Beam's
    default (10,000) batches grow until one takes ~10 s, i.e. hundreds of images, and this
    model's eager Keras call then needs several GB (6.7 GB peak RSS measured for 200
    images), enough to exhaust the benchmark machine at N = 4,000.
    Beam's tensorflow_inference imports tensorflow_hub only for `hub.resolve(uri)`; where
    it is not installed (it pulls tf-keras and the full `tensorflow` wheel over
    `tensorflow-cpu`), an identity stand-in is registered first. Keras 3 loads no SavedModel
    through `tf.keras.models.load_model`, so the handler is
    given the bundle's `model.keras` (the same weights as its SavedModel); the pixels go
    in as float32 0..255, as in Beam's examples (normalisation is inside the model).
Both decode exactly as the bundle says (RGB, squash to 224x224, bilinear), so all programs
do the same work per image.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import sys
import time


def plain(args) -> None:
    import numpy as np
    from PIL import Image

    from bucketscore.bundle.predictor import load_predictor

    pred = load_predictor(args.bundle, args.backend)
    spec = pred.meta.input
    labels = pred.meta.labels
    files = sorted(glob.glob(os.path.join(args.input, "**", "*.jpg"), recursive=True))
    t0 = time.perf_counter()
    with open(args.output, "w") as out:
        out.write("uri,predicted_label,confidence\n")
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            img = (
                Image.open(io.BytesIO(data))
                .convert("RGB")
                .resize((spec.width, spec.height), Image.Resampling.BILINEAR)
            )
            probs = pred.predict(np.asarray(img)[None]).probabilities[0]
            k = int(np.argmax(probs))
            out.write(f"{path},{labels[k]},{probs[k]:.6f}\n")
    print(
        f"plain loop: {len(files)} images in {time.perf_counter() - t0:.2f} s ({pred.backend})",
        file=sys.stderr,
    )


def _tensorflow_hub_stand_in() -> None:
    """Beam's tensorflow_inference calls only `tensorflow_hub.resolve(uri)`: for a local
    path that is the path itself."""
    import importlib.util
    import types

    if importlib.util.find_spec("tensorflow_hub") is None:
        stub = types.ModuleType("tensorflow_hub")
        stub.resolve = lambda handle: handle
        sys.modules["tensorflow_hub"] = stub


def stock(args, beam_args) -> None:
    _tensorflow_hub_stand_in()
    import apache_beam as beam
    import numpy as np
    from apache_beam.io import fileio
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerNumpy
    from apache_beam.options.pipeline_options import PipelineOptions
    from PIL import Image

    def decode(readable_file):
        data = readable_file.read()
        img = (
            Image.open(io.BytesIO(data))
            .convert("RGB")
            .resize((224, 224), Image.Resampling.BILINEAR)
        )
        return readable_file.metadata.path, np.asarray(img, dtype=np.float32)

    def format_result(item):
        path, result = item
        probs = np.asarray(result.inference)
        return f"{path},{int(np.argmax(probs))},{float(np.max(probs)):.6f}"

    batching = {"max_batch_size": args.max_batch_size} if args.max_batch_size else {}
    handler = KeyedModelHandler(TFModelHandlerNumpy(args.model, **batching))
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        (
            p
            | "Match" >> fileio.MatchFiles(args.input)
            | "Read" >> fileio.ReadMatches()
            | "Decode" >> beam.Map(decode)
            | "RunInference" >> RunInference(handler)
            | "Format" >> beam.Map(format_result)
            | "Write" >> beam.io.WriteToText(args.output, file_name_suffix=".csv")
        )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="which", required=True)
    a = sub.add_parser("plain")
    a.add_argument("--input", required=True)
    a.add_argument("--bundle", required=True)
    a.add_argument("--backend", default="onnx")
    a.add_argument("--output", required=True)
    b = sub.add_parser("stock")
    b.add_argument("--input", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--output", required=True)
    b.add_argument(
        "--max_batch_size",
        type=int,
        default=64,
        help="RunInference's largest batch (default 64, bucketscore's former "
        "--batch_size default; 0: Beam's default of 10,000, whose batches grow "
        "towards 10 s of work and take many GB with this model)",
    )
    args, rest = ap.parse_known_args(argv)
    if args.which == "plain":
        if rest:
            ap.error(f"unknown arguments: {rest}")
        plain(args)
    else:
        stock(args, rest)


if __name__ == "__main__":
    main()
