"""Keep Beam's RunInference from importing PyTorch in processes that do not score with it.

`apache_beam.ml.inference.base` imports its ModelManager (the module
`apache_beam.ml.inference.model_manager` of Beam 2.77), which runs `import torch` at module level, inside a
`try/except ImportError`. With torch installed (the `torch` extra, which `make setup`
installs), every launcher and every worker process paid for a module bucketscore never
uses (RunInference's `use_model_manager` stays off): measured here, 706 MB against 206 MB
peak RSS and 4-8 s against 1.5-3 s to import `apache_beam.ml.inference.base` (2 cores,
load ~3.5; docs/performance.md). Marking the module absent before `base` is imported makes
`base` take its own fallback (`ModelManager = None`), as on a machine without torch.

Imported by transforms/inference.py before Beam's `base`, and first thing in every Beam
worker process (`--beam_plugin`, added by pipelines/run.py `pipeline_of`). A torch bundle
still imports torch itself (bundle/torch_runtime.py).
"""

from __future__ import annotations

import sys

MODEL_MANAGER = "apache_beam.ml.inference.model_manager"
BEAM_BASE = "apache_beam.ml.inference.base"
PLUGIN = __name__  # what --beam_plugin names


def keep_torch_out() -> bool:
    """Mark Beam's model manager as absent; False when it is too late (Beam's `base` or the
    model manager was imported already in this process)."""
    if BEAM_BASE in sys.modules or sys.modules.get(MODEL_MANAGER) is not None:
        return False
    sys.modules[MODEL_MANAGER] = None  # `import` of it now raises ImportError
    return True


keep_torch_out()
