"""Session fixtures for models: the demo bundle is trained once per test session."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass
class DemoBundle:
    model: str  # local bundle folder
    data: str  # folder of held-out test images, one folder per class
    meta: object


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory) -> DemoBundle:
    from bucketscore.model_export.digits_demo import ensure_demo

    root = tmp_path_factory.mktemp("demo")
    model, data = str(root / "models" / "digits"), str(root / "demo_data" / "digits")
    meta = ensure_demo(model, data)
    assert os.path.isfile(os.path.join(model, "model.json"))
    return DemoBundle(model=model, data=data, meta=meta)


@dataclass
class Int8Bundle:
    model: str  # a copy of the demo bundle with model.int8.onnx added (bucketscore quantize)
    data: str  # the demo images it was calibrated and measured on
    samples: int  # --samples it was quantized with


INT8_SAMPLES = 128


@pytest.fixture(scope="session")
def int8_demo_bundle(demo_bundle, tmp_path_factory) -> Int8Bundle:
    """The demo bundle, copied, quantized once per session on the demo images (not the demo
    bundle itself: other tests read it as it is)."""
    import shutil

    from bucketscore.model_export.quantizing import quantize_bundle

    model = str(tmp_path_factory.mktemp("int8") / "digits")
    shutil.copytree(demo_bundle.model, model)
    quantize_bundle(model, calibration=demo_bundle.data, samples=INT8_SAMPLES, log=lambda _: None)
    return Int8Bundle(model=model, data=demo_bundle.data, samples=INT8_SAMPLES)
