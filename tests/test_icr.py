"""model.icr end to end on a tiny dataset and a tiny model, plus every bad input."""

import csv
import json
import shutil

import keras
import pytest

import model.training.train as train_module
from conftest import help_without_tensorflow, npz_dataset_at, run_main
from model.icr import NET_FLAGS, TRAIN_FLAGS, main
from model.network import NetConfig
from model.training.train import TrainConfig

ARTEFACTS = {"model.keras", "config.json", "history.csv", "metrics.json", "curves.png",
             "samples.png", "model_summary.png"}



@pytest.fixture(scope="module")
def npz_dataset(tmp_path_factory):
    """A dataset made from a fake MNIST saved as a file, which --fresh composes from anew."""
    return npz_dataset_at(tmp_path_factory.mktemp("fresh"))[0]


def copy_dataset(src, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(src, dst)
    return dst


def run(args, capsys):
    return run_main(main, args, capsys)


def test_trains_evaluates_and_writes_every_artefact(tiny_dataset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    status, out, err = run([tiny_dataset, "--preset", "tiny", "--run-dir", run_dir,
                            "--top-paths", "2"], capsys)
    assert status == 0, err
    names = {p.name for p in run_dir.iterdir()}
    assert ARTEFACTS <= names
    assert "model_graph.png" in names or "model_graph.dot" in names
    assert "backup" not in names and "best.keras" not in names
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for decoder in ("greedy", "beam"):
        assert metrics[decoder]["count"] == 32
        assert set(metrics[decoder]["per_digit"]) == set("0123456789")
    assert "exact" in out.lower() and str(run_dir) in out
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"loss", "val_loss", "val_exact", "val_cer"} <= set(rows[0])

    # Evaluating the finished run needs no training and writes its own file.
    status, out, err = run([tiny_dataset, "--evaluate", run_dir], capsys)
    assert status == 0, err
    assert (run_dir / "eval_tiny.json").is_file()

    # A finished run is never overwritten without being asked.
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--run-dir", run_dir], capsys)
    assert status == 2 and "finished run" in err


def test_killed_run_resumes_where_it_stopped(tiny_dataset, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    args = [tiny_dataset, "--preset", "tiny", "--epochs", "4", "--run-dir", run_dir]
    real = train_module.make_callbacks

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt  # as if killed during epoch 3

    monkeypatch.setattr(train_module, "make_callbacks", lambda *a, **k: real(*a, **k) + [Kill()])
    status, _, err = run(args, capsys)
    assert status == 130 and "resume" in err
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()

    monkeypatch.setattr(train_module, "make_callbacks", real)
    status, _, err = run(args, capsys)
    assert status == 0, err
    assert "resuming" in err and "at epoch 3" in err
    with open(run_dir / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2, 3]
    assert ARTEFACTS <= {p.name for p in run_dir.iterdir()}


def corrupt_first_png(ds):
    path = ds / "train" / "images" / "000000.png"
    data = path.read_bytes()
    path.write_bytes(data[:40] + b"\0" * 30)


def garbage_first_png(ds):
    (ds / "test" / "images" / "000000.png").write_bytes(b"this is not a png at all")


def non_digit_label(ds):
    p = ds / "val" / "labels.csv"
    p.write_text(p.read_text().replace("\nimages/000001.png,", "\nimages/000001.png,4a", 1))


def missing_image(ds):
    (ds / "train" / "images" / "000003.png").unlink()


def too_long_label(ds):
    p = ds / "test" / "labels.csv"
    lines = p.read_text().splitlines()
    name = lines[1].split(",")[0]
    lines[1] = f"{name},{'1' * 40}"
    p.write_text("\n".join(lines) + "\n")


def unknown_schema(ds):
    m = json.loads((ds / "manifest.json").read_text())
    m["schema_version"] = 42
    (ds / "manifest.json").write_text(json.dumps(m))


def no_manifest(ds):
    (ds / "manifest.json").unlink()


BAD_DATASETS = {
    "corrupt png": (corrupt_first_png, "not a readable PNG"),
    "not a png": (garbage_first_png, "not a PNG"),
    "non-digit label": (non_digit_label, "not a digit string"),
    "missing image": (missing_image, "missing"),
    "label too long": (too_long_label, "longer than the model can emit"),
    "unknown schema": (unknown_schema, "schema version 42"),
    "no manifest": (no_manifest, "no manifest"),
}


@pytest.mark.parametrize("case", list(BAD_DATASETS))
def test_bad_datasets_are_one_line_errors(case, tiny_dataset, tmp_path, capsys):
    ds = copy_dataset(tiny_dataset, tmp_path)
    spoil, needle = BAD_DATASETS[case]
    spoil(ds)
    status, _, err = run([ds, "--preset", "tiny", "--epochs", "1", "--run-dir",
                          tmp_path / "run"], capsys)
    assert status == 2
    assert needle in err.strip().splitlines()[-1] and "Traceback" not in err, err


def test_no_dataset_names_the_command_that_makes_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(["no-such-dataset"], capsys)
    assert status == 2 and "python -m digits.sequence_generator" in err
    assert len(err.strip().splitlines()) == 1


def test_evaluate_a_run_dir_that_does_not_exist(tiny_dataset, tmp_path, capsys):
    status, _, err = run([tiny_dataset, "--evaluate", tmp_path / "nope"], capsys)
    assert status == 2 and "does not exist" in err


def test_evaluate_a_model_that_is_not_a_keras_archive(tiny_dataset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_bytes(b"not a zip file")
    (run_dir / "config.json").write_text(json.dumps({"net": NetConfig().to_dict()}))
    status, _, err = run([tiny_dataset, "--evaluate", run_dir], capsys)
    assert status == 2 and "not a .keras archive" in err


def test_every_config_field_has_a_flag():
    import dataclasses

    assert set(NET_FLAGS) == {f.name for f in dataclasses.fields(NetConfig)} - {"height"}
    assert set(TRAIN_FLAGS) == {f.name for f in dataclasses.fields(TrainConfig)}


def test_help_imports_no_tensorflow():
    assert "--beam-width" in help_without_tensorflow("model.icr")


def test_a_bad_dataset_leaves_an_existing_run_untouched(tiny_dataset, tmp_path, capsys):
    ds = copy_dataset(tiny_dataset, tmp_path)
    too_long_label(ds)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")  # a finished run this toolkit wrote
    (run_dir / "metrics.json").write_text("{}")
    status, _, err = run([ds, "--preset", "tiny", "--run-dir", run_dir, "--overwrite"], capsys)
    assert status == 2 and "longer than the model can emit" in err
    assert (run_dir / "metrics.json").read_text() == "{}"


def test_a_crash_after_the_final_save_still_finishes(tiny_dataset, tmp_path, capsys,
                                                     monkeypatch):
    run_dir = tmp_path / "run"
    args = [tiny_dataset, "--preset", "tiny", "--run-dir", run_dir]
    real = train_module.shutil.rmtree

    def crash(path, *a, **k):
        if str(path).endswith("backup"):
            raise KeyboardInterrupt  # killed between model.keras and removing the backup
        return real(path, *a, **k)

    monkeypatch.setattr(train_module.shutil, "rmtree", crash)
    assert run(args, capsys)[0] == 130
    assert (run_dir / "model.keras").is_file() and not (run_dir / "best.keras").exists()
    monkeypatch.setattr(train_module.shutil, "rmtree", real)
    status, _, err = run(args, capsys)
    assert status == 0, err
    assert ARTEFACTS <= {p.name for p in run_dir.iterdir()}


def test_an_unreadable_config_in_the_run_dir_is_one_line(tiny_dataset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{broken")
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--run-dir", run_dir], capsys)
    assert status == 2 and "unreadable" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["1", "-2"])
def test_average_last_must_be_off_or_at_least_two(tiny_dataset, tmp_path, capsys, value):
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--average-last", value,
                          "--run-dir", tmp_path / "run"], capsys)
    assert status == 2 and "--average-last" in err


def test_interpolate_needs_a_starting_model(tiny_dataset, tmp_path, capsys):
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--interpolate", "0.5",
                          "--run-dir", tmp_path / "run"], capsys)
    assert status == 2 and "--from" in err and not (tmp_path / "run").exists()


def test_trains_with_the_batch_changes_and_records_them(tiny_dataset, tmp_path, capsys):
    """--stretch, --shear and --lowres widen, narrow, lean and coarsen the training
    batches: the run trains through them and its config names them."""
    run_dir = tmp_path / "run"
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--stretch", "1.3", "--shear",
                          "0.3", "--lowres", "0.5", "--run-dir", run_dir], capsys)
    assert status == 0, err
    train = json.loads((run_dir / "config.json").read_text())["train"]
    assert train["stretch"] == 1.3 and train["shear"] == 0.3 and train["lowres"] == 0.5


@pytest.mark.parametrize("flag,value", [("--stretch", "0.9"), ("--stretch", "2.5"),
                                        ("--shear", "-0.1"), ("--shear", "1.5")])
def test_batch_change_out_of_range_is_a_usage_error(tiny_dataset, tmp_path, capsys, flag,
                                                    value):
    status, _, err = run([tiny_dataset, "--preset", "tiny", flag, value,
                          "--run-dir", tmp_path / "run"], capsys)
    assert status == 2 and flag in err and not (tmp_path / "run").exists()


def test_icr_trains_with_fresh_sequences(npz_dataset, tmp_path, capsys):
    status = main([str(npz_dataset), "--preset", "tiny", "--fresh", "--run-dir",
                   str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "new sequences per epoch" in err
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_history_has_every_epoch_with_fresh_sequences(npz_dataset, tmp_path):
    run_dir = tmp_path / "run"
    assert main([str(npz_dataset), "--preset", "tiny", "--fresh", "--epochs", "3",
                 "--run-dir", str(run_dir)]) == 0
    with open(run_dir / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]
