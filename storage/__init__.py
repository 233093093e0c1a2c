"""URI helpers shared by the pipeline, the model bundle and the CLI.

Everything goes through Beam's `FileSystems`, so local paths, `s3://` and `gs://` behave the
same and pick up the same pipeline options (S3 endpoint, credentials) as the pipeline does.
"""
