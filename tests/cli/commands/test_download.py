"""`bucketscore download`: a run folder's CSV, JSON and HTML files (and `_SUCCESS`) copied to
DEST/<run_id>/ from a local folder and from S3 (SeaweedFS), each path printed; nothing else
copied; exit 1 when there is nothing to copy, exit 2 for a bucket the settings cannot reach.
"""

from __future__ import annotations

import os

from bucketscore.cli.main import main
from tests.support.helpers import write_file
from tests.support.storage_servers import unique_bucket_name

# A run folder as a run leaves it: what a person downloads, and what stays behind.
WANTED = {
    "_SUCCESS": b'{"run_id": "nov"}\n',
    "summary.json": b'{"counts": {}}\n',
    "manifest.json": b"{}\n",
    "errors.csv": b"uri,stage,error\n",
    "per_class.csv": b"label\n",
    "predictions-00000-of-00002.csv": b"uri\n/a.png\n",
    "predictions-00001-of-00002.csv": b"uri\n/b.png\n",
    "report.html": b"<!DOCTYPE html>",
}
LEFT = {
    "predictions-00000-of-00001.parquet": b"PAR1",
    "objects-00000-of-00001.parquet": b"PAR1",
    "beam-temp-predictions-1f2e/part.csv": b"half written",
    "notes.txt": b"not a result",
}


def _make_run(folder: str) -> None:
    for name, data in {**WANTED, **LEFT}.items():
        write_file(os.path.join(folder, name), data)


def _files_below(folder) -> dict[str, bytes]:
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_a_local_run_is_copied_to_dest_run_id(tmp_path, capsys):
    _make_run(str(tmp_path / "results" / "nov"))
    dest = tmp_path / "dl"
    capsys.readouterr()
    assert main(["download", str(tmp_path / "results" / "nov") + "/", str(dest)]) == 0
    assert _files_below(dest) == {os.path.join("nov", n): data for n, data in WANTED.items()}
    printed = capsys.readouterr().out.splitlines()
    assert sorted(printed) == sorted(str(dest / "nov" / n) for n in WANTED)


def test_dest_defaults_to_downloads_in_the_current_folder(tmp_path, monkeypatch, capsys):
    _make_run(str(tmp_path / "runs" / "nov"))
    monkeypatch.chdir(tmp_path / "runs")
    assert main(["download", "nov"]) == 0  # a relative run folder, no DEST
    assert sorted(_files_below(tmp_path / "runs" / "downloads" / "nov")) == sorted(WANTED)


def test_nothing_to_copy_is_exit_1(tmp_path, capsys):
    write_file(str(tmp_path / "run" / "predictions-0.parquet"), b"PAR1")
    capsys.readouterr()
    assert main(["download", str(tmp_path / "run"), str(tmp_path / "dl")]) == 1
    err = capsys.readouterr().err
    assert f"bucketscore download: no CSV or JSON files under {tmp_path / 'run'}" in err
    assert main(["download", str(tmp_path / "missing"), str(tmp_path / "dl")]) == 1
    assert not (tmp_path / "dl").exists() or _files_below(tmp_path / "dl") == {}


def test_an_s3_run_is_copied(s3_server, tmp_path, capsys):
    bucket = s3_server.create_bucket(unique_bucket_name("download"))
    client = s3_server.boto3_client()
    for name, data in {**WANTED, **LEFT}.items():
        client.put_object(Bucket=bucket, Key=f"results/nov/{name}", Body=data)
    client.put_object(Bucket=bucket, Key="results/nov-2/summary.json", Body=b"another run")
    dest = tmp_path / "dl"
    argv = ["download", f"s3://{bucket}/results/nov/", str(dest), *s3_server.beam_options()]
    assert main(argv) == 0
    assert _files_below(dest) == {os.path.join("nov", n): data for n, data in WANTED.items()}


def test_unknown_flags_and_unreachable_buckets_are_exit_2(s3_server, tmp_path, capsys):
    bucket = s3_server.create_bucket(unique_bucket_name("download"))
    run = f"s3://{bucket}/results/nov/"
    capsys.readouterr()
    assert main(["download", run, str(tmp_path / "dl"), "--s3_endpoint=http://x"]) == 2
    assert "unknown option(s): --s3_endpoint=http://x" in capsys.readouterr().err
    flags = [f for f in s3_server.beam_options() if not f.startswith("--s3_secret_access_key")]
    assert main(["download", run, str(tmp_path / "dl"), *flags, "--s3_secret_access_key=no"]) == 2
    err = capsys.readouterr().err
    assert f"bucketscore download: error: RUN_URI {run}: bucket {bucket}: wrong secret key" in err
    assert not (tmp_path / "dl").exists()
