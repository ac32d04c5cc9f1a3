"""model.runs: where a run goes, which run a reading command uses, loading a run."""

import pytest

import model.runs as runs
from digits.errors import DataError


def finished(path, mtime=None):
    path.mkdir(parents=True)
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


def test_reading_uses_the_given_run_else_the_latest_else_the_shipped_one(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(runs, "SHIPPED_RUN", finished(tmp_path / "shipped"))
    assert runs.choose_run(tmp_path / "given") == tmp_path / "given"
    assert runs.choose_run(None) == tmp_path / "shipped"
    finished(tmp_path / "runs" / "old", mtime=1_000)
    finished(tmp_path / "runs" / "new", mtime=2_000)
    (tmp_path / "runs" / "unfinished").mkdir()
    assert runs.latest_run() == tmp_path / "runs" / "new"
    assert runs.choose_run(None) == tmp_path / "runs" / "new"


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
