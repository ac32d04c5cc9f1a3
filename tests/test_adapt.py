"""model.adapt: adapting a tiny run to a folder of unlabelled images drawn another way,
labels never used, the guard, a run directory other commands take, and every bad input as
one line with nothing written."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_main
from model.adapt import FLAGS
from model.adapt import main as adapt
from model.adaptation.job import AdaptConfig, Candidate, guard
from model.adaptation.readings import Readings

# Fast settings for a tiny model: one short round, and its readings' confidence is low.
QUICK = ["--rounds", "1", "--epochs", "2", "--min-confidence", "0.5", "--batch-size", "16"]


def run(args, capsys):
    return run_main(adapt, args, capsys)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny run that reads one- and two-digit sequences of real (embedded) MNIST digits,
    white on black, about 70% exactly: trained here in ~20 s."""
    import keras

    from digits.compose import ComposeConfig
    from digits.dataset import Counts, write_dataset
    from digits.sources import load_mnist
    from model.inputs.datasets import load_split
    from model.network import NetConfig
    from model.training.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    write_dataset(root / "ds", load_mnist("embedded"),
                  ComposeConfig(min_length=1, max_length=2, augment=False),
                  Counts(1000, 100, 0), seed=3)
    net = NetConfig(conv_filters=(8, 16, 16), dense=32, gru_units=(16,))
    run_dir = root / "run"
    run_dir.mkdir()
    cfg = TrainConfig(epochs=15, batch_size=16, learning_rate=5e-3, warmup_epochs=0.2,
                      distort=0.0, seed=1)
    train(run_dir, load_split(root / "ds", "train", 28), load_split(root / "ds", "val", 28),
          net, cfg, log=lambda m: None)
    manifest = json.loads((root / "ds" / "manifest.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({"net": net.to_dict(),
                                                     "dataset_manifest": manifest}))
    keras.backend.clear_session()
    return run_dir


def thick_folder(root, count: int = 120, labels: bool = True):
    """Sequences of held-out digits drawn unlike the training data: dark ink on light
    paper, every stroke thickened; with labels.csv (``labels``)."""
    from scipy import ndimage

    from digits.blocks import split_pools
    from digits.compose import ComposeConfig, compose
    from digits.sources import load_mnist

    x, y = split_pools(load_mnist("embedded"))["test"]
    chunk = compose(x, y, count, ComposeConfig(min_length=1, max_length=2, augment=False),
                    np.random.default_rng(11))
    (root / "images").mkdir(parents=True)
    rows = []
    for i, (image, text) in enumerate(zip(chunk.images, chunk.texts, strict=True)):
        thick = ndimage.grey_dilation(image, size=(3, 3))
        name = f"images/n{i:03d}.png"
        Image.fromarray(255 - thick).resize((thick.shape[1] * 2, 56)).save(root / name)
        rows.append((name, text))
    if labels:
        with open(root / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file_name", "text"])
            w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def adapted(tiny_run, tmp_path_factory):
    """The tiny run adapted to a labelled thick folder, and to the same images with their
    labels shuffled: (run with labels, run with shuffled labels, folder)."""
    root = tmp_path_factory.mktemp("adapt")
    folder = thick_folder(root / "thick")
    first = root / "with-labels"
    assert adapt([str(folder), "--from", str(tiny_run), "--run-dir", str(first), *QUICK]) == 0
    shuffled = root / "shuffled"
    shuffled.mkdir()
    (shuffled / "images").symlink_to(folder / "images")
    lines = (folder / "labels.csv").read_text().splitlines()
    texts = [line.split(",")[1] for line in lines[1:]]
    np.random.default_rng(0).shuffle(texts)
    (shuffled / "labels.csv").write_text("\n".join(
        [lines[0]] + [f"{line.split(',')[0]},{t}" for line, t in zip(lines[1:], texts,
                                                                     strict=True)]) + "\n")
    second = root / "shuffled-run"
    assert adapt([str(shuffled), "--from", str(tiny_run), "--run-dir", str(second),
                  *QUICK]) == 0
    return first, second, folder


def weights(run_dir):
    import keras

    return keras.models.load_model(run_dir / "model.keras", safe_mode=True).get_weights()


def test_labels_are_never_used(adapted, tiny_run, tmp_path, capsys):
    """Shuffled labels, or none, give the same adapted weights for the same seed."""
    first, second, folder = adapted
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "images").symlink_to(folder / "images")
    third = tmp_path / "no-labels"
    status, _, err = run([tmp_path / "none", "--from", tiny_run, "--run-dir", third, *QUICK],
                         capsys)
    assert status == 0, err
    a, b, c = weights(first), weights(second), weights(third)
    assert all(np.array_equal(x, y) and np.array_equal(x, z) for x, y, z in zip(a, b, c,
                                                                                 strict=True))
    assert "accuracy" not in json.loads((third / "metrics.json").read_text())


def test_adapting_to_a_thick_folder_raises_agreement_or_accuracy(adapted):
    """Self-training on the thick folder reads it better (labels.csv, read only to report),
    and whatever the guard kept reads it no worse than the original."""
    first, _, folder = adapted
    config = json.loads((first / "config.json").read_text())
    metrics = json.loads((first / "metrics.json").read_text())
    assert config["folder_images"] == 120 and len(config["folder_sha256"]) == 64
    assert config["rounds"] and config["rounds"][0]["pseudo_labels"] >= 50
    tried, acc = metrics["candidates"]["round 1"], metrics["accuracy"]
    assert (tried["agreement"] > metrics["original"]["agreement"]
            or acc["round 1"]["exact"] > acc["original"]["exact"])
    assert acc["kept"]["exact"] >= acc["original"]["exact"]


def test_adaptation_reads_a_folder_as_model_read_does(tiny_run, tmp_path):
    """The readings adaptation trains on are model.read's own: the same ways, the same
    batches, the same strings and probabilities."""
    from model.adaptation.readings import read_prepared
    from model.reading.folder import prepare_folder_ways, read_folder
    from model.reading.reader import read_images
    from model.runs import load_run

    folder = read_folder(thick_folder(tmp_path / "thick", count=40))
    model, net, _ = load_run(tiny_run)
    ways = prepare_folder_ways(folder, net.height, log=lambda m: None).ways
    readings = read_prepared(model, net, ways)
    results = read_images(folder.files, model, net)
    assert readings.texts == [r.text for r in results]
    assert np.allclose(readings.confidence, [r.probability for r in results], rtol=1e-3)
    assert any(readings.texts)


def test_the_adapted_run_reads(adapted):
    from model.api import Reader

    first, _, folder = adapted
    reader = Reader(first)
    assert "adapt" in reader.description
    assert reader.results([str(folder / "images" / "n000.png")])[0].error is None


def test_the_adapted_run_exports_and_fine_tunes(adapted, tmp_path, capsys):
    """model.export and model.icr --from take the adapted run as any other."""
    pytest.importorskip("tf2onnx")
    from model.export import main as export
    from model.icr import main as icr

    first, _, folder = adapted
    assert export([str(first), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx.json").is_file()
    status = icr([str(folder), "--from", str(first), "--epochs", "1", "--run-dir",
                  str(tmp_path / "tuned")])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "tuned" / "model.keras").is_file()


def test_the_guard_keeps_the_original_when_adapting_cannot_help(tiny_run, tmp_path, capsys):
    """An unreachable margin: the original model is kept, byte for byte its weights."""
    import shutil

    folder = thick_folder(tmp_path / "few", count=40, labels=False)
    source = tmp_path / "calibrated"  # the run with a calibrator, which the kept model keeps
    shutil.copytree(tiny_run, source)
    calibrator = '{"schema_version": 1, "signals": ["logit"], "mean": [0], "scale": [1], ' \
                 '"weights": [1], "bias": 0, "knots": null}'
    (source / "calibration.json").write_text(calibrator)
    out = tmp_path / "kept"
    status, stdout, err = run([folder, "--from", source, "--run-dir", out, "--margin", "1"],
                              capsys)
    assert status == 0, err
    assert "self-training needs at least 100" in err  # 40 images: AdaBN only
    assert "kept the original model" in stdout
    assert json.loads((out / "config.json").read_text())["kept"] == "original"
    original = weights(tiny_run)
    assert all(np.array_equal(x, y) for x, y in zip(original, weights(out), strict=True))
    assert (out / "calibration.json").read_text() == calibrator


def test_the_guard_keeps_the_original_on_a_folder_like_its_training_data(tiny_run, tmp_path,
                                                                         capsys):
    """White on black, unaugmented, as the tiny run was trained: adapting cannot help, and
    the round that was tried reads worse, so the original is kept."""
    from digits.blocks import split_pools
    from digits.compose import ComposeConfig, compose
    from digits.sources import load_mnist

    x, y = split_pools(load_mnist("embedded"))["test"]
    chunk = compose(x, y, 150, ComposeConfig(min_length=1, max_length=2, augment=False),
                    np.random.default_rng(5))
    (tmp_path / "same" / "images").mkdir(parents=True)
    for i, image in enumerate(chunk.images):
        Image.fromarray(image).save(tmp_path / "same" / "images" / f"s{i:03d}.png")
    status, stdout, err = run([tmp_path / "same", "--from", tiny_run, "--run-dir",
                               tmp_path / "out", *QUICK], capsys)
    assert status == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "round 1" in metrics["candidates"] and metrics["kept"] == "original"
    assert "kept the original model" in stdout


@pytest.mark.parametrize("base, best, synthetic, kept", [
    (0.80, 0.80, 0.95, "original"),  # no rise in agreement
    (0.80, 0.90, 0.80, "original"),  # agrees more, but forgot the synthetic sequences
    (0.80, 0.90, 0.94, "round 1"),
])
def test_guard(base, best, synthetic, kept):
    def candidate(agreement, exact):
        return Candidate(None, Readings([], np.zeros(1), np.zeros(1, int),
                                        np.array([agreement])), exact)

    chosen, why = guard(candidate(base, 0.95), {"round 1": candidate(best, synthetic)},
                        AdaptConfig())
    assert chosen == kept and why


def test_every_config_field_has_a_flag():
    assert set(FLAGS) == set(AdaptConfig.__dataclass_fields__)


def test_help_imports_no_tensorflow():
    from conftest import help_without_tensorflow

    assert "--run-dir" in help_without_tensorflow("model.adapt")


def test_bad_input_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    out = tmp_path / "out"
    cases = [
        ([empty, "--from", tiny_run, "--run-dir", out], "holds no images"),
        ([tmp_path / "missing", "--from", tiny_run, "--run-dir", out], "not a directory"),
        ([empty, "--from", tmp_path, "--run-dir", out], "model.keras"),
        ([empty, "--from", tiny_run, "--run-dir", out, "--rounds", "-1"], "out of range"),
    ]
    for args, message in cases:
        status, _, err = run(args, capsys)
        assert status == 2 and message in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_unreadable_images_are_counted_and_a_blocked_run_dir_refused(tiny_run, tmp_path,
                                                                      capsys):
    folder = thick_folder(tmp_path / "some", count=12, labels=False)
    (folder / "images" / "broken.png").write_bytes(b"not an image")
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a directory")
    status, _, err = run([folder, "--from", tiny_run, "--run-dir", blocked / "run"], capsys)
    assert status == 2 and "cannot write" in err
    out = tmp_path / "run"
    status, _, err = run([folder, "--from", tiny_run, "--run-dir", out, "--rounds", "0"],
                         capsys)
    assert status == 0, err
    assert "left out 1 image" in err
    assert json.loads((out / "metrics.json").read_text())["unreadable"] == 1
    # The same command again finds the finished run and does nothing.
    status, _, err = run([folder, "--from", tiny_run, "--run-dir", out, "--rounds", "0"],
                         capsys)
    assert status == 0 and "nothing to do" in err
    assert not list(tmp_path.glob(".run.partial-*"))
