"""Hostile-but-fair input to every command: each reproduction of the hostile-input probe
ends in a one-line error with the documented exit status, or succeeds, and loses nothing."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from conftest import SRC, fake_mnist, untrained_run
from conftest import run_main as call
from digits.compose import ComposeConfig
from digits.dataset import Counts, read_labels, read_manifest, write_dataset
from digits.errors import DataError

TINY_DATA = ["--count-train", "20", "--count-val", "4", "--count-test", "4", "--source",
             "embedded"]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return untrained_run(tmp_path_factory.mktemp("run"))



# ---------------------------------------------------------------------------- data loss

def test_the_generator_never_replaces_a_directory_it_did_not_write(tmp_path, capsys):
    from digits.sequence_generator import main

    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    status, _, err = call(main, [*TINY_DATA, "--out", mine, "--overwrite"], capsys)
    assert status == 2 and "is not a dataset" in one_line(err)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"
    # A dataset it wrote is replaced.
    assert call(main, [*TINY_DATA, "--out", tmp_path / "ds"], capsys)[0] == 0
    assert call(main, [*TINY_DATA, "--out", tmp_path / "ds", "--overwrite"], capsys)[0] == 0


def test_the_trainer_never_replaces_a_directory_it_did_not_write(tiny_dataset, tmp_path,
                                                                  capsys):
    from model.icr import main

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me")
    status, _, err = call(main, [tiny_dataset, "--preset", "tiny", "--run-dir", mine,
                                 "--overwrite"], capsys)
    assert status == 2 and "is not a run directory" in one_line(err)
    assert (mine / "todo.txt").read_text() == "keep me"


# ------------------------------------------------------------ crashes that lose other work

@pytest.mark.parametrize("shape", [(10, 1940), (20, 10000), (10000, 20), (1, 1)])
def test_extreme_shapes_are_read_or_refused_per_image(run_dir, tmp_path, shape, capsys):
    from model.read import main

    good = tmp_path / "good.png"
    paper = np.full((40, 90), 230, np.uint8)
    paper[8:32, 40:44] = 20
    Image.fromarray(paper).save(good)
    strip = tmp_path / "strip.png"
    image = np.full(shape, 230, np.uint8)
    image[shape[0] // 4:max(shape[0] * 3 // 4, 1), shape[1] // 4:max(shape[1] * 3 // 4, 1)] = 20
    Image.fromarray(image).save(strip)
    status, out, err = call(main, [good, strip, good, "--run", run_dir, "--quiet"], capsys)
    assert status in (0, 1) and "Traceback" not in err
    assert [line.split("\t")[0] for line in out.splitlines()].count(str(good)) == 2
    assert len(err.strip().splitlines()) == (status == 1)  # one line for the strip, if any


def test_deeply_nested_json_is_a_400(run_dir):
    from starlette.testclient import TestClient

    from model.serving.app import create_app

    client = TestClient(create_app(run_dir))
    answer = client.post("/api/read", content=b"[" * 100_000,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["error"]


# ------------------------------------------------------- unbounded time and memory

def test_a_large_image_is_brought_down_to_the_working_resolution(tmp_path):
    from model.reading.images import WORK_SIDE, open_gray

    for size, fmt in (((7000, 5000), "PNG"), ((4000, 3000), "JPEG")):
        path = tmp_path / f"big.{fmt.lower()}"
        Image.new("L", size, 200).save(path, fmt)
        gray = open_gray(path)
        assert max(gray.shape) <= WORK_SIDE and gray.shape[1] > gray.shape[0]


@pytest.mark.parametrize("seed", range(20))
def test_line_removal_equals_a_binary_opening_in_linear_time(seed):
    from model.reading.steps import long_runs

    rng = np.random.default_rng(seed)
    mask = rng.random(tuple(rng.integers(1, 40, 2))) < rng.random()
    for length in (1, 2, 3, 7, 16, 41):
        opened = ndimage.binary_opening(mask, structure=np.ones((1, length), bool))
        assert np.array_equal(long_runs(mask, length), opened)


def test_a_pattern_whose_automaton_explodes_is_refused(run_dir, tmp_path, capsys):
    from model.decoding.constraints import Constraint
    from model.read import main

    with pytest.raises(ValueError, match="pattern too large"):
        Constraint(pattern=".*1.{16}")
    image = tmp_path / "n.png"
    Image.fromarray(np.full((28, 40), 0, np.uint8)).save(image)
    status, _, err = call(main, [image, "--run", run_dir, "--pattern", ".*1.{16}"], capsys)
    assert status == 2 and "pattern too large" in one_line(err)


def test_a_keras_archive_that_would_inflate_too_far_is_refused_unopened(run_dir, tmp_path,
                                                                        monkeypatch):
    import model.runs as runs

    bomb = tmp_path / "bomb"
    bomb.mkdir()
    (bomb / "config.json").write_text((run_dir / "config.json").read_text())
    with zipfile.ZipFile(bomb / "model.keras", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.weights.h5", b"\0" * (4 << 20))  # 4 MiB of zeros: 4 KiB
    monkeypatch.setattr(runs, "MAX_MODEL_BYTES", 1 << 20)
    with pytest.raises(DataError, match="would inflate to 4 MiB"):
        runs.load_run(bomb)


@pytest.mark.parametrize("flag,value", [
    ("--height", "100000"), ("--width", "100000000"), ("--length", "1000"),
    ("--max-length", "100000"), ("--count-train", "99999999999999999999"),
    ("--margin", "100000"), ("--workers", "1000"), ("--jitter", "1e9"), ("--seed", "-1"),
    ("--scale", "nan"), ("--rotation", "nan"), ("--noise", "inf"),
])
def test_generator_values_outside_their_range_are_usage_errors(tmp_path, flag, value,
                                                               capsys):
    from digits.sequence_generator import main

    out = tmp_path / "out"
    status, _, err = call(main, [*TINY_DATA, "--out", out, flag, value], capsys)
    assert status == 2 and f"argument {flag}" in one_line(err)
    assert not out.exists()


def test_images_too_large_for_memory_are_refused_before_any_work(tmp_path, capsys):
    from digits.sequence_generator import main

    out = tmp_path / "out"
    status, _, err = call(main, [*TINY_DATA, "--out", out, "--height", "256", "--length",
                                 "32", "--max-gap", "28", "--margin", "64"], capsys)
    assert status == 2 and "too large" in one_line(err) and not out.exists()


# ---------------------------------------------------------- broken runs reported as success

@pytest.mark.parametrize("flag,value", [
    ("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--warmup-epochs", "nan"),
    ("--dense", "-1"), ("--seed", "-1"), ("--epochs", "99999999999999999999"),
])
def test_trainer_values_outside_their_range_leave_nothing(tiny_dataset, tmp_path, flag, value,
                                                          capsys):
    from model.icr import main

    run = tmp_path / "run"
    status, _, err = call(main, [tiny_dataset, "--preset", "tiny", "--run-dir", run, flag,
                                 value], capsys)
    assert status == 2 and f"argument {flag}" in one_line(err)
    assert not run.exists()  # no config.json to block the corrected command


def test_a_diverged_training_is_an_error_without_a_model(tiny_dataset, tmp_path, capsys,
                                                         monkeypatch):
    import keras

    from model.icr import main

    class Diverging(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return keras.ops.mean(y_pred, axis=(1, 2)) * float("nan")

    monkeypatch.setattr(keras.losses, "CTC", Diverging)
    run = tmp_path / "run"
    status, _, err = call(main, [tiny_dataset, "--preset", "tiny", "--run-dir", run], capsys)
    assert status == 2 and "training diverged" in err and "Traceback" not in err
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()


def test_a_run_killed_after_its_model_was_saved_finishes_without_training(tiny_dataset,
                                                                           tmp_path, capsys):
    from model.icr import main

    run = tmp_path / "run"
    args = [tiny_dataset, "--preset", "tiny", "--run-dir", run]
    assert call(main, args, capsys)[0] == 0
    history = (run / "history.csv").read_text()
    for name in ("metrics.json", "samples.png", "curves.png"):
        (run / name).unlink()  # killed after model.keras, before the reports
    status, _, err = call(main, args, capsys)
    assert status == 0, err
    assert "finishing the run from it" in err and "epoch 1/" not in err
    assert (run / "history.csv").read_text() == history  # no epoch trained again
    assert (run / "metrics.json").is_file()


# ------------------------------------------------------ tracebacks where one line is promised

def test_a_manifest_with_missing_or_wrong_fields_is_one_line(tiny_dataset, tmp_path):
    import shutil

    for change in ({"compose": None}, {"compose": {"height": "28"}}, {"splits": []}):
        copy = tmp_path / f"ds{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tiny_dataset, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest.update(change)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(DataError, match="regenerate the dataset"):
            read_manifest(copy)


def test_a_run_whose_model_is_not_a_digit_reader_is_one_line(run_dir, tmp_path):
    import keras

    from model.runs import load_run

    config = json.loads((run_dir / "config.json").read_text())
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    inputs = keras.Input((28, None, 1))
    outputs = keras.layers.Dense(5)(keras.layers.Reshape((-1, 28))(inputs))
    keras.Model(inputs, outputs).save(wrong / "model.keras")
    (wrong / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="11 classes"):
        load_run(wrong)
    (wrong / "config.json").write_text(json.dumps({"net": {**config["net"], "height": "28"}}))
    with pytest.raises(DataError, match="missing or unreadable"):
        load_run(wrong)


def test_labels_that_climb_out_of_the_folder_or_repeat_are_refused(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("L", (10, 10)).save(tmp_path / "images" / "a.png")
    (tmp_path.parent / "outside.png").write_bytes(b"")
    for rows, message in ((["../outside.png,1"], "lies outside"),
                          (["/etc/passwd,1"], "lies outside"),
                          (["images/a.png,1", "images/a.png,2"], "listed twice")):
        (tmp_path / "labels.csv").write_text("file_name,text\n" + "\n".join(rows) + "\n")
        with pytest.raises(DataError, match=message):
            read_labels(tmp_path)


def test_an_export_sidecar_without_its_fields_is_one_line(tmp_path):
    from model.deploy.runtime import SCHEMA_VERSION, load_exported, sidecar_path

    pytest.importorskip("onnxruntime")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")
    sidecar_path(model).write_text(json.dumps({"format": "onnx",
                                               "schema_version": SCHEMA_VERSION}))
    with pytest.raises(DataError):
        load_exported(model)


# -------------------------------------------------------------------- leftovers

def test_stale_partial_datasets_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".ds.partial-{dead}-abc"
    live = tmp_path / f".ds.partial-{os.getpid()}-xyz"
    stale.mkdir()
    live.mkdir()
    write_dataset(tmp_path / "ds", fake_mnist(), ComposeConfig(), Counts(10, 2, 2), seed=1)
    assert not stale.exists() and live.exists()


def test_sigterm_leaves_no_partial_dataset_and_no_traceback(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-m", "digits.sequence_generator", "--source", "embedded",
         "--count-train", "200000", "--count-val", "10", "--count-test", "10", "--workers",
         "2", "--out", str(out)],
        cwd=SRC, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".ds.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".ds.partial-*")), "the generator did not start writing"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []
