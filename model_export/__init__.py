"""Models bucketscore scores with: the bundle format, image preprocessing, predictors, and
writing bundles (the demo, training, tuning, importing a user's model).

* `bundle`: model.json, digests, reading and verifying a bundle; `exporting`: the one path
  every bundle is written through (BundleBuilder); `serving` / `onnx_export`: its
  SavedModel and model.onnx;
* `images`: decode + orient + resize as model.json says (training and scoring both use it);
  `label_sources`: where true labels come from (folder, regex, CSV), for both too;
  `scaling`: input normalisation inside the model;
* `predictor` (TensorFlow / ONNX Runtime) and `devices` (CPU/GPU): loading a bundle to
  score;
* `training`, `tuning`, `architectures`, `datasets`, `training_reports`: `bucketscore
  train` and `tune`; `user_models`: `bucketscore export` (your own Keras/SavedModel);
  `digits_demo`: the demo model.
"""
