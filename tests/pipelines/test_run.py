"""pipelines.run: run(plan) on tiny demo runs. The run folder is cleared first (a re-used run
id replaces it; a folder that is no run is refused), a tampered bundle fails before anything
is written, a local run the command waits for gets its final Beam counters in summary.json
and exactly one `_SUCCESS` written after everything else, and a failed pipeline leaves no
beam-temp folders behind."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from bucketscore.bundle.meta import BundleError
from bucketscore.errors import UsageError
from bucketscore.pipelines.options import ScoreConfig
from bucketscore.pipelines.plan import plan
from bucketscore.pipelines.run import run
from bucketscore.storage import uris
from tests.support.helpers import copy_demo_subset, read_local_run


def files_under(path) -> dict[str, bytes]:
    out = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


@pytest.fixture
def images(demo_bundle, tmp_path):
    folder = tmp_path / "images"
    copy_demo_subset(demo_bundle.data, str(folder), per_class=1)  # 10 images
    return folder


def plan_of(images, model, out, **options):
    config = ScoreConfig(inputs=(str(images),), model=model, output=str(out), run_id="r", **options)
    return plan(config)


def test_a_local_run_gets_its_counters_then_one_success(demo_bundle, images, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_plan = plan_of(images, demo_bundle.model, out)
    assert run_plan.completes_after_run  # local, and the command waits
    # Every object bucketscore itself writes (not Beam's sinks), in order: the real write,
    # wrapped to record its target (the small run is done in this process).
    written = []
    real_write = uris.write_bytes

    def recording_write(uri, data, *args, **kwargs):
        written.append(os.path.relpath(uri, out))
        return real_write(uri, data, *args, **kwargs)

    monkeypatch.setattr(uris, "write_bytes", recording_write)
    score_run = run(run_plan)
    monkeypatch.undo()

    assert not score_run.submitted_only and score_run.template is None
    in_run = [w for w in written if w.startswith("r/")]
    assert in_run.count("r/_SUCCESS") == 1
    assert in_run[-1] == "r/_SUCCESS"
    # summary.json was written twice: by the pipeline's last step, then with the counters
    assert in_run.count("r/summary.json") == 2
    assert written[-1] == f"_state/{demo_bundle.meta.version}.json"  # after _SUCCESS

    run_dir = out / "r"
    summary = json.loads((run_dir / "summary.json").read_text())
    counters = summary["beam_counters"]
    assert counters["listed"] == counters["scored"] == counters["read"] == 10
    assert summary["counts"]["listed"] == summary["counts"]["scored"] == 10
    assert score_run.summary() == summary
    # _SUCCESS is the newest file of the run folder, and the only one of its name
    mtimes = {
        os.path.join(r, n): os.stat(os.path.join(r, n)).st_mtime_ns
        for r, _d, names in os.walk(run_dir)
        for n in names
    }
    success = str(run_dir / "_SUCCESS")
    assert [p for p in mtimes if os.path.basename(p) == "_SUCCESS"] == [success]
    assert mtimes[success] == max(mtimes.values())
    assert json.loads((run_dir / "_SUCCESS").read_text())["run_id"] == "r"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"


def test_a_reused_run_id_replaces_the_folder(demo_bundle, images, tmp_path):
    out = tmp_path / "out"
    old = out / "r"
    old.mkdir(parents=True)
    (old / "predictions-00099-of-00100.csv").write_text("uri,true_label\n/gone.png,1\n")
    (old / "_SUCCESS").write_text("{}\n")
    (old / "beam-temp-predictions-1").mkdir()
    run(plan_of(images, demo_bundle.model, out))
    names = sorted(os.listdir(old))
    assert "predictions-00099-of-00100.csv" not in names
    assert not [n for n in names if n.startswith("beam-temp")]
    rows = read_local_run(str(old))["predictions"]
    assert sorted(r["uri"] for r in rows) == sorted(
        str(images / d / n) for d in os.listdir(images) for n in os.listdir(images / d)
    )


def test_a_folder_that_is_no_run_is_never_cleared(demo_bundle, images, tmp_path):
    out = tmp_path / "out"
    (out / "r").mkdir(parents=True)
    (out / "r" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not a bucketscore run folder"):
        run(plan_of(images, demo_bundle.model, out))
    assert files_under(out) == {"r/notes.txt": b"mine"}


def test_a_tampered_bundle_fails_before_anything_is_written(demo_bundle, images, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(demo_bundle.model, bundle)
    out = tmp_path / "out"
    run(plan_of(images, str(bundle), out))  # a complete run to be replaced
    before = files_under(out)
    assert "r/_SUCCESS" in before

    run_plan = plan_of(images, str(bundle), out)  # planned with the bundle intact...
    meta = json.loads((bundle / "model.json").read_text())
    victim = next(rel for rel in sorted(meta["files"]) if rel != "model.json")
    with open(bundle / victim, "ab") as f:
        f.write(b"\0")  # ...modified before it runs
    with pytest.raises(BundleError, match=f"{victim} does not match its digest"):
        run(run_plan)
    assert files_under(out) == before  # the earlier run is untouched: nothing was cleared


@pytest.mark.parametrize("executor", ["beam", "inline"])
def test_a_failed_run_leaves_no_temporary_or_half_written_tables(
    demo_bundle, images, tmp_path, executor
):
    # A bundle whose model.json misstates the embeddings' size (its version still checks
    # out: model.json is not one of its digested files): the embeddings sink fails while
    # writing, when every Beam sink has made its beam-temp folder (in process: when every
    # table is open).
    bundle = tmp_path / "bundle"
    shutil.copytree(demo_bundle.model, bundle)
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["embedding_dim"] != 3
    meta["embedding_dim"] = 3
    (bundle / "model.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    with pytest.raises(Exception, match="WriteEmbeddings" if executor == "beam" else "of size"):
        run(plan_of(images, str(bundle), out, embeddings=True, executor=executor))
    left = os.listdir(out / "r")
    assert not [n for n in left if n.startswith("beam-temp")], left
    assert "_SUCCESS" not in left
    if executor == "inline":
        assert not [n for n in left if n.endswith((".csv", ".parquet"))], left


def test_the_root_logger_drops_runinferences_memory_warning_only():
    import logging

    from bucketscore.pipelines.run import _NotNews

    assert any(isinstance(f, _NotNews) for f in logging.getLogger().filters)

    def record(msg):
        return logging.LogRecord("root", logging.WARNING, __file__, 1, msg, (), None)

    not_news = _NotNews()
    assert not not_news.filter(record("Resource module is not available for this platform"))
    assert not_news.filter(record("Resource module loaded"))


def test_every_worker_imports_the_torch_guard_first(demo_bundle, images, tmp_path):
    from apache_beam.options.pipeline_options import SetupOptions

    from bucketscore.pipelines.run import pipeline_of

    p = pipeline_of(plan_of(images, demo_bundle.model, tmp_path / "out"))
    plugins = p.options.view_as(SetupOptions).beam_plugins
    assert plugins == ["bucketscore.transforms.beam_without_torch"]
