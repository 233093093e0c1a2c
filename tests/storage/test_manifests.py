"""storage.manifests: the three formats, read in byte ranges (every line once, whatever the
cut), relative URIs, malformed lines; on local files and on SeaweedFS."""

import json
import random

import pytest

from bucketscore.storage import manifests, uris
from bucketscore.storage.manifests import ManifestError, byte_ranges, read_entries, sniff
from tests.support.storage_servers import unique_bucket_name

ENTRIES = [
    (f"s3://images/a/{i:03d}.png", f"label {i % 3}" if i % 4 else None) for i in range(300)
] + [("s3://other/x y,z.jpg", "comma, inside")]


def _text(kind: str) -> str:
    if kind == "jsonl":
        lines = [json.dumps({"uri": u, "label": lab} if lab else {"uri": u}) for u, lab in ENTRIES]
    elif kind == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["uri", "label", "notes"])
        for u, lab in ENTRIES:
            writer.writerow([u, lab or "", "ignored"])
        return "\ufeff" + out.getvalue().replace("\n", "\n\n", 3)  # BOM, blank lines
    else:
        lines = [u for u, _lab in ENTRIES]
    return "\n".join(lines) + "\n"


def _expected(kind: str):
    return [(u, lab if kind != "text" else None) for u, lab in ENTRIES]


def _read_all(uri, chunk):
    fmt = sniff(uri)
    size = len(uris.read_bytes(uri))
    got = []
    for start, end in byte_ranges(size, chunk):
        got += [(e.uri, e.label) for e in read_entries(uri, fmt, start, end)]
    return fmt, got


@pytest.mark.parametrize("kind", ["text", "csv", "jsonl"])
def test_every_line_once_whatever_the_ranges(tmp_path, kind):
    path = tmp_path / f"list.{kind}"
    path.write_text(_text(kind), encoding="utf-8")
    rng = random.Random(kind)
    for chunk in [1, 7, 64, 1000, rng.randrange(2, 500), 1 << 20]:
        fmt, got = _read_all(str(path), chunk)
        assert fmt.kind == kind
        assert got == _expected(kind), chunk


def test_byte_ranges_cover_the_file():
    assert byte_ranges(0) == [(0, 0)]
    assert byte_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_relative_entries_are_relative_to_the_manifest(tmp_path):
    (tmp_path / "lists").mkdir()
    path = tmp_path / "lists" / "m.txt"
    path.write_text("a/1.png\n../b/2.png\n/abs/3.png\ngs://b/4.png\n")
    got = [e.uri for e in read_entries(str(path), sniff(str(path)), 0, 1000)]
    assert got == [
        str(tmp_path / "lists" / "a" / "1.png"),
        str(tmp_path / "b" / "2.png"),
        "/abs/3.png",
        "gs://b/4.png",
    ]


def test_a_malformed_line_names_the_manifest_and_where(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"uri": "a.png"}\n{"url": "b.png"}\n')
    with pytest.raises(ManifestError) as e:
        list(read_entries(str(path), sniff(str(path)), 0, 1000))
    assert str(path) in str(e.value) and "byte 17" in str(e.value) and '"uri"' in str(e.value)


def test_manifest_uris():
    assert manifests.is_manifest("manifest:s3://b/m.txt")
    assert manifests.target("manifest:s3://b/m.txt") == "s3://b/m.txt"
    assert manifests.normalize("manifest:rel/m.txt").startswith("manifest:/")


def test_a_manifest_in_a_bucket_is_read_in_ranges(s3_server):
    bucket = unique_bucket_name("manifest")
    s3_server.create_bucket(bucket)
    s3_server.boto3_client().put_object(
        Bucket=bucket, Key="lists/m.csv", Body=_text("csv").encode()
    )
    uris.set_options(s3_server.beam_options())
    fmt, got = _read_all(f"s3://{bucket}/lists/m.csv", 997)
    assert fmt.kind == "csv" and got == _expected("csv")
