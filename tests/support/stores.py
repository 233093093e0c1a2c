"""One interface over the object stores the tests run against: S3 (SeaweedFS) and GCS
(the emulator), started by the fixtures in tests/conftest.py."""

from __future__ import annotations


class S3Store:
    scheme = "s3"

    def __init__(self, server):
        self.server = server
        self.client = server.boto3_client()
        self.flags = server.beam_options()

    def make_bucket(self, name):
        self.server.create_bucket(name)

    def put(self, bucket, key, data):
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def keys(self, bucket, prefix):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, bucket, key):
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()


class GCSStore:
    scheme = "gs"

    def __init__(self, server):
        self.client = server.client()
        self.flags = []

    def make_bucket(self, name):
        self.client.create_bucket(name)

    def put(self, bucket, key, data):
        self.client.bucket(bucket).blob(key).upload_from_string(data)

    def keys(self, bucket, prefix):
        return sorted(b.name for b in self.client.list_blobs(bucket, prefix=prefix))

    def get(self, bucket, key):
        return self.client.bucket(bucket).blob(key).download_as_bytes()
