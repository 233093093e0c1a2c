"""What test modules share, and the only place they import shared code from.

* `helpers`: images, reading a run's results back, independent expectations (a direct call
  of the model, scikit-learn's metrics over the written rows);
* `storage_servers`: SeaweedFS (S3) and the GCS emulator on 127.0.0.1, started by the
  fixtures in tests/conftest.py; `stores`: one interface over a local folder, S3 and GCS;
* `runners`, `job_service`, `sdk_boot`: Beam's portable runner (a job service and a pool of
  SDK workers);
* `models`: the demo bundle fixture (trained once per session); `shapes`: a small labelled
  image set for training tests; `onnx_models`: small ONNX graphs built in the tests;
* `torch_models`: torchvision architectures with random weights, a small CNN trained on
  scikit-learn's digits, programs saved with torch.export;
* `incremental`: a first --incremental run to build on; `run_history`: three real runs for
  `runs` and `compare`; `listing_trees`: trees and buckets to list, with each store's own
  listing; `report_rows`: prediction rows, summaries and real runs for the report tests;
* `browser`: headless Chromium.

A test module never imports another test module (tests/test_layers.py checks it).
"""
