"""model.reading.folder: finding and reading labelled folders, the fixed hold-out, preparing images,
and leaving out images too narrow for their labels; model.training.finetune's split."""

import numpy as np
import pytest
from PIL import Image

from digits.errors import DataError
from model.network import NetConfig
from model.reading.folder import (
    Folder,
    drop_too_narrow,
    find_folder,
    half,
    holdout_mask,
    in_holdout,
    prepare_folder,
    read_folder,
)
from model.training.finetune import FinetuneConfig, finetune_data


def test_the_holdout_depends_only_on_the_file_name():
    names = [f"images/{i:05d}.jpg" for i in range(2000)]
    held = [n for n in names if in_holdout(n, 0.1)]
    assert 150 < len(held) < 250  # about a tenth
    folder = Folder(None, names[::-1], names[::-1], ["1"] * len(names))
    assert [n for n, h in zip(folder.names, holdout_mask(folder, 0.1), strict=True) if h] == \
        held[::-1]
    assert set(held) <= {n for n in names if in_holdout(n, 0.3)}  # a larger part contains it
    assert held != [n for n in names if in_holdout(n, 0.1, salt="other")]


# Fixed here so that a change to the hash, its salt or the threshold, which would move
# images between the halves and void every tune/report figure, fails loudly.
KNOWN_HALVES = {"images/00000.png": "tune", "images/00001.png": "tune",
                "images/00002.png": "tune", "images/00003.png": "report",
                "images/00004.png": "report", "images/00005.png": "report"}


def test_the_tune_report_split_is_fixed_by_the_file_name_alone():
    names = [f"images/{i:05d}.png" for i in range(4000)]
    sides = [half(n) for n in names]
    assert set(sides) == {"tune", "report"}
    assert 1900 < sides.count("report") < 2100  # about half
    assert {n: half(n) for n in KNOWN_HALVES} == KNOWN_HALVES
    # Not the fine-tuning hold-out's split under another name: the salts differ.
    assert sides != ["report" if in_holdout(n, 0.5) else "tune" for n in names]
    folder = Folder(None, names[::-1], names[::-1], ["1"] * len(names))
    report = folder.half("report")
    assert report.names == [n for n in names[::-1] if half(n) == "report"]
    assert len(report) + len(folder.half("tune")) == len(folder)
    with pytest.raises(ValueError):
        folder.half("test")


def labelled_folder(root, texts, width=60):
    """Dark digits-like blocks on light paper, one image per label."""
    (root / "images").mkdir(parents=True)
    rows = ["file_name,text"]
    for i, text in enumerate(texts):
        image = np.full((40, width), 235, np.uint8)
        for k in range(len(text)):
            image[10:30, 6 + 14 * k: 14 + 14 * k] = 20
        Image.fromarray(image).save(root / "images" / f"{i}.png")
        rows.append(f"images/{i}.png,{text}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_find_folder_tells_folders_from_datasets(tmp_path):
    folder = labelled_folder(tmp_path / "cells", ["1"])
    assert find_folder(str(folder)) == folder
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "manifest.json").write_text("{}")
    assert find_folder(str(tmp_path / "ds")) is None
    assert find_folder(str(tmp_path / "nothing")) is None
    (tmp_path / "only_images" / "images").mkdir(parents=True)  # labels.csv is what is missing
    assert find_folder(str(tmp_path / "only_images")) == tmp_path / "only_images"


def test_prepare_folder_writes_model_height_pngs(tmp_path):
    folder = read_folder(labelled_folder(tmp_path / "cells", ["4", "12", "905"]))
    assert folder.names == ["images/0.png", "images/1.png", "images/2.png"]
    prepared = prepare_folder(folder, 28, tmp_path / "out", log=lambda m: None)
    assert prepared.names == folder.names and prepared.split.texts == ["4", "12", "905"]
    for path, width in zip(prepared.split.files, prepared.split.widths, strict=True):
        image = np.asarray(Image.open(path))
        assert image.shape == (28, width) and image.dtype == np.uint8
        assert image[0].max() == 0 and image.max() == 255  # white ink on black, as in training


def test_narrow_images_are_dropped_with_a_reason(tmp_path):
    folder = read_folder(labelled_folder(tmp_path / "cells", ["4", "1111111111", "12"]))
    prepared = prepare_folder(folder, 28, tmp_path / "out", log=lambda m: None)
    messages = []
    rest, dropped = drop_too_narrow(prepared, NetConfig(), messages.append)
    assert rest.names == ["images/0.png", "images/2.png"] and rest.split.texts == ["4", "12"]
    assert list(dropped) == ["images/1.png"] and "needs 19 time steps" in dropped["images/1.png"]
    assert len(messages) == 1 and "images/1.png" in messages[0]


def test_finetune_data_splits_by_the_holdout_and_refuses_an_empty_part(tmp_path):
    texts = [str(i % 10) * (1 + i % 2) for i in range(30)]
    folder = read_folder(labelled_folder(tmp_path / "cells", texts))
    data = finetune_data(folder, NetConfig(), FinetuneConfig(val_fraction=0.3),
                         tmp_path / "out", log=lambda m: None)
    held = [n for n in folder.names if in_holdout(n, 0.3)]
    assert len(data.val) == len(held) > 0 and len(data.train) == 30 - len(held)
    assert data.info["val"] == len(held) and data.info["listed"] == 30
    with pytest.raises(DataError, match="validation part"):
        finetune_data(folder, NetConfig(), FinetuneConfig(val_fraction=1e-9), tmp_path / "o2",
                      log=lambda m: None)
