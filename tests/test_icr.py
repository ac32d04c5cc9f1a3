"""model.icr end to end on a tiny dataset and a tiny model, plus every bad input."""

import csv
import json
import shutil

import keras
import numpy as np
import pytest

import model.training.train as train_module
from conftest import fake_mnist, help_without_tensorflow
from digits.compose import ComposeConfig
from digits.dataset import Counts, write_dataset
from model.icr import NET_FLAGS, TRAIN_FLAGS, main
from model.inputs.datasets import load_split, make_dataset
from model.network import NetConfig
from model.training.train import TrainConfig

ARTEFACTS = {"model.keras", "config.json", "history.csv", "metrics.json", "curves.png",
             "samples.png", "model_summary.png"}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "tiny"
    write_dataset(root, fake_mnist(), ComposeConfig(min_length=1, max_length=4),
                  Counts(96, 32, 32), seed=5)
    return root


def copy_dataset(src, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(src, dst)
    return dst


def run(args, capsys):
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


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


def test_reloaded_model_gives_the_same_logits(tiny_dataset, tmp_path):
    net = NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,))
    split = load_split(tiny_dataset, "train", 28)
    val = load_split(tiny_dataset, "val", 28)
    (tmp_path / "run").mkdir()
    model = train_module.train(tmp_path / "run", split, val, net,
                               TrainConfig(epochs=1, batch_size=16), log=lambda m: None)
    reloaded = keras.models.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    x, _ = next(iter(make_dataset(val, 8, 28)))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(reloaded(x)))


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


def test_the_last_epochs_are_averaged_and_kept_only_when_validation_agrees(tiny_dataset,
                                                                          tmp_path,
                                                                          monkeypatch):
    net = NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,))
    split = load_split(tiny_dataset, "train", 28)
    val = load_split(tiny_dataset, "val", 28)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    logged = []
    seen = []

    class Spy(keras.callbacks.Callback):  # what EpochWeights should have kept
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    make = train_module.make_callbacks
    monkeypatch.setattr(train_module, "make_callbacks",
                        lambda *a, **k: make(*a, **k) + [Spy()])
    model = train_module.train(run_dir, split, val, net,
                               TrainConfig(epochs=4, batch_size=16, average_last=3,
                                           patience=10),
                               log=logged.append)
    report = json.loads((run_dir / "averaged.json").read_text())
    assert report["epochs"] == [2, 3, 4]
    assert any("averaged" in line for line in logged)
    assert not (run_dir / "epochs").exists()  # removed with the backup once saved
    mean = [np.mean([epoch[i] for epoch in seen[1:]], axis=0) for i in range(len(seen[0]))]
    # Kept exactly when it reads validation at least as well as the best epoch.
    assert report["kept"] == (report["val_exact"] >= report["best_epoch_val_exact"])

    # An average that reads validation worse than the best epoch is not kept.
    (run_dir / "epochs").mkdir()
    for n, weights in enumerate(seen[1:], start=2):
        model.set_weights(weights)
        model.save_weights(run_dir / "epochs" / f"{n:03d}.weights.h5")
    assert not train_module.average_epochs(run_dir, model, val, net, 3, 1.01, logged.append)
    assert json.loads((run_dir / "averaged.json").read_text())["kept"] is False
    assert train_module.average_epochs(run_dir, model, val, net, 3, None, logged.append)
    for got, want in zip(model.get_weights(), mean, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", ["1", "-2"])
def test_average_last_must_be_off_or_at_least_two(tiny_dataset, tmp_path, capsys, value):
    status, _, err = run([tiny_dataset, "--preset", "tiny", "--average-last", value,
                          "--run-dir", tmp_path / "run"], capsys)
    assert status == 2 and "--average-last" in err
