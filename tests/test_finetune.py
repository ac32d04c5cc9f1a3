"""model.icr on a labelled folder: fine-tuning a tiny run (--from), evaluating (--evaluate),
and every bad input as one line on stderr with nothing written."""

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import run_main as run
from conftest import tiny_dataset_at
from digits.dataset import read_labels
from model.icr import FINETUNE_FLAGS
from model.icr import main as icr
from model.read import main as read
from model.training.finetune import FINETUNE_TRAIN, FinetuneConfig

ARTEFACTS = {"model.keras", "config.json", "history.csv", "metrics.json", "curves.png",
             "samples.png", "model_summary.png"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset_at(tmp_path_factory.mktemp("data") / "tiny", 3, (96, 32, 32), 7)


@pytest.fixture(scope="module")
def base_run(dataset, tmp_path_factory):
    """A finished tiny run, trained on generated sequences."""
    run_dir = tmp_path_factory.mktemp("runs") / "base"
    assert icr([str(dataset), "--preset", "tiny", "--run-dir", str(run_dir)]) == 0
    return run_dir


def make_folder(root, dataset, count: int = 60):
    """A labelled folder of the dataset's training images as a scan shows them: dark ink
    on light paper, as JPEG and PNG files with names of the user's choosing."""
    files, texts = read_labels(dataset / "train")
    (root / "images").mkdir(parents=True)
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "text"])
        for i, (path, text) in enumerate(zip(files[:count], texts[:count], strict=True)):
            name = f"images/cell_{i:03d}.{'jpg' if i % 2 else 'png'}"
            Image.fromarray(255 - np.asarray(Image.open(path))).save(root / name)
            w.writerow([name, text])
    return root


@pytest.fixture
def folder(dataset, tmp_path):
    return make_folder(tmp_path / "cells", dataset)


def test_finetune_writes_a_run_that_reads_and_evaluates(base_run, dataset, folder, tmp_path,
                                                        capsys):
    """End to end, on a folder with one image too narrow for its label and one that is not
    an image: both are left out and listed, the rest fine-tunes the tiny run."""
    labels = folder / "labels.csv"
    rows = labels.read_text().splitlines()
    narrow = rows[1].split(",")[0]
    rows[1] = f"{narrow},{'7' * 30}"  # 30 digits cannot come out of one short sequence
    labels.write_text("\n".join(rows) + "\n")
    (folder / "images" / "cell_004.png").write_bytes(b"not an image")
    run_dir = tmp_path / "tuned"
    status, out, err = run(icr, [folder, "--from", base_run, "--preset", "tiny",
                                 "--skip-corrupt", "--run-dir", run_dir], capsys)
    assert status == 0, err
    assert "left out 1 image too narrow" in err and narrow in err
    assert "left out 1 image that could not be read" in err
    assert ARTEFACTS <= {p.name for p in run_dir.iterdir()}
    assert not {"backup", "best.keras"} & {p.name for p in run_dir.iterdir()}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["from"]["run"] == str(base_run.resolve())
    assert config["from"]["dataset"] == str(dataset.resolve())
    assert config["folder"] == str(folder.resolve())
    assert config["net"] == json.loads((base_run / "config.json").read_text())["net"]
    # The fine-tuning defaults, under the tiny preset's epochs and batch size.
    assert config["train"]["learning_rate"] == FINETUNE_TRAIN["learning_rate"]
    assert config["train"]["epochs"] == 2
    images = config["images"]
    assert list(images["too_narrow"]) == [narrow]
    assert list(images["unreadable"]) == ["images/cell_004.png"]
    assert images["listed"] == 60 and images["train"] + images["val"] == 58
    assert 1 <= images["val"] < 20
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for decoder in ("greedy", "beam"):
        assert metrics[decoder]["count"] == images["val"]
        assert metrics["before"][decoder]["count"] == images["val"]
    assert "held-out exact accuracy" in out and str(run_dir) in out
    with open(run_dir / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1]

    # model.read uses the fine-tuned run like any other.
    image = folder / "images" / "cell_001.jpg"
    status, out, err = run(read, [image, "--run", run_dir], capsys)
    assert status == 0, err
    assert out.split("\t")[0] == str(image)

    # So does --evaluate, on the whole folder: the narrow image counts as misread, the
    # unreadable one is listed.
    status, out, err = run(icr, [folder, "--evaluate", run_dir, "--skip-corrupt"], capsys)
    assert status == 0, err
    assert "1 image too narrow" in err
    result = json.loads((run_dir / "eval_cells.json").read_text())
    assert result["greedy"]["count"] == result["images"] == 59 and result["too_narrow"] == 1
    assert list(result["unreadable"]) == ["images/cell_004.png"]
    assert (run_dir / "eval_cells_samples.png").is_file()


def test_evaluates_a_labelled_folder(base_run, folder, capsys):
    status, out, err = run(icr, [folder, "--evaluate", base_run, "--beam-width", "4"], capsys)
    assert status == 0, err
    result = json.loads((base_run / "eval_cells.json").read_text())
    assert result["greedy"]["count"] == result["beam"]["count"] == 60
    assert result["beam"]["beam_width"] == 4
    assert 0 <= result["greedy"]["exact"] <= 1 and result["greedy"]["cer"] >= 0
    assert result["unreadable"] == {} and "exact" in out.lower()


def rewrite_labels(folder, change):
    path = folder / "labels.csv"
    path.write_text(change(path.read_text()))


BAD_FOLDERS = {
    "missing labels.csv": (lambda f: (f / "labels.csv").unlink(), "labels.csv is missing"),
    "bad header": (lambda f: rewrite_labels(f, lambda t: t.replace("file_name,text",
                                                                  "image,label", 1)),
                   "header must be file_name,text"),
    "non-digit label": (lambda f: rewrite_labels(f, lambda t: t.replace(
        "cell_002.png,", "cell_002.png,4a", 1)), "not a digit string"),
    "empty label": (lambda f: rewrite_labels(f, lambda t: re.sub(
        r"cell_002.png,\d+", "cell_002.png,", t)), "label '' is not a digit string"),
    "missing image": (lambda f: (f / "images" / "cell_003.jpg").unlink(),
                      "image images/cell_003.jpg is missing"),
    "unreadable image": (lambda f: (f / "images" / "cell_004.png").write_bytes(b"garbage"),
                         "cell_004.png is not an image"),
    "truncated image": (lambda f: (f / "images" / "cell_005.jpg").write_bytes(
        (f / "images" / "cell_005.jpg").read_bytes()[:200]), "cell_005.jpg is corrupt"),
    "blank image": (lambda f: Image.fromarray(np.full((28, 60), 240, np.uint8)).save(
        f / "images" / "cell_006.png"), "cell_006.png has no ink"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
@pytest.mark.parametrize("mode", ["--from", "--evaluate"])
def test_bad_folders_are_one_line_errors_and_write_nothing(case, mode, base_run, folder,
                                                           tmp_path, capsys):
    spoil, needle = BAD_FOLDERS[case]
    spoil(folder)
    before = sorted(p.name for p in base_run.iterdir())
    args = [folder, mode, base_run, "--run-dir", tmp_path / "run", "--preset", "tiny"]
    status, out, err = run(icr, args, capsys)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in base_run.iterdir()) == before


def unfinished_run(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    return tmp_path / "half"


@pytest.mark.parametrize("make_from,needle", [
    (lambda tmp: tmp / "nope", "does not exist"),
    (unfinished_run, "has no model.keras"),
])
def test_from_a_run_that_is_not_finished(make_from, needle, folder, tmp_path, capsys):
    status, _, err = run(icr, [folder, "--from", make_from(tmp_path), "--run-dir",
                               tmp_path / "run"], capsys)
    assert status == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra,needle", [
    ([], "labelled folder"),
    (["--from", "RUN", "--conv-filters", "4,4,4"], "keeps the architecture"),
    (["--from", "RUN", "--val-fraction", "1.5"], "--val-fraction"),
    (["--from", "RUN", "--fresh"], "--fresh"),
    (["--from", "RUN", "--evaluate", "RUN"], "exclude each other"),
])
def test_usage_errors(extra, needle, base_run, folder, tmp_path, capsys):
    args = [folder, *[str(base_run) if a == "RUN" else a for a in extra],
            "--run-dir", tmp_path / "run"]
    status, _, err = run(icr, args, capsys)
    assert status == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_run_to_start_from_is_never_overwritten(base_run, folder, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in base_run.iterdir()}
    status, _, err = run(icr, [folder, "--from", base_run, "--run-dir", base_run, "--overwrite"],
                         capsys)
    assert status == 2 and "--run-dir must not be the run" in err
    assert {p.name: p.stat().st_mtime_ns for p in base_run.iterdir()} == before


def test_continue_training_keeps_the_starting_model_unless_beaten(base_run, dataset, tmp_path,
                                                                  capsys):
    """--from on a generated dataset continues training; at a vanishing learning rate the
    one epoch can hardly do better, and the starting model must then be what is kept."""
    import keras

    run_dir = tmp_path / "more"
    status, _, err = run(icr, [dataset, "--from", base_run, "--preset", "tiny", "--epochs", "1",
                               "--learning-rate", "1e-9", "--run-dir", run_dir], capsys)
    assert status == 0, err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["from"]["run"] == str(base_run.resolve())
    start = float(re.search(r"starting model: val exact ([\d.]+)%", err).group(1)) / 100
    with open(run_dir / "history.csv") as f:
        epoch = float(next(csv.DictReader(f))["val_exact"])
    weights = [keras.models.load_model(d / "model.keras").get_weights()
               for d in (base_run, run_dir)]
    same = all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))
    assert same == (epoch <= start)


def test_every_finetune_field_has_a_flag():
    import dataclasses

    assert set(FINETUNE_FLAGS) == {f.name for f in dataclasses.fields(FinetuneConfig)}
