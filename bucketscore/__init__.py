"""bucketscore: score buckets of images with an image classifier, in batch, on Apache Beam.

One import name, seven layers; each imports only from the layers above it in this list
(`tests/test_layers.py` parses every import and fails on anything else):

    bucketscore.errors, bucketscore.private_apis   pure helpers, no project imports
    bucketscore.storage        URIs, reading/writing/listing objects (local, s3://, gs://)
    bucketscore.run_folder     what a run folder is: names, schemas, accuracy formulas,
                               summary, manifest, report page, reading runs back (no Beam)
    bucketscore.bundle         a model bundle at run time: model.json, verification, image
                               preprocessing, label sources, predictors, devices, classify
    bucketscore.model_export   writing bundles: export, train, tune, ONNX conversion, demo
    bucketscore.transforms     the Beam stages of the scoring pipeline (never model_export)
    bucketscore.pipelines      a scoring run: options, plan, features, graph, running it
    bucketscore.cli            the `bucketscore` command

`bucketscore.results` (pandas over a run folder) uses only storage and run_folder;
`bucketscore.score(...)` (bucketscore.api) starts a run from Python, as the command does. Nothing
on the scoring path imports bucketscore.model_export, so a worker never needs the `train`
extra. The folders on disk are named as the packages (`storage/`, `bundle/`, `cli/`, ...);
`setup.py` maps each under this name.
"""

__version__ = "0.1.0"


def score(inputs, model, output, *, progress=False, **options):
    """Score `inputs` with the bundle `model` into `output/<run_id>/`, as `bucketscore score`
    does; `options`: any score or Beam option by name. Returns bucketscore.results.Run.
    (bucketscore/api.py; imported on first call: `import bucketscore` loads nothing heavy.)"""
    from bucketscore.api import score as run_score

    return run_score(inputs, model, output, progress=progress, **options)
