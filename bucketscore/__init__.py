"""bucketscore: score buckets of images with an image classifier, in batch, on Apache Beam.

One import name, five layers; each imports only from the layers above it in this list
(`tests/test_layers.py` parses every import and fails on anything else):

    bucketscore.errors, bucketscore.private_apis   pure helpers, no project imports
    bucketscore.storage        URIs, reading/writing/listing objects (local, s3://, gs://)
    bucketscore.run_folder     what a run folder is: names, schemas, accuracy formulas,
                               summary, manifest, report page, reading runs back (no Beam)
    bucketscore.model_export   the model bundle, image preprocessing, predictors, training
    bucketscore.transforms     the Beam stages of the scoring pipeline
    bucketscore.pipelines      the pipeline graph, the launcher, the command line

`bucketscore.results` (pandas over a run folder) sits beside pipelines and uses only
storage and run_folder. Only `infra/` and `benchmarks/` import `bucketscore.pipelines`
from outside the package. The folders on disk keep the project's layout (`storage/`,
`run_folder/`, `model_export/`, `transforms/`, `pipelines/`); `setup.py` maps each under
this name.
"""
__version__ = "0.1.0"
