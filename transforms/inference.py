"""Batched inference through Beam's RunInference with our ModelHandler.

The handler only loads the bundle and calls it on batches. By default each worker process
loads its own copy (RunInference shares it between the process's threads); with
`model_copies` (a GPU machine: one copy per GPU) Beam keeps that many copies per machine
and every decoding process sends its batches to them (multi_process_shared), so many
processes decode and one model keeps the GPU busy. If a batch fails, its images are
retried one by one, so only the image that breaks the model becomes an errors row.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from bucketscore.bundle import devices
from bucketscore.bundle.predictor import load_predictor
from bucketscore.private_apis import run_inference_base
from bucketscore.transforms import counters
from bucketscore.transforms.per_image import predict_batch
from bucketscore.transforms.records import ERRORS_TAG, ErrorRow, ImageExample, ModelOutput

# Beam's RunInference without the PyTorch and SciPy imports it does not need here
# (bucketscore/private_apis.py: run_inference_base).
_base = run_inference_base()
ModelHandler, PredictionResult, RunInference = (
    _base.ModelHandler,
    _base.PredictionResult,
    _base.RunInference,
)

log = logging.getLogger(__name__)


class BundleModelHandler(ModelHandler[ImageExample, PredictionResult, Any]):
    """ImageExample batches -> PredictionResult(example, ModelOutput) via a model bundle."""

    def __init__(
        self,
        bundle_uri: str,
        *,
        backend: str = "auto",
        device: str = "auto",
        embeddings: bool = False,
        min_batch_size: int = 1,
        max_batch_size: int = 64,
        model_copies: Optional[int] = None,
        precision: str = "fp32",
    ):
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            model_copies=model_copies or None,
        )
        self._bundle_uri = bundle_uri
        self._backend = backend
        self._device = device
        self._embeddings = embeddings
        self._precision = precision

    def load_model(self):
        counters.counter("model_loads").inc()
        if self._device == "auto":
            # Decided here, on the worker (a Dataflow GPU worker): never silently the CPU.
            warn_if_gpu_unused(self._bundle_uri, self._backend)
        return load_predictor(self._bundle_uri, self._backend, self._device, self._precision)

    def run_inference(
        self, batch: Sequence[ImageExample], model, inference_args: Optional[dict[str, Any]] = None
    ) -> Iterable[PredictionResult]:
        outputs = predict_batch(model, batch, self._embeddings)
        return [PredictionResult(out.example, out) for out in outputs]

    def get_num_bytes(self, batch: Sequence[ImageExample]) -> int:
        return sum(ex.pixels.nbytes for ex in batch)

    def get_metrics_namespace(self) -> str:
        return "bucketscore"


def warn_if_gpu_unused(bundle_uri: str, backend: str) -> None:
    """Log (and count, `gpu_unused`) when this worker has a GPU no backend can use."""
    from bucketscore.bundle.meta import read_meta

    try:
        choice = devices.choose(read_meta(bundle_uri).backends, backend, "auto", devices.probe())
    except devices.DeviceError:
        return
    if choice.warning:
        log.warning("bucketscore: %s", choice.warning)
        counters.counter("gpu_unused").inc()


class _SplitFailures(beam.DoFn):
    def __init__(self):
        self._failed = counters.counter("failed")

    def process(self, result: PredictionResult) -> Iterator:
        out: ModelOutput = result.inference
        if out.error is not None:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                ERRORS_TAG, ErrorRow(out.example.uri, "inference", out.error)
            )
        else:
            yield out


class Infer(beam.PTransform):
    """PCollection[ImageExample] -> ModelOutput (main) and ErrorRow (tag `errors`)."""

    def __init__(self, handler: BundleModelHandler):
        super().__init__()
        self._handler = handler

    def expand(self, examples):
        return (
            examples
            | "RunInference" >> RunInference(self._handler)
            | "SplitFailures"
            >> beam.ParDo(_SplitFailures()).with_outputs(ERRORS_TAG, main="outputs")
        )
