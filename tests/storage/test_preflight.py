"""storage.preflight called directly: which paths are in an accepted form, the order of the
checks (forms, then local paths, then one request per bucket location), what a missing object
or an empty prefix says, and what it lets through; against SeaweedFS and the GCS emulator.
The same refusals through the `bucketscore` command are in tests/end_to_end/test_preflight.py.
"""

from __future__ import annotations

import argparse

import pytest

from bucketscore.errors import UsageError
from bucketscore.storage import preflight
from bucketscore.storage.preflight import Target, check_targets, form_error, s3_settings
from tests.support.storage_servers import unique_bucket_name


@pytest.fixture(scope="module")
def filled_bucket(s3_server):
    """A bucket with one image under in/ and a model folder; nothing under out/ or empty/."""
    bucket = s3_server.create_bucket(unique_bucket_name("preflight-unit"))
    client = s3_server.boto3_client()
    client.put_object(Bucket=bucket, Key="in/7/a.png", Body=b"not really a png")
    client.put_object(Bucket=bucket, Key="model/model.json", Body=b"{}")
    return bucket


def _flags(server, secret=None) -> list[str]:
    flags = server.beam_options()
    if secret:
        flags = [f for f in flags if not f.startswith("--s3_secret_access_key=")]
        flags.append(f"--s3_secret_access_key={secret}")
    return flags


def _check_score(inputs, output="out", model="m", labels="folder", allow_empty=False, beam_args=()):
    """What `score` checks of its paths before anything runs (the plan's preflight)."""
    from bucketscore.pipelines.options import add_score_arguments, config_from_args
    from bucketscore.pipelines.plan import score_targets

    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    argv = ["--input", *inputs, "--output", output, "--model", model, "--labels", labels]
    args, _ = parser.parse_known_args(argv + (["--allow_empty"] if allow_empty else []))
    config = config_from_args(args, list(beam_args))
    preflight.check_targets(score_targets(config), list(beam_args))


# --------------------------------------------------------------------------------------
# form_error
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri,expected",
    [
        ("s3:/typo/x/", "not a local path or a bucket URI (did you mean s3://typo/x/?)"),
        ("S3://b/x/", "not a local path or a bucket URI (did you mean s3://b/x/?)"),
        ("gs:b/results/", "not a local path or a bucket URI (did you mean gs://b/results/?)"),
        ("ftp://host/x/", "not a local path or a bucket URI"),
        ("http://example.com/images/", "not a local path or a bucket URI"),
        ("file:///models/o", "not a local path or a bucket URI"),
        ("s3:///no-bucket/m", "no bucket name"),
        ("gs://", "no bucket name"),
    ],
)
def test_form_error_names_the_problem_and_the_accepted_forms(uri, expected):
    problem = form_error(uri)
    assert problem == f"{expected}; use a local path, s3://bucket/prefix or gs://bucket/prefix"


@pytest.mark.parametrize(
    "uri", ["s3://b", "s3://b/x/", "gs://b/p/*.png", "C:/data/images", "relative/folder/", "/abs"]
)
def test_form_error_accepts_paths_and_bucket_uris(uri):
    assert form_error(uri) is None


# --------------------------------------------------------------------------------------
# check_targets: forms and local paths (no storage request)
# --------------------------------------------------------------------------------------
def test_forms_are_checked_before_any_local_path(tmp_path):
    """A missing local input listed first still loses to a malformed URI listed after it."""
    targets = [Target("--input", str(tmp_path / "missing"), must_exist=True)]
    targets.append(Target("--output", "S3://b/out/"))
    with pytest.raises(UsageError, match=r"^--output S3://b/out/: not a local path"):
        check_targets(targets, [])
    with pytest.raises(UsageError, match=r"no such file or folder$"):
        check_targets(targets[:1], [])


def test_local_paths_must_exist_only_when_asked(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    check_targets(
        [
            Target("--input", str(image), must_exist=True),  # a single file is fine
            Target("--output", str(tmp_path / "new" / "out")),  # made later: fine
            Target("--model", ""),  # an empty value is no path: left out
        ],
        [],
    )
    with pytest.raises(UsageError) as e:
        check_targets([Target("RUN_A", str(tmp_path / "gone"), must_exist=True)], [])
    assert str(e.value) == f"RUN_A {tmp_path / 'gone'}: no such file or folder"
    # `shown` is how the value was typed (a manifest: prefix, say), used in the message.
    with pytest.raises(UsageError, match=r"^--input manifest:/x/m\.txt: no such file"):
        check_targets(
            [Target("--input", "/x/m.txt", must_exist=True, shown="manifest:/x/m.txt")], []
        )


def test_a_local_glob_needs_its_base_folder(tmp_path):
    (tmp_path / "pets").mkdir()
    check_targets([Target("--input", str(tmp_path / "pets" / "*.png"), must_exist=True)], [])
    with pytest.raises(UsageError, match="no such file or folder"):
        check_targets([Target("--input", str(tmp_path / "gone" / "*.png"), must_exist=True)], [])


def test_what_preflight_lets_through(tmp_path):
    """A single image file, a glob under an existing folder, a Windows-looking drive letter
    and local outputs that do not exist yet are all fine."""
    image = tmp_path / "cat_pic_0.jpg"
    image.write_bytes(b"jpeg")
    (tmp_path / "pets").mkdir()
    _check_score([str(image)], str(tmp_path / "new"))
    _check_score([str(tmp_path / "pets" / "*.png")], str(tmp_path / "out"))
    assert preflight.form_error("C:/data/images") is None
    assert preflight.form_error("relative/folder/") is None
    with pytest.raises(UsageError, match="no such file or folder"):  # glob base missing
        _check_score([str(tmp_path / "gone" / "*.png")], str(tmp_path / "out"))
    with pytest.raises(UsageError, match="--labels csv:s3:/b/l.csv: not a local path"):
        _check_score([str(image)], str(tmp_path / "out"), labels="csv:s3:/b/l.csv")


# --------------------------------------------------------------------------------------
# check_targets: buckets (one listing request per location)
# --------------------------------------------------------------------------------------
def test_bucket_targets_that_hold_what_they_must_pass(s3_server, filled_bucket):
    b = filled_bucket
    check_targets(
        [
            Target("--input", f"s3://{b}/in/", must_exist=True),
            Target("--input", f"s3://{b}/in/7/*.png", must_exist=True),  # a glob: its base
            Target("--model", f"s3://{b}/model/model.json", must_exist=True, exact=True),
            Target("--output", f"s3://{b}/out/"),  # need not hold anything
        ],
        _flags(s3_server),
    )


def test_an_exact_target_must_be_that_very_object(s3_server, filled_bucket):
    b = filled_bucket
    # model/ holds model.json, so a prefix target passes, but no object is named model/m.
    target = Target("--keras", f"s3://{b}/model/m", must_exist=True, exact=True)
    with pytest.raises(UsageError) as e:
        check_targets([target], _flags(s3_server))
    assert str(e.value) == f"--keras s3://{b}/model/m: no such object in bucket {b}"


def test_an_empty_prefix_is_nothing_there_with_a_hint_only_for_inputs(s3_server, filled_bucket):
    b = filled_bucket
    with pytest.raises(UsageError) as e:
        check_targets([Target("--input", f"s3://{b}/empty/", must_exist=True)], _flags(s3_server))
    assert str(e.value) == (
        f"--input s3://{b}/empty/: nothing there (no object at or below it in bucket {b}; "
        f"--allow_empty accepts an empty input)"
    )
    with pytest.raises(UsageError) as e:
        check_targets([Target("--data", f"s3://{b}/empty/", must_exist=True)], _flags(s3_server))
    assert str(e.value).endswith(f"in bucket {b})")
    # Not asked to exist: an empty prefix is a fine place to write to.
    check_targets([Target("--output", f"s3://{b}/empty/")], _flags(s3_server))


def test_an_empty_input_prefix_passes_with_allow_empty(s3_server, filled_bucket):
    _check_score(
        [f"s3://{filled_bucket}/empty/"],
        f"s3://{filled_bucket}/out/",
        allow_empty=True,
        beam_args=_flags(s3_server),
    )  # no error


def test_a_bucket_refusal_names_the_flag_the_bucket_and_the_cause(s3_server, filled_bucket):
    b = filled_bucket
    targets = [Target("--output", f"s3://{b}/out/")]
    with pytest.raises(UsageError) as e:
        check_targets(targets, _flags(s3_server, secret="wrong-secret-value-123"))
    assert str(e.value) == (
        f"--output s3://{b}/out/: bucket {b}: wrong secret key (SignatureDoesNotMatch): "
        f"check --s3_secret_access_key or AWS_SECRET_ACCESS_KEY"
    )
    missing = unique_bucket_name("not-there")
    with pytest.raises(UsageError) as e:
        check_targets([Target("--input", f"s3://{missing}/in/")], _flags(s3_server))
    assert str(e.value) == (
        f"--input s3://{missing}/in/: bucket {missing}: no such bucket (NoSuchBucket)"
    )


def test_gcs_bucket_that_exists_passes(gcs_server):
    bucket = gcs_server.create_bucket(unique_bucket_name("there"))
    gcs_server.client().bucket(bucket).blob("in/a.png").upload_from_string(b"png")
    _check_score([f"gs://{bucket}/in/"], f"gs://{bucket}/out/", f"gs://{bucket}/model")


def test_a_missing_gcs_bucket_is_refused(gcs_server):
    missing = unique_bucket_name("gone")
    with pytest.raises(UsageError) as e:
        check_targets([Target("--output", f"gs://{missing}/out/")], [])
    assert str(e.value) == f"--output gs://{missing}/out/: bucket {missing}: no such bucket (404)"


# --------------------------------------------------------------------------------------
# s3_settings
# --------------------------------------------------------------------------------------
def test_s3_settings_are_the_s3_flags_by_name():
    settings = s3_settings(
        [
            "--s3_endpoint_url=http://127.0.0.1:9",
            "--s3_access_key_id=k",
            "--s3_disable_ssl",
            "--project=p",
            "--runner=DirectRunner",
        ]
    )
    assert settings["s3_endpoint_url"] == "http://127.0.0.1:9"
    assert settings["s3_access_key_id"] == "k"
    assert settings["s3_disable_ssl"] is True
    assert settings["s3_secret_access_key"] is None  # unset: boto3's own rules then
    assert all(name.startswith("s3_") for name in settings)
    assert "project" not in settings and "runner" not in settings
