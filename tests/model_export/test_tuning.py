"""`bucketscore tune`: a KerasTuner search over a 3-trial budget; the best trial exported."""

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


def test_tune_flags_are_checked(tmp_path, capsys):
    base = ["tune", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(base + ["--learning_rate", "1e-2:1e-3"]) == 2
    assert "low < high" in capsys.readouterr().err
    assert main(base + ["--batch_size", "0,16"]) == 2
    assert main(base + ["--fine_tune_layers", "0,10"]) == 1  # small_cnn has no backbone
    assert "transfer-learning" in capsys.readouterr().err
