"""Objects by URI, shared by every layer: local paths, `s3://` and `gs://` behave the same.

* `uris`: read, write, list, copy, delete (through Beam's `FileSystems`, imported on first
  use, so the same pipeline options reach it: S3 endpoint, credentials, GCS project);
* `s3`: reads of s3:// objects with one client per process and one GET per object;
* `listing`: which image objects an input URI (prefix or glob) names;
* `errors`: which storage errors a retry can fix, retries with backoff, readable wording.
"""
