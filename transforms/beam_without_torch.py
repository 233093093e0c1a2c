"""Imported first in every Beam worker process (`--beam_plugin`, added by pipelines/run.py
`pipeline_of`): loads Beam's RunInference module without PyTorch and SciPy
(bucketscore/private_apis.py `run_inference_base`) before anything else can load it.

Why a plugin: a worker rebuilds the RunInference step by unpickling it, which imports
`apache_beam.ml.inference.base` by itself, before any bucketscore module; with torch
installed (the `torch` extra) that import pulls in Beam's model manager and with it torch
and scipy (~2.5 s and ~500 MB per process, docs/performance.md "Fixed cost"). The launching
process gets the same through transforms/inference.py. A torch bundle still imports torch
itself (bundle/torch_runtime.py).
"""

from __future__ import annotations

from bucketscore.private_apis import run_inference_base

PLUGIN = __name__  # what --beam_plugin names

run_inference_base()
