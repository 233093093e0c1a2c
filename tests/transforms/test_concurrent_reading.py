"""ConcurrentReadImageBytes: the same outputs, errors rows and order as ReadImageBytes, on a local
folder and on a real S3 server (SeaweedFS), with many reads in flight."""

import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from bucketscore.storage import uris
from bucketscore.transforms.concurrent_reading import ConcurrentReadImageBytes
from bucketscore.transforms.reading import ReadImageBytes
from bucketscore.transforms.records import ERRORS_TAG, ListedImage
from tests.support.storage_servers import LIMITED_BUCKET, unique_bucket_name


def _run(images, dofn, flags=()):
    """Call the DoFn directly, as a runner would: (ok [(uri, data)] in output order,
    errors [(uri, stage, error)]). Outputs must carry the global window."""
    uris.set_options(list(flags) or None)
    ok, errors = [], []

    def collect(outputs):
        for out in outputs or ():
            tag = None
            if isinstance(out, TaggedOutput):
                tag, out = out.tag, out.value
            if isinstance(out, WindowedValue):
                assert list(out.windows) == [GlobalWindow()]
                out = out.value
            if tag == ERRORS_TAG:
                errors.append((out.uri, out.stage, out.error))
            else:
                assert tag is None
                ok.append((out.image.uri, out.data))

    dofn = pickle.loads(pickle.dumps(dofn))  # as shipped to a worker
    dofn.setup()
    dofn.start_bundle()  # (ReadImageBytes has neither: DoFn's no-op defaults)
    takes_window = isinstance(dofn, ConcurrentReadImageBytes)
    for image in images:
        collect(
            dofn.process(image, GlobalWindow(), MIN_TIMESTAMP)
            if takes_window
            else dofn.process(image)
        )
    collect(dofn.finish_bundle())
    dofn.teardown()
    return ok, errors


def test_local_files_and_a_missing_one(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"abc")
    images = [
        ListedImage(str(tmp_path / "ok.png"), str(tmp_path)),
        ListedImage(str(tmp_path / "deleted since listing.png"), str(tmp_path)),
    ]
    ok, errors = _run(images, ConcurrentReadImageBytes())
    assert ok == [(str(tmp_path / "ok.png"), b"abc")]
    assert [(u, s) for u, s, _ in errors] == [(str(tmp_path / "deleted since listing.png"), "read")]
    # The same message as the one-at-a-time reader.
    _ok, reference = _run(images, ReadImageBytes())
    assert errors == reference


def test_s3_many_objects_in_flight_same_as_reference(s3_server):
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("concread")
    s3_server.create_bucket(bucket)
    names = [f"img/{i:03d}.jpg" for i in range(60)] + [
        "img/scan 2026 – naïve.png",
        "img/hash#and%25percent.PNG",
    ]
    for i, name in enumerate(names):
        client.put_object(Bucket=bucket, Key=name, Body=f"object {i} ".encode() * (i + 1))
    images = [
        ListedImage(f"s3://{bucket}/{n}", f"s3://{bucket}/", size=10 * (i + 1))
        for i, n in enumerate(names)
    ]
    images.insert(7, ListedImage(f"s3://{bucket}/img/gone.jpg", f"s3://{bucket}/", size=5))
    flags = s3_server.beam_options()
    uris.set_options(flags)
    # Few slots and a small byte budget: the pending queue fills and drains many times.
    ok, errors = _run(
        images, ConcurrentReadImageBytes(threads=4, max_in_flight=5, max_bytes_in_flight=100), flags
    )
    assert ok == [
        (f"s3://{bucket}/{n}", f"object {i} ".encode() * (i + 1)) for i, n in enumerate(names)
    ]  # all of them, in input order
    assert len(errors) == 1
    uri, stage, message = errors[0]
    assert (uri, stage) == (f"s3://{bucket}/img/gone.jpg", "read")
    assert message.startswith("not found (404")
    ref_ok, ref_errors = _run(images, ReadImageBytes(), flags)
    assert sorted(ref_ok) == sorted(ok)
    assert [(u, s) for u, s, _ in ref_errors] == [(uri, stage)]
    assert ref_errors[0][2].startswith("not found (404")


def test_s3_permission_denied_is_an_errors_row_and_not_retried(s3_server):
    client = s3_server.boto3_client()
    s3_server.create_bucket(LIMITED_BUCKET)
    client.put_object(Bucket=LIMITED_BUCKET, Key="images/ok/a.jpg", Body=b"fine")
    client.put_object(Bucket=LIMITED_BUCKET, Key="images/locked/b.jpg", Body=b"secret")
    flags = [
        f"--s3_endpoint_url={s3_server.endpoint_url}",
        f"--s3_access_key_id={s3_server.limited_access_key}",
        f"--s3_secret_access_key={s3_server.limited_secret_key}",
        f"--s3_region_name={s3_server.region}",
    ]
    uris.set_options(flags)
    base = f"s3://{LIMITED_BUCKET}/images/"
    images = [ListedImage(base + "ok/a.jpg", base), ListedImage(base + "locked/b.jpg", base)]
    try:
        ok, errors = _run(images, ConcurrentReadImageBytes(), flags)
    finally:
        uris.set_options(s3_server.beam_options())
    assert ok == [(base + "ok/a.jpg", b"fine")]
    assert [(u, s) for u, s, _ in errors] == [(base + "locked/b.jpg", "read")]
    assert "permission denied" in errors[0][2]


def test_in_a_pipeline_s3_and_local(s3_server, tmp_path):
    client = s3_server.boto3_client()
    bucket = unique_bucket_name("concpipe")
    s3_server.create_bucket(bucket)
    for i in range(20):
        client.put_object(Bucket=bucket, Key=f"p/{i}.jpg", Body=b"x" * i)
    (tmp_path / "local.png").write_bytes(b"here")
    images = [
        ListedImage(f"s3://{bucket}/p/{i}.jpg", f"s3://{bucket}/p/", size=i) for i in range(20)
    ]
    images += [
        ListedImage(str(tmp_path / "local.png"), str(tmp_path)),
        ListedImage(f"s3://{bucket}/p/missing.jpg", f"s3://{bucket}/p/"),
    ]
    flags = s3_server.beam_options()
    uris.set_options(flags)
    with TestPipeline(options=PipelineOptions(flags)) as p:
        out = (
            p
            | beam.Create(images)
            | beam.ParDo(ConcurrentReadImageBytes(threads=3, max_in_flight=4)).with_outputs(
                ERRORS_TAG, main="ok"
            )
        )
        assert_that(
            out.ok | "ok" >> beam.Map(lambda b: (b.image.uri, b.data)),
            equal_to(
                [(f"s3://{bucket}/p/{i}.jpg", b"x" * i) for i in range(20)]
                + [(str(tmp_path / "local.png"), b"here")]
            ),
            label="ok",
        )
        assert_that(
            out[ERRORS_TAG] | "errs" >> beam.Map(lambda e: (e.uri, e.stage)),
            equal_to([(f"s3://{bucket}/p/missing.jpg", "read")]),
            label="errors",
        )


def test_bad_arguments():
    with pytest.raises(ValueError):
        ConcurrentReadImageBytes(threads=0)
