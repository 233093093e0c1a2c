"""pipelines.redaction: which flags are secret, their values replaced by *** (both flag
forms), the secret values a command line or the environment holds, and the command line
the Makefile echoes."""

from __future__ import annotations

import pytest

from bucketscore.pipelines.redaction import (
    is_secret_flag,
    main,
    redact_flags,
    redacted_command_line,
    scrub,
    secret_values,
)


def test_redacted_command_line():
    line = redacted_command_line(
        [
            "bucketscore",
            "score",
            "--input",
            "s3://b/x y/",
            "--s3_secret_access_key",
            "abcdefgh",
            "--s3_session_token=tok123456",
            "--top_k",
            "3",
        ],
        environ={},
    )
    assert line == (
        "bucketscore score --input 's3://b/x y/' --s3_secret_access_key '***' "
        "'--s3_session_token=***' --top_k 3"
    )
    # A secret held by the environment is scrubbed wherever it shows up.
    assert (
        redacted_command_line(
            ["--note", "keyABCDEF"], environ={"AWS_SECRET_ACCESS_KEY": "keyABCDEF"}
        )
        == "--note ***"
    )


@pytest.mark.parametrize(
    "name",
    [
        "--s3_secret_access_key",
        "--s3_access_key_id",
        "--s3_session_token",
        "--dataflow_service_options_api_key",
        "--DB_PASSWORD",
        "--private_key_file",
        "--service_account_credential",
    ],
)
def test_secret_looking_flags(name):
    assert is_secret_flag(name)


@pytest.mark.parametrize("name", ["--input", "--s3_endpoint_url", "--project", "--top_k", "--key"])
def test_ordinary_flags(name):
    assert not is_secret_flag(name)


def test_redact_flags_in_both_forms_and_nothing_else():
    flags = [
        "--s3_endpoint_url",
        "http://127.0.0.1:8333",
        "--s3_access_key_id",
        "AKIAEXAMPLE",
        "--s3_secret_access_key=wJalrXUtnFEMI",
        "--region",
        "us-east-1",
        "--s3_session_token",
    ]
    assert redact_flags(flags) == [
        "--s3_endpoint_url",
        "http://127.0.0.1:8333",
        "--s3_access_key_id",
        "***",
        "--s3_secret_access_key=***",
        "--region",
        "us-east-1",
        "--s3_session_token",  # last, with no value: nothing to hide
    ]
    assert flags[3] == "AKIAEXAMPLE"  # the caller's list is left as it was


def test_secret_values_from_flags_and_environment_longest_first():
    flags = ["--s3_secret_access_key", "abcdefgh", "--api_key=abcdefghijkl", "--top_k", "123456"]
    environ = {"AWS_SESSION_TOKEN": "token-from-env", "HOME": "/home/someone-long"}
    assert secret_values(flags, environ) == ["token-from-env", "abcdefghijkl", "abcdefgh"]
    # Values under 6 characters would blank out ordinary words: not secrets here.
    assert secret_values(["--password", "abc"], {}) == []
    # Longest first: a secret that contains another is replaced whole.
    text = "key abcdefghijkl and abcdefgh"
    assert scrub(text, secret_values(flags, {})) == "key *** and ***"


def test_scrub_replaces_every_occurrence():
    assert scrub("s3cr3tvalue in s3cr3tvalue/x", ["s3cr3tvalue"]) == "*** in ***/x"
    assert scrub("nothing here", ["s3cr3tvalue"]) == "nothing here"


def test_main_prints_the_redacted_command_line(capsys, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    assert main(["bucketscore", "download", "--s3_secret_access_key=verysecret", "s3://b/r/"]) == 0
    assert capsys.readouterr().out == (
        "bucketscore download '--s3_secret_access_key=***' s3://b/r/\n"
    )
