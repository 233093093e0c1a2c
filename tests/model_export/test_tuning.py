"""model_export.tuning, driven through `bucketscore tune`: a KerasTuner search over a 3-trial
budget; the best trial exported (the command's flag checks: tests/cli/commands/test_tune.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bucketscore.cli.main import main
from tests.support.shapes import write_shapes


@pytest.mark.parametrize("algorithm", ["bayesian"])
def test_tune_three_trials_exports_the_best(algorithm, gcs_server, tmp_path, capsys):
    """Data in a GCS bucket (emulator), the best model written back to it."""
    from bucketscore.storage import uris
    from tests.support.storage_servers import unique_bucket_name

    local = tmp_path / "shapes"
    write_shapes(str(local), 30, seed=5)
    bucket = gcs_server.client().bucket(gcs_server.create_bucket(unique_bucket_name("tune")))
    for path in local.rglob("*.png"):
        bucket.blob(f"data/{path.relative_to(local).as_posix()}").upload_from_string(
            path.read_bytes()
        )
    data, out = f"gs://{bucket.name}/data/", f"gs://{bucket.name}/models/tuned"
    status = main(
        [
            "tune",
            "--data",
            data,
            "--architecture",
            "small_cnn",
            "--height",
            "24",
            "--width",
            "24",
            "--trials",
            "3",
            "--algorithm",
            algorithm,
            "--learning_rate",
            "1e-3:1e-2",
            "--batch_size",
            "16,32",
            "--epochs",
            "3",
            "--dropout",
            "0.1,0.3",
            "--patience",
            "2",
            "--out",
            out,
        ]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert printed.out.count("trial ") >= 3
    meta = json.loads(uris.read_text(f"{out}/model.json"))
    rows = list(csv.DictReader(io.StringIO(uris.read_text(f"{out}/tuning/trials.csv"))))
    assert len(rows) == 3
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert {"learning_rate", "batch_size", "epochs", "dropout", "val_accuracy", "seconds"} <= set(
        rows[0]
    )
    for r in rows:
        assert 1e-3 <= float(r["learning_rate"]) <= 1e-2
        assert r["batch_size"] in ("16", "32") and r["dropout"] in ("0.1", "0.3")
    best = [r for r in rows if r["best"] == "True"]
    assert len(best) == 1
    assert float(best[0]["val_accuracy"]) == max(float(r["val_accuracy"]) for r in rows)
    tuning = meta["tuning"]
    assert tuning["algorithm"] == algorithm and tuning["trials"] == 3
    assert tuning["best_trial"] == int(best[0]["trial"])
    assert tuning["best_values"]["batch_size"] == int(best[0]["batch_size"])
    # The exported model is the best trial's: same validation accuracy.
    assert meta["metrics"]["validation_accuracy"] == pytest.approx(
        float(best[0]["val_accuracy"]), abs=1e-6
    )
    assert uris.read_bytes(f"{out}/tuning/trials.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"tuning/trials.csv", "tuning/trials.png", "training/curves.csv", "model.onnx"} <= set(
        meta["files"]
    )
    print(
        f"tune ({algorithm}, 3 trials): best val_accuracy {best[0]['val_accuracy']}, "
        f"test accuracy {meta['metrics']['test_accuracy']:.4f}, "
        f"search {meta['metrics']['tune_seconds']} s"
    )


def test_a_search_flag_is_a_value_a_list_or_a_range():
    from bucketscore.model_export.tuning import Param

    assert Param.parse("epochs", "10", integer=True) == Param("epochs", "fixed", (10,), True)
    assert Param.parse("epochs", "10,10", integer=True).kind == "fixed"
    choice = Param.parse("batch_size", "32, 16,32,64", integer=True)
    assert (choice.kind, choice.values) == ("choice", (32, 16, 64))  # repeats dropped, in order
    lr = Param.parse("learning_rate", "1e-4:1e-2", log=True)
    assert (lr.kind, lr.values, lr.log) == ("range", (1e-4, 1e-2), True)
    assert lr.describe() == "0.0001..0.01 (log)" and choice.describe() == "32,16,64"


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"learning_rate": "1e-2:1e-3"}, "low < high"),
        ({"learning_rate": "0:1e-2"}, "a log range must be positive"),
        ({"batch_size": "0,16"}, "--batch_size values must be at least 1"),
        ({"epochs": "ten"}, "expected a number, a list"),
        ({"epochs": ","}, "--epochs: no value given"),
        ({"dropout": "0.2:1"}, r"--dropout values must be in \[0, 1\)"),
        ({"fine_tune_layers": "-1,10"}, "--fine_tune_layers values must be >= 0"),
    ],
)
def test_search_space_refusals(flags, message):
    from bucketscore.model_export.training import TrainError
    from bucketscore.model_export.tuning import SearchSpace

    with pytest.raises(TrainError, match=message):
        SearchSpace.parse(**flags)


def test_the_default_search_space():
    from bucketscore.model_export.tuning import SearchSpace

    space = SearchSpace.parse()
    assert [p.name for p in space.params()] == ["learning_rate", "batch_size", "epochs", "dropout"]
    assert space.describe() == (
        "learning_rate 0.0001..0.01 (log); batch_size 16,32,64; epochs 10; dropout 0..0.5"
    )
    with_fine_tune = SearchSpace.parse(fine_tune_layers="0,20")
    assert with_fine_tune.params()[-1].values == (0, 20)
