"""`bucketscore classify`, the command: a few images answered without a pipeline, checked
against a direct call of the bundle's SavedModel (tests.support.helpers.direct_probabilities)
on the same bytes (the API behind it, bundle.classify: tests/bundle/test_classify.py).

Local files, S3 objects (SeaweedFS), standard input, a corrupt and a missing file, --json,
and the exit statuses. classify answers with ONNX Runtime by default (parity with the
SavedModel is checked at export to 1e-4), so its scores are compared within that; with
--backend tf they are the SavedModel's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bucketscore.cli.main import main
from tests.support.helpers import REPO, copy_demo_subset, direct_probabilities, write_file
from tests.support.storage_servers import unique_bucket_name

PARITY = 1e-4  # the ONNX export's parity tolerance against the SavedModel


@pytest.fixture(scope="module")
def images(demo_bundle, tmp_path_factory) -> dict[str, bytes]:
    """One demo digit per class: path -> bytes."""
    root = tmp_path_factory.mktemp("classify")
    rel = copy_demo_subset(demo_bundle.data, str(root), per_class=1)
    return {str(root / r): (root / r).read_bytes() for r in rel}


def check_answer(labels_scores, expected: np.ndarray, labels, k: int, atol: float):
    """The answer is the top-k of the direct probabilities: each score is its label's
    probability, best first, and no label left out is more probable than those shown."""
    shown = [lab for lab, _s in labels_scores]
    scores = [s for _l, s in labels_scores]
    assert len(shown) == k and len(set(shown)) == k
    assert scores == sorted(scores, reverse=True)
    for lab, score in labels_scores:
        assert abs(score - expected[labels.index(lab)]) <= atol, (lab, score)
    assert shown[0] == labels[int(np.argmax(expected))]
    rest = [expected[i] for i, lab in enumerate(labels) if lab not in shown]
    assert not rest or max(rest) <= min(scores) + atol


def parse_lines(text: str) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for line in text.strip().splitlines():
        uri, *pairs = line.split("\t")
        out[uri] = [(p.rsplit(" ", 1)[0], float(p.rsplit(" ", 1)[1])) for p in pairs]
    return out


def test_local_images_one_line_each(demo_bundle, images, capsys):
    labels = list(demo_bundle.meta.labels)
    paths = sorted(images)
    assert main(["classify", *paths, "--model", demo_bundle.model, "--top_k", "3"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    lines = printed.out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == paths  # input order, one line each
    expected = direct_probabilities(demo_bundle.model, images)
    answers = parse_lines(printed.out)
    for path in paths:
        check_answer(answers[path], expected[path], labels, 3, PARITY + 5e-5)  # 4 decimals
        assert answers[path][0][0] == os.path.basename(os.path.dirname(path))


def test_json_with_a_corrupt_and_a_missing_file(demo_bundle, images, tmp_path, capsys):
    labels = list(demo_bundle.meta.labels)
    corrupt = write_file(str(tmp_path / "corrupt.png"), b"\x89PNG\r\n\x1a\n not really")
    missing = str(tmp_path / "missing.jpg")
    good = sorted(images)[:3]
    argv = [
        "classify",
        good[0],
        corrupt,
        good[1],
        missing,
        good[2],
        "--model",
        demo_bundle.model,
        "--json",
        "--top_k",
        "10",
    ]
    assert main(argv) == 1  # answered, but some images failed
    printed = capsys.readouterr()
    doc = json.loads(printed.out)
    assert [d["uri"] for d in doc] == [good[0], corrupt, good[1], missing, good[2]]
    assert doc[1]["stage"] == "decode" and "not an image" in doc[1]["error"]
    assert doc[3]["stage"] == "read" and "no such file" in doc[3]["error"]
    assert "Traceback" not in printed.err
    expected = direct_probabilities(demo_bundle.model, {p: images[p] for p in good})
    for d in (doc[0], doc[2], doc[4]):
        assert set(d) == {"uri", "top_k_labels", "top_k_scores", "width", "height"}
        assert (d["width"], d["height"]) == (32, 32)  # the image's own size, not 28x28
        check_answer(
            list(zip(d["top_k_labels"], d["top_k_scores"])), expected[d["uri"]], labels, 10, PARITY
        )
        np.testing.assert_allclose(sum(d["top_k_scores"]), 1.0, atol=1e-5)


def test_tensorflow_backend_gives_the_saved_models_own_scores(demo_bundle, images, capsys):
    from bucketscore.bundle.predictor import top_k

    labels = list(demo_bundle.meta.labels)
    path = sorted(images)[4]
    assert (
        main(
            [
                "classify",
                path,
                "--model",
                demo_bundle.model,
                "--backend",
                "tf",
                "--json",
                "--top_k",
                "4",
            ]
        )
        == 0
    )
    (d,) = json.loads(capsys.readouterr().out)
    want_labels, want_scores = top_k(
        direct_probabilities(demo_bundle.model, {path: images[path]})[path], labels, 4
    )
    assert d["top_k_labels"] == want_labels
    np.testing.assert_allclose(d["top_k_scores"], want_scores, rtol=1e-6, atol=1e-9)


def test_stdin_in_a_process_that_loads_neither_beam_nor_tensorflow(demo_bundle, images, tmp_path):
    """`-` reads one image from standard input; a local image and a local bundle need no
    Beam filesystem and no TensorFlow (the ONNX backend): that is what keeps it fast."""
    labels = list(demo_bundle.meta.labels)
    first, second = sorted(images)[:2]
    code = (
        "import sys\nfrom bucketscore.cli.main import main\n"
        f"status = main(['classify', '-', {second!r}, '--model', {demo_bundle.model!r}])\n"
        "heavy = {'apache_beam', 'tensorflow', 'keras'} & {m.split('.')[0] "
        "for m in sys.modules}\n"
        "print('LOADED', sorted(heavy), file=sys.stderr)\nsys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=images[first],
        capture_output=True,
        cwd=str(tmp_path),
        timeout=120,
    )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "LOADED []" in err
    answers = parse_lines(done.stdout.decode())
    assert list(answers) == ["-", second]
    expected = direct_probabilities(demo_bundle.model, images)
    check_answer(answers["-"], expected[first], labels, 5, PARITY + 5e-5)
    check_answer(answers[second], expected[second], labels, 5, PARITY + 5e-5)


def test_images_and_bundle_in_s3(s3_server, demo_bundle, images, capsys):
    bucket = s3_server.create_bucket(unique_bucket_name("classify"))
    client = s3_server.boto3_client()
    for root, _dirs, files in os.walk(demo_bundle.model):
        for name in files:
            path = os.path.join(root, name)
            key = "models/digits/" + os.path.relpath(path, demo_bundle.model)
            client.put_object(Bucket=bucket, Key=key, Body=open(path, "rb").read())
    paths = sorted(images)[:3]
    uris = [f"s3://{bucket}/imgs/{i}-{os.path.basename(p)}" for i, p in enumerate(paths)]
    for uri, path in zip(uris, paths):
        client.put_object(Bucket=bucket, Key=uri.split("/", 3)[3], Body=images[path])
    missing = f"s3://{bucket}/imgs/not-there.png"
    endpoint, *other_flags = s3_server.beam_options()
    # Storage flags between the images, one written as `--flag value`: images after it
    # are still images.
    argv = [
        "classify",
        uris[0],
        missing,
        "--model",
        f"s3://{bucket}/models/digits",
        *other_flags,
        "--s3_endpoint_url",
        endpoint.split("=", 1)[1],
        uris[1],
        uris[2],
        "--json",
    ]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [d["uri"] for d in doc] == [uris[0], missing, uris[1], uris[2]]
    assert doc[1]["stage"] == "read" and "404" in doc[1]["error"]
    labels = list(demo_bundle.meta.labels)
    expected = direct_probabilities(demo_bundle.model, images)
    for d, path in zip([doc[0], doc[2], doc[3]], paths):
        check_answer(
            list(zip(d["top_k_labels"], d["top_k_scores"])), expected[path], labels, 5, PARITY
        )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["classify", "a.png", "--model", "{tmp}/no-bundle"], "no model bundle"),
        (["classify", "-", "-", "--model", "{model}"], "standard input"),
        (["classify", "a.png", "--model", "{model}", "--s3_endpont_url=x"], "unknown option"),
        (
            ["classify", "--s3_endpoint_url", "http://x", "a.png", "--model", "{model}"],
            "--flag=VALUE",
        ),
        (["classify", "a.png", "--model", "{model}", "--top_k", "0"], "at least 1"),
    ],
)
def test_wrong_commands_exit_2_with_one_line(demo_bundle, tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{model}", demo_bundle.model) for a in argv]
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors (bad --top_k)
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_a_modified_bundle_is_refused_with_exit_1(demo_bundle, images, tmp_path, capsys):
    import shutil

    copy = str(tmp_path / "bundle")
    shutil.copytree(demo_bundle.model, copy)
    with open(os.path.join(copy, "model.onnx"), "ab") as f:
        f.write(b"\0")
    assert main(["classify", sorted(images)[0], "--model", copy]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match its digest" in err[0]


def test_help_has_examples():
    out = subprocess.run(
        [sys.executable, "-m", "bucketscore.cli.main", "classify", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "examples:" in out.stdout and "bucketscore classify - --model" in out.stdout
