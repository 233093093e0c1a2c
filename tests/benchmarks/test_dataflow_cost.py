"""benchmarks/dataflow_cost.py: the README's cost table follows from the measured rates and
the prices, worked out here by hand for round figures."""

from __future__ import annotations

import json

import pytest

from benchmarks import dataflow_cost as dc

BENCH = {
    "machine": {"cores": 2},
    "started": "2026-12-01T00:00:00+00:00",
    "load_at_start": [0.2, 0.2, 0.2],
    "load_at_end": [1.9, 1.5, 1.0],
    "summary": [
        {
            "variant": "bucketscore-onnx",
            "source": "local",
            "steady_images_per_s": 250.0,
            "steady_cpu_ms_per_image": 7.0,
            "peak_rss_mb_N": 900.0,
        },
        {
            "variant": "bucketscore-onnx",
            "source": "s3",
            "steady_images_per_s": 200.0,
            "steady_cpu_ms_per_image": 8.0,
            "peak_rss_mb_N": 800.0,
        },
        {
            "variant": "stock",
            "source": "s3",
            "steady_images_per_s": 5.0,
            "steady_cpu_ms_per_image": 250.0,
        },
    ],
}
LISTING = {
    "rows": [
        {"store": "s3", "mode": "one", "n": 10_000, "keys_per_s": 9_000.0},
        {"store": "s3", "mode": "one", "n": 1_000_000, "keys_per_s": 20_000.0},
        {"store": "s3", "mode": "fanout", "n": 1_000_000, "keys_per_s": 50_000.0},
        {"store": "local", "mode": "one", "n": 1_000_000, "keys_per_s": 90_000.0},
    ]
}


def test_measured_takes_the_default_backend_from_s3_and_the_largest_listing():
    m = dc.measured(BENCH, LISTING)
    assert (m["backend"], m["source"]) == ("onnx", "s3")
    assert m["images_per_s_per_vcpu"] == 100.0
    assert m["process_rss_mb"] == 400.0
    assert (m["lister_keys_per_s"], m["lister_measured_at"]) == (20_000.0, 1_000_000)


def test_cost_of_a_million_images_worked_by_hand():
    m = dc.measured(BENCH, LISTING)
    r = dc.cost(1_000_000, 10, m)
    # 1e6 images / 100 per vCPU-s = 10,000 vCPU-s
    assert r["vcpu_hours"] == pytest.approx(10_000 / 3600)
    # 10 workers x 4 vCPUs = 40 vCPUs: 250 s
    assert r["wall_hours"] == pytest.approx(250 / 3600)
    worker_hours = 10 * 250 / 3600
    assert r["dataflow_usd"] == pytest.approx(
        10_000 / 3600 * 0.056 + worker_hours * 15 * 0.003557 + worker_hours * 50 * 0.000054
    )
    assert r["gcs_get_usd"] == pytest.approx(1_000_000 / 10_000 * 0.004)  # $0.40
    assert r["gcs_list_usd"] == pytest.approx(1_000 / 10_000 * 0.05)  # 1,000 pages
    assert r["total_usd"] == pytest.approx(r["dataflow_usd"] + 0.40 + 0.005)
    assert r["one_lister_hours"] == pytest.approx(50 / 3600)


def test_cli_prints_the_table_and_refuses_a_missing_bench(tmp_path, capsys):
    bench, listing = tmp_path / "b.json", tmp_path / "l.json"
    bench.write_text(json.dumps(BENCH))
    listing.write_text(json.dumps(LISTING))
    assert dc.main(["--bench", str(bench), "--listing", str(listing)]) == 0
    out = capsys.readouterr().out
    assert "| 1,000,000 | 10 (40) |" in out and "| 100,000,000 | 250 (1,000) |" in out
    with pytest.raises(SystemExit) as e:
        dc.main(["--bench", str(tmp_path / "none.json")])
    assert e.value.code == 2
    assert "run `make bench` first" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dc.main(["--bench", str(bench), "--images", "5", "--workers", "1", "2"])
