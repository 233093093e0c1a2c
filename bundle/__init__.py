"""A model bundle at run time: what scoring, `classify` and training read (no writing).

* `meta`: model.json (labels, input spec, backends, file digests, the version formula);
  `verified`: a bundle's files checked against their digests; `cache`: remote bundles
  fetched once per version on a machine;
* `images`: decode + orient + resize as model.json says; `label_sources`: where an image's
  true label comes from (folder, regex, CSV, manifest), for scoring and training alike;
* `predictor` (TensorFlow / ONNX Runtime), `onnx_runtime`, `devices` (CPU/GPU): loading a
  bundle to predict; `classify`: a few images through a bundle, no Beam.

Writing bundles (export, train, tune, ONNX conversion) is bucketscore.model_export, which
nothing on the scoring path imports (tests/test_layers.py).
"""
