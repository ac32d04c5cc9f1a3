"""model.runs: where a run goes, which run a reading command uses, loading a run."""

import pytest

import model.runs as runs
from digits.errors import DataError


def finished(path, mtime=None):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.keras").write_bytes(b"")
    (path / "metrics.json").write_text("{}")
    if mtime is not None:
        import os

        os.utime(path / "model.keras", (mtime, mtime))
    return path


def test_a_new_run_never_reuses_a_finished_one(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path)
    assert runs.new_run_dir("digits") == tmp_path / "digits"
    (tmp_path / "digits").mkdir()
    assert runs.new_run_dir("digits") == tmp_path / "digits"  # unfinished: resumable
    (tmp_path / "digits" / "metrics.json").write_text("{}")
    finished(tmp_path / "digits-2")
    assert runs.new_run_dir("digits") == tmp_path / "digits-3"


def test_an_explicit_run_dir_is_checked(tmp_path):
    done = finished(tmp_path / "done")
    with pytest.raises(DataError, match="holds a finished run"):
        runs.new_run_dir("x", done)
    assert runs.new_run_dir("x", done, overwrite=True) == done
    with pytest.raises(DataError, match="must not be the run that --from"):
        runs.new_run_dir("x", tmp_path / "a", start=tmp_path / "a")


def test_overwrite_replaces_only_a_run_directory(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match="not a run directory"):
        runs.new_run_dir("x", mine, overwrite=True)
    with pytest.raises(DataError, match="not a run directory"):
        runs.start_run(mine, {"net": 1}, overwrite=True)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"
    run = finished(tmp_path / "run")
    runs.start_run(run, {"net": 2}, overwrite=True)  # one this toolkit wrote: replaced
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_reading_uses_the_given_run_else_the_shipped_one_and_latest_on_request(
        tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(runs, "SHIPPED_RUN", finished(tmp_path / "shipped"))
    assert runs.choose_run(tmp_path / "given") == tmp_path / "given"
    with pytest.raises(DataError, match="no finished run under"):
        runs.choose_run("latest")
    finished(tmp_path / "runs" / "old", mtime=1_000)
    finished(tmp_path / "runs" / "new", mtime=2_000)
    (tmp_path / "runs" / "unfinished").mkdir()
    assert runs.latest_run() == tmp_path / "runs" / "new"
    assert runs.choose_run("latest") == tmp_path / "runs" / "new"
    assert runs.choose_run(None) == tmp_path / "shipped"  # whatever runs/ holds


def test_a_run_describes_what_it_was_trained_on(tmp_path):
    config = {"dataset": "/data/shipped", "dataset_manifest": {
        "source": {"name": "file"}, "compose": {"min_length": 1, "max_length": 6}}}
    assert runs.describe_run(tmp_path, config) == (
        f"{tmp_path} (trained on shipped (1-6 digit sequences of file MNIST))")
    assert "fine-tuned on /cells" in runs.describe_run(tmp_path, {"folder": "/cells"})


def test_no_model_at_all_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(runs, "SHIPPED_RUN", tmp_path / "shipped")
    with pytest.raises(DataError, match="no trained model"):
        runs.choose_run(None)


@pytest.mark.parametrize("load", [runs.load_run, runs.read_net])
def test_a_broken_run_is_one_line(tmp_path, load):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "missing")
    (tmp_path / "run").mkdir()
    with pytest.raises(DataError, match="no model.keras"):
        load(tmp_path / "run")
    (tmp_path / "run" / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="config.json is missing or unreadable"):
        load(tmp_path / "run")


def test_resuming_needs_the_same_settings(tmp_path):
    runs.start_run(tmp_path / "run", {"net": 1, "train": 2})
    runs.check_resumable(tmp_path / "run", {"net": 1, "train": 2}, ("net", "train"))
    with pytest.raises(DataError, match="other settings"):
        runs.check_resumable(tmp_path / "run", {"net": 1, "train": 3}, ("net", "train"))
    runs.check_resumable(tmp_path / "run", {"net": 1, "train": 3}, ("net", "train"),
                         overwrite=True)
