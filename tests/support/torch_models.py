"""Small PyTorch models for the torch tests: torchvision architectures with random weights
(BatchNorm statistics calibrated on random images, so that outputs differ per image), a
small CNN trained on scikit-learn's digits, and programs saved with torch.export."""

from __future__ import annotations

import numpy as np


def calibrated(model, size: int, channels: int = 3, seed: int = 0, data=None):
    """`model` with its BatchNorm running statistics set by a few batches (a freshly
    initialised network's activations vanish and every image gets the same scores): of
    `data` (a float NCHW tensor) when given, else random; then its last Linear layer scaled
    so that logits spread (std ~2 over the batch: softmax scores that differ per image); eval."""
    from bucketscore.bundle.torch_runtime import torch_module

    torch = torch_module()
    torch.manual_seed(seed)
    batch = data if data is not None else torch.rand(8, channels, size, size) * 4 - 2
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.momentum = None  # a cumulative average: the statistics of `batch` exactly
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(batch)
        model.eval()
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        spread = float(model(batch).std())
        if spread > 0:
            last.weight.mul_(2.0 / spread)
            last.bias.mul_(2.0 / spread)
    return model


def save_program(model, example_shape: tuple, path: str, dynamic_batch: bool = True) -> str:
    """torch.export.save(torch.export.export(model, (example,))) with a dynamic batch."""
    from bucketscore.bundle.torch_runtime import torch_module

    torch = torch_module()

    example = torch.rand(*example_shape) if len(example_shape) else None
    shapes = ({0: torch.export.Dim("batch", max=1024)},) if dynamic_batch else None
    program = torch.export.export(model, (example,), dynamic_shapes=shapes)
    torch.export.save(program, path)
    return path


class DigitsNet:
    """A small CNN (1x28x28 floats in 0..1 -> (logits [N, 10], features [N, 32]))."""

    @staticmethod
    def build():
        from bucketscore.bundle.torch_runtime import torch_module

        torch = torch_module()
        nn = torch.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(1, 16, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Conv2d(16, 32, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Flatten(),
                    nn.Linear(32 * 7 * 7, 32),
                    nn.ReLU(),
                )
                self.head = nn.Linear(32, 10)

            def forward(self, x):
                features = self.body(x)
                return self.head(features), features

        torch.manual_seed(0)
        return Net()


def train_digits(pixels: np.ndarray, labels: np.ndarray, epochs: int = 15):
    """DigitsNet trained on uint8 [N, 28, 28, 1] images (what decode_image gives for the demo
    spec) and their integer labels; returns the model in eval mode."""
    from bucketscore.bundle.torch_runtime import torch_module

    torch = torch_module()

    model = DigitsNet.build()
    x = torch.from_numpy(pixels).float().permute(0, 3, 1, 2) / 255.0
    y = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for start in range(0, len(x), 64):
            opt.zero_grad()
            logits, _ = model(x[start : start + 64])
            torch.nn.functional.cross_entropy(logits, y[start : start + 64]).backward()
            opt.step()
    return model.eval()


def torchvision_program(
    arch: str, classes: int, size: int, program: str, inputs_npy: str, expected_npy: str
) -> None:
    """In a fresh interpreter (torchvision segfaults when imported after TensorFlow, which a
    test session has loaded): build torchvision `arch` with random, calibrated weights, save
    it as a torch.export program, and write its softmax over the NCHW float inputs saved in
    `inputs_npy` to `expected_npy` (a direct call of the model: the tests' expectation)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from bucketscore.bundle.torch_runtime import torch_module\n"
        "torch = torch_module()\nimport torchvision\n"
        "from tests.support.torch_models import calibrated, save_program\n"
        f"x = torch.from_numpy(np.load({inputs_npy!r}))\n"
        f"m = torchvision.models.{arch}(weights=None, num_classes={classes})\n"
        f"m = calibrated(m, {size}, data=x)\n"
        f"save_program(m, (2, 3, {size}, {size}), {program!r})\n"
        "with torch.no_grad():\n"
        f"    np.save({expected_npy!r}, torch.softmax(m(x), 1).numpy())\n"
    )
    from tests.support.helpers import REPO

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
