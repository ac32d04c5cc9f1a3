"""model.training.prepared: a dataset whose training images went through reading's
preparation, the rest and the labels left as generated."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from digits.sequence_generator import main as generate
from model.training import prepared
from model.training.prepared import main, prepare_image


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("src") / "data"
    assert generate(["--realistic", "--out", str(out), "--count-train", "40",
                     "--count-val", "10", "--count-test", "10", "--workers", "1"]) == 0
    return out


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_share_of_train_and_val_is_prepared_and_the_rest_kept(dataset, tmp_path):
    before = digest(dataset)
    out = tmp_path / "prepared"
    assert main([str(dataset), str(out), "--share", "0.5", "--workers", "1"]) == 0
    assert digest(dataset) == before  # the source is never written through its links
    after = digest(out)
    for split in ("train", "val", "test"):
        assert after[f"{split}/labels.csv"] == before[f"{split}/labels.csv"]
    images = [n for n in before if n.endswith(".png")]
    changed = {n for n in images if after[n] != before[n]}
    assert not any(n.startswith("test/") for n in changed)  # the test split stays generated
    train = [n for n in images if n.startswith("train/")]
    assert 0.2 * len(train) < sum(n.startswith("train/") for n in changed) < 0.8 * len(train)
    for name in changed:
        image = np.asarray(Image.open(out / name))
        assert image.shape[0] == 28 and image.dtype == np.uint8
    import json

    info = json.loads((out / "manifest.json").read_text())["prepared"]
    assert info["share"] == 0.5 and set(info["splits"]) == {"train", "val"}
    assert info["splits"]["train"]["prepared"] == sum(n.startswith("train/") for n in changed)


def test_the_same_seed_gives_the_same_bytes(dataset, tmp_path):
    for name in ("a", "b"):
        assert main([str(dataset), str(tmp_path / name), "--share", "0.5", "--seed", "3",
                     "--workers", "1" if name == "a" else "2"]) == 0
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert main([str(dataset), str(tmp_path / "c"), "--share", "0.5", "--seed", "4",
                 "--workers", "1"]) == 0
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_an_image_that_lost_ink_stays_generated(monkeypatch):
    direct = np.zeros((28, 80), np.uint8)
    direct[4:24, 4:76:12] = 255  # six "1"s across the image
    assert prepare_image(direct, 1, "train", 0)[1] in ("full", "light")

    def losing(gray, cfg):  # a preparation that erases the last digits
        from model.reading.preprocess import Prepared

        return Prepared(direct[:, :40].copy())

    monkeypatch.setattr("model.reading.preprocess.prepare", losing)
    image, how = prepare_image(direct, 1, "train", 0)
    assert how == "generated" and image is direct
    assert prepared.KEEP < 1


@pytest.mark.parametrize("args, message", [
    (["--share", "1.5"], "--share"),
    (["--splits", "train,nope"], "--splits"),
])
def test_bad_flags_are_one_line_usage_errors(dataset, tmp_path, capsys, args, message):
    try:
        status = main([str(dataset), str(tmp_path / "out"), *args])
    except SystemExit as e:  # the parser's own errors
        status = e.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()


def test_an_existing_out_or_a_source_that_is_no_dataset_is_refused(dataset, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main([str(dataset), str(tmp_path / "out")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([str(tmp_path / "out"), str(tmp_path / "other")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
