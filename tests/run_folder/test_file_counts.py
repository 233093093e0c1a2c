"""run_folder.file_counts: rows counted in real files written by pyarrow and csv.writer (a
run folder's tables as the sinks write them), checked against the run's counts: files that
hold what the run counted pass; a short Parquet part, a cut Parquet file, a CSV that
disagrees with its Parquet twin, a short errors.csv, a short object index, a lost file each
give one line naming the file(s) and both counts; finish_run refuses `_SUCCESS` for them.
Then the same counting on S3 (SeaweedFS) and GCS (the emulator)."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bucketscore.run_folder import accuracy, file_counts
from bucketscore.run_folder.file_counts import Expected, FileCounts, verify_files
from bucketscore.run_folder.finish import RunFailed, RunInfo, finish_run
from bucketscore.run_folder.schemas import (
    ERROR_COLUMNS,
    OBJECTS_SCHEMA,
    PREDICTION_COLUMNS,
    PREDICTIONS_SCHEMA,
    csv_line,
    prediction_csv_line,
)
from bucketscore.storage import uris
from tests.support.storage_servers import unique_bucket_name

LABELS = ["cat", "dog"]


def _row(i: int, run_id: str = "r1") -> dict:
    return {
        "uri": f"/imgs/cat/{i}.png",
        "true_label": "cat",
        "predicted_label": "cat" if i % 3 else "dog",
        "confidence": 0.9,
        "correct": bool(i % 3),
        "top_k_labels": ["cat", "dog"],
        "top_k_scores": [0.9, 0.1],
        "below_threshold": False,
        "width": 8,
        "height": 8,
        "model_version": "v1",
        "run_id": run_id,
    }


def parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    return buf.getvalue()


def predictions_csv(rows: list[dict]) -> bytes:
    lines = [csv_line(PREDICTION_COLUMNS)] + [prediction_csv_line(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def errors_csv(errors: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ERROR_COLUMNS)
    writer.writerows(errors)
    return buf.getvalue().encode()


def objects(n: int) -> list[dict]:
    return [{"uri": f"/imgs/cat/{i}.png", "size": 100 + i, "mtime": 1.5} for i in range(n)]


def run_files(scored: int = 5, failed: int = 2, parts: int = 2) -> dict[str, bytes]:
    """{file name: bytes} of a run folder's tables as the sinks write them: predictions in
    `parts` parts (CSV and Parquet sharded apart, as Beam's two sinks may), errors.csv (one
    error message with a line break and a quote, as csv.writer quotes them), objects."""
    rows = [_row(i) for i in range(scored)]
    files = {}
    for k in range(parts):
        part = rows[k::parts]
        files[f"predictions-{k:05d}-of-{parts:05d}.parquet"] = parquet_bytes(
            part, PREDICTIONS_SCHEMA
        )
    files["predictions-00000-of-00001.csv"] = predictions_csv(rows)
    errs = [
        (f"/imgs/bad/{i}.png", "decode", 'cannot decode:\n"truncated", line 2')
        for i in range(failed)
    ]
    files["errors.csv"] = errors_csv(errs)
    files["objects-00000-of-00001.parquet"] = parquet_bytes(
        objects(scored + failed), OBJECTS_SCHEMA
    )
    return files


def write_run(folder, files: dict[str, bytes]) -> list[str]:
    """The files written under `folder`; their paths, as a sink's `written` names them."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = os.path.join(str(folder), name)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------
# Counting one file
# --------------------------------------------------------------------------------------
def test_parquet_rows_come_from_the_footer(tmp_path):
    path = tmp_path / "p.parquet"
    rows = [_row(i) for i in range(1000)]
    pq.write_table(pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA), path, row_group_size=70)
    assert file_counts.parquet_rows(str(path)) == 1000
    # A footer larger than the first read (many row groups) takes a second read.
    small = tmp_path / "many_groups.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA), small, row_group_size=2)
    assert pq.ParquetFile(small).metadata.serialized_size > file_counts.FOOTER_READ
    assert file_counts.parquet_rows(str(small)) == 1000


def test_only_the_footer_is_read(tmp_path, monkeypatch):
    path = tmp_path / "p.parquet"
    rows = [dict(_row(i), uri=f"/imgs/{os.urandom(24).hex()}.png") for i in range(20000)]
    pq.write_table(pa.Table.from_pylist(rows, PREDICTIONS_SCHEMA), path)
    reads = []
    real = file_counts.uris.read_tail
    monkeypatch.setattr(
        file_counts.uris, "read_tail", lambda uri, n: reads.append(n) or real(uri, n)
    )
    assert file_counts.parquet_rows(str(path)) == 20000
    assert os.path.getsize(path) > 10 * file_counts.FOOTER_READ
    assert reads == [file_counts.FOOTER_READ]


@pytest.mark.parametrize("cut", [1, 9, 5000])
def test_a_cut_parquet_file_is_no_parquet_file(tmp_path, cut):
    data = parquet_bytes([_row(i) for i in range(300)], PREDICTIONS_SCHEMA)
    path = tmp_path / "predictions-00000-of-00001.parquet"
    path.write_bytes(data[:-cut])
    with pytest.raises(file_counts.UnreadableFile, match=f"{path} is not a whole Parquet file"):
        file_counts.parquet_rows(str(path))


def test_csv_rows_count_records_not_line_breaks(tmp_path):
    path = tmp_path / "errors.csv"
    errs = [
        ("/a,b.png", "read", 'he said "no"\nand left'),
        ("/c\n.png", "decode", "x"),
        ("/d", "", ""),
    ]
    path.write_bytes(errors_csv(errs))
    assert path.read_bytes().count(b"\n") == 6
    assert file_counts.csv_rows(str(path)) == 3
    path.write_bytes(errors_csv(errs)[:-1])  # no line break after the last row
    assert file_counts.csv_rows(str(path)) == 3
    path.write_bytes(errors_csv([]))  # a header alone
    assert file_counts.csv_rows(str(path)) == 0
    path.write_bytes(b"")
    assert file_counts.csv_rows(str(path)) == 0


def test_csv_rows_across_chunks(tmp_path, monkeypatch):
    # A quoted cell cut by a chunk boundary: the quote state carries over.
    monkeypatch.setattr(file_counts, "CSV_CHUNK", 7)
    path = tmp_path / "errors.csv"
    errs = [(f"/x{i}.png", "read", f'line\none "{i}"\n') for i in range(50)]
    path.write_bytes(errors_csv(errs))
    assert file_counts.csv_rows(str(path)) == 50


def test_table_of_names():
    assert file_counts.table_of("/r/predictions-00000-of-00002.parquet") == (
        "predictions",
        "parquet",
    )
    assert file_counts.table_of("s3://b/r/predictions-carried-00001-of-00002.csv") == (
        "carried",
        "csv",
    )
    assert file_counts.table_of("gs://b/r/errors.csv") == ("errors", "csv")
    assert file_counts.table_of("/r/objects-00000-of-00001.parquet") == ("objects", "parquet")
    assert file_counts.table_of("/r/embeddings-00000-of-00001.parquet") == ("embeddings", "parquet")
    assert file_counts.table_of("/r/summary.json") is None


# --------------------------------------------------------------------------------------
# Verifying a run's files
# --------------------------------------------------------------------------------------
EXPECTED = Expected(listed=7, scored=5, failed=2)


def test_files_that_hold_the_counts_pass(tmp_path):
    written = write_run(tmp_path, run_files())
    found = verify_files(written, EXPECTED)
    assert found.problems == []
    assert found.summary() == {
        "predictions": {"rows": 5, "files": 3, "csv_rows": 5},
        "errors": {"rows": 2, "files": 1},
        "objects": {"rows": 7, "files": 1},
    }


def test_nothing_written_verifies_nothing():
    assert verify_files([], EXPECTED) == FileCounts()


def test_a_short_parquet_part_names_the_files_and_both_counts(tmp_path):
    files = run_files()
    rows = pq.read_table(io.BytesIO(files["predictions-00001-of-00002.parquet"])).to_pylist()
    files["predictions-00001-of-00002.parquet"] = parquet_bytes(rows[:-1], PREDICTIONS_SCHEMA)
    written = write_run(tmp_path, files)
    problems = verify_files(written, EXPECTED).problems
    part0, part1 = (tmp_path / f"predictions-0000{k}-of-00002.parquet" for k in (0, 1))
    assert problems == [
        f"predictions files hold 4 rows but 5 images were scored in this run "
        f"({part0}: 3, {part1}: 1)",
        f"predictions CSV files hold 5 rows but their Parquet twins 4 "
        f"({tmp_path / 'predictions-00000-of-00001.csv'}: 5; {part0}: 3, {part1}: 1)",
    ]


def test_a_csv_that_disagrees_with_its_parquet_twin(tmp_path):
    files = run_files()
    files["predictions-00000-of-00001.csv"] = predictions_csv([_row(i) for i in range(5)][1:])
    problems = verify_files(write_run(tmp_path, files), EXPECTED).problems
    assert len(problems) == 1
    assert problems[0].startswith("predictions CSV files hold 4 rows but their Parquet twins 5 (")
    assert f"{tmp_path / 'predictions-00000-of-00001.csv'}: 4;" in problems[0]


def test_a_cut_parquet_part_is_named(tmp_path):
    files = run_files()
    files["predictions-00000-of-00002.parquet"] = files["predictions-00000-of-00002.parquet"][:-100]
    problems = verify_files(write_run(tmp_path, files), EXPECTED).problems
    cut = tmp_path / "predictions-00000-of-00002.parquet"
    assert problems[0] == f"{cut} is not a whole Parquet file (no footer at its end)"


def test_short_errors_and_object_index(tmp_path):
    files = run_files()
    files["errors.csv"] = errors_csv([("/imgs/bad/0.png", "read", "gone")])
    files["objects-00000-of-00001.parquet"] = parquet_bytes(objects(6), OBJECTS_SCHEMA)
    problems = verify_files(write_run(tmp_path, files), Expected(7, 5, 1, missing=1)).problems
    assert problems == [
        f"errors files hold 1 rows but 1 images failed + 1 labels-CSV rows name no image "
        f"({tmp_path / 'errors.csv'}: 1)",
        f"objects files hold 6 rows but 7 images were listed "
        f"({tmp_path / 'objects-00000-of-00001.parquet'}: 6)",
    ]


def test_carried_rows_are_counted_apart(tmp_path):
    files = run_files(scored=3, failed=0, parts=1)
    carried = [_row(10 + i, run_id="r0") for i in range(4)]
    files["predictions-carried-00000-of-00001.parquet"] = parquet_bytes(carried, PREDICTIONS_SCHEMA)
    files["predictions-carried-00000-of-00001.csv"] = predictions_csv(carried)
    files["objects-00000-of-00001.parquet"] = parquet_bytes(objects(7), OBJECTS_SCHEMA)
    written = write_run(tmp_path, files)
    # scored counts every row, carried ones included (run_folder.summary.build_summary).
    found = verify_files(written, Expected(listed=7, scored=7, failed=0, carried=4))
    assert found.problems == []
    assert found.summary()["carried"] == {"rows": 4, "files": 2, "csv_rows": 4}
    problems = verify_files(written, Expected(listed=7, scored=8, failed=0, carried=5)).problems
    assert problems == [
        f"carried files hold 4 rows but 5 rows were carried over "
        f"({tmp_path / 'predictions-carried-00000-of-00001.parquet'}: 4)"
    ]


def test_a_lost_file_and_a_table_never_written(tmp_path):
    written = write_run(tmp_path, run_files())
    os.remove(tmp_path / "errors.csv")
    lost = [w for w in written if not w.endswith("objects-00000-of-00001.parquet")]
    problems = verify_files(lost, EXPECTED).problems
    assert problems == [
        f"{tmp_path / 'errors.csv'} was written by its sink but is not there",
        "no objects file was written",
    ]


# --------------------------------------------------------------------------------------
# finish_run: no _SUCCESS for files that do not hold the counts
# --------------------------------------------------------------------------------------
def _finish(run, written: list[str], listed=7, scored=5, failed=2) -> dict:
    acc = accuracy.new_accumulator()
    for i in range(scored):
        acc = accuracy.add_row(acc, _row(i))
    info = RunInfo(
        run_uri=str(run),
        run_id="r1",
        model_uri="/m",
        model_version="v1",
        model_name="m",
        labels=LABELS,
        top_k=2,
        arguments={"input": ["/imgs/"], "labels": "folder"},
        code_version="test",
        started_at="2026-12-02T00:00:00+00:00",
    )
    scores = accuracy.summarise(acc, LABELS)
    return finish_run(info, scores, listed, failed, missing=0, carried=0, written=written)


def test_finish_run_records_the_counts_it_verified(tmp_path):
    run = tmp_path / "r1"
    summary = _finish(run, write_run(run, run_files()))
    assert (run / "_SUCCESS").exists()
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["verified_files"] == summary["verified_files"]
    assert on_disk["verified_files"]["predictions"] == {"rows": 5, "files": 3, "csv_rows": 5}


def test_finish_run_refuses_success_for_a_parquet_part_rewritten_short(tmp_path):
    # The pipeline ended with whole files; a part lost rows before the finishing step.
    run = tmp_path / "r1"
    written = write_run(run, run_files())
    part = run / "predictions-00000-of-00002.parquet"
    rows = pq.read_table(part).to_pylist()
    pq.write_table(pa.Table.from_pylist(rows[:1], schema=PREDICTIONS_SCHEMA), part)
    with pytest.raises(RunFailed) as e:
        _finish(run, written)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(
        "bucketscore run failed: the files do not hold what the run counted: predictions "
        "files hold 3 rows but 5 images were scored in this run ("
    )
    assert f"{part}: 1" in message
    assert not (run / "_SUCCESS").exists() and not (run / "summary.json").exists()


# --------------------------------------------------------------------------------------
# Remote stores: footers by ranged reads, CSV streamed
# --------------------------------------------------------------------------------------
def _upload_and_verify(put, base: str) -> list[str]:
    files = run_files()
    files["errors.csv"] = errors_csv([("/imgs/bad/0.png", "read", "gone")])  # 1, not 2
    for name, data in files.items():
        put(name, data)
    return verify_files([f"{base}/{name}" for name in files], EXPECTED).problems


def test_counting_on_s3(s3_server):
    bucket = s3_server.create_bucket(unique_bucket_name("counts"))
    uris.set_options(s3_server.beam_options())
    client = s3_server.boto3_client()
    problems = _upload_and_verify(
        lambda name, data: client.put_object(Bucket=bucket, Key=f"r/{name}", Body=data),
        f"s3://{bucket}/r",
    )
    assert problems == [
        f"errors files hold 1 rows but 2 images failed + 0 labels-CSV rows name no image "
        f"(s3://{bucket}/r/errors.csv: 1)"
    ]
    lost = verify_files([f"s3://{bucket}/r/objects-00000-of-00009.parquet"], EXPECTED).problems
    gone = f"s3://{bucket}/r/objects-00000-of-00009.parquet"
    assert lost[0] == f"{gone} was written by its sink but is not there"


def test_counting_on_gcs(gcs_server):
    bucket = gcs_server.create_bucket(unique_bucket_name("counts"))
    blobs = gcs_server.client().bucket(bucket)
    problems = _upload_and_verify(
        lambda name, data: blobs.blob(f"r/{name}").upload_from_string(data), f"gs://{bucket}/r"
    )
    assert problems == [
        f"errors files hold 1 rows but 2 images failed + 0 labels-CSV rows name no image "
        f"(gs://{bucket}/r/errors.csv: 1)"
    ]
