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
