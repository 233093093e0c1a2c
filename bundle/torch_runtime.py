"""PyTorch as bucketscore uses it, imported only by runs and bundles that choose it: the
module (or the one-line error saying which extra installs it), threads, and the agreement
of reduced precision with fp32.

torch is the `torch` extra (pip install 'bucketscore[torch]'): never imported on the ONNX
Runtime or TensorFlow paths (tests/bundle/test_torch_runtime.py).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

THREADS_ENV = "BUCKETSCORE_TORCH_THREADS"
PRECISIONS = ("fp32", "fp16", "bf16")
MISSING = (
    "the torch backend needs PyTorch, which the core install leaves out: "
    "pip install 'bucketscore[torch]' (in a checkout: make setup)"
)


class TorchMissing(ImportError):
    """PyTorch is not installed here."""


def torch_module():
    """The torch module; TorchMissing (one line: what to install) without it.

    triton (which torch.export's imports look for, for torch.compile's GPU kernels) is kept
    out of the process: with TensorFlow in the same process the two crash (a segmentation
    fault, whichever comes first: TensorFlow 2.21, torch 2.14's triton), and loading and
    running an exported program needs neither triton nor torch.compile."""
    import sys

    if "triton" not in sys.modules:
        import logging

        sys.modules["triton"] = None  # `import triton` raises ImportError: torch copes
        # ...and says so, once, as a warning that is not news (triton is kept out here)
        logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)
    try:
        import torch
    except ImportError:
        raise TorchMissing(MISSING) from None
    return torch


def torch_available() -> bool:
    """PyTorch can be imported here (found without importing it: a second or more)."""
    import importlib.util
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"] is not None  # None: blocked (import raises)
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_threads() -> Optional[int]:
    """Intra-op threads: $BUCKETSCORE_TORCH_THREADS (set by the worker plan), else torch's
    own default (None)."""
    try:
        return max(1, int(os.environ[THREADS_ENV]))
    except (KeyError, ValueError):
        return None


def without_dtype_asserts(module):
    """An exported program's module without its tensor-metadata asserts (which pin every
    intermediate dtype to what export saw: float32), so that it runs under autocast."""
    graph = module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and "_assert_tensor_metadata" in str(node.target):
            graph.erase_node(node)
    module.recompile()
    return module


def dtype_of(precision: str):
    torch = torch_module()
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def agreement(reference: np.ndarray, reduced: np.ndarray) -> dict:
    """How a reduced-precision model agrees with fp32 on the same images: the share of
    images with the same top-1 class and the largest probability difference."""
    reference, reduced = np.asarray(reference, np.float64), np.asarray(reduced, np.float64)
    return {
        "images": int(len(reference)),
        "top1_agreement": float(np.mean(reference.argmax(1) == reduced.argmax(1))),
        "max_probability_difference": float(np.max(np.abs(reference - reduced))),
    }
