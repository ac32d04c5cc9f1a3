"""digits.fonts: digits rendered from fonts in MNIST's layout, joining the train pool only."""

import hashlib
import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from conftest import npz_dataset_at
from digits import fonts
from digits.errors import DataError
from digits.sequence_generator import main as generate
from model.inputs.datasets import fresh_pool

# Fonts every machine with the project's requirements has: matplotlib's own.
MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@pytest.fixture
def font_dir(tmp_path):
    """One family in two weights, named as Fontsource names its files."""
    d = tmp_path / "fonts"
    d.mkdir()
    shutil.copy(MPL_FONTS / "DejaVuSans.ttf", d / "dejavu-latin-400-normal.ttf")
    shutil.copy(MPL_FONTS / "DejaVuSans-Bold.ttf", d / "dejavu-latin-700-normal.ttf")
    shutil.copy(MPL_FONTS / "DejaVuSerif.ttf", d / "serif-latin-400-normal.ttf")
    return d


def test_a_family_is_its_weights(font_dir):
    found = fonts.find_fonts(font_dir)
    assert sorted(found) == ["dejavu", "serif"]
    assert len(found["dejavu"]) == 2 and len(found["serif"]) == 1


def test_digits_are_laid_out_as_mnists(font_dir):
    pool = fonts.render_pool(font_dir, 100, seed=1)
    assert pool.x.shape == (100, 28, 28) and pool.x.dtype == np.uint8
    assert np.bincount(pool.y, minlength=10).tolist() == [10] * 10  # 2 families x 5 each
    for image in pool.x:
        rows, cols = np.nonzero(image > 30)
        # The longer side of the ink fills MNIST's 20-pixel box, never the whole image.
        longer = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        assert 17 <= longer <= 21
        weights = image.astype(float)
        r, c = np.indices(image.shape)
        assert abs((r * weights).sum() / weights.sum() - 14) < 1.5
        assert abs((c * weights).sum() / weights.sum() - 14) < 1.5


def test_the_seed_fixes_every_byte(font_dir):
    a = fonts.render_pool(font_dir, 40, seed=3)
    b = fonts.render_pool(font_dir, 40, seed=3)
    c = fonts.render_pool(font_dir, 40, seed=4)
    assert a.sha256 == b.sha256 and np.array_equal(a.x, b.x)
    assert a.sha256 != c.sha256


def test_a_font_without_digits_or_a_folder_without_fonts_is_refused(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no font file"):
        fonts.find_fonts(tmp_path / "none")
    with pytest.raises(DataError, match="no font folder"):
        fonts.find_fonts(tmp_path / "missing")
    (tmp_path / "symbols").mkdir()
    # A symbol font: every digit is its missing-glyph box, which must not pass for a digit.
    shutil.copy(MPL_FONTS / "STIXSizFiveSymReg.ttf", tmp_path / "symbols")
    with pytest.raises(DataError, match="draws no digit 0"):
        fonts.render_pool(tmp_path / "symbols", 20, seed=1)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.ttf").write_bytes(b"not a font")
    with pytest.raises(DataError, match="cannot read the font"):
        fonts.render_pool(tmp_path / "broken", 20, seed=1)


def split_digests(root, split):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / split / "images").glob("*.png"))}


def test_fonts_join_the_train_pool_only_and_training_reloads_them(tmp_path, font_dir):
    plain, npz = npz_dataset_at(tmp_path)
    out = tmp_path / "fonted"
    assert generate(["--source", "file", "--mnist", str(npz), "--out", str(out),
                     "--min-length", "1", "--max-length", "4", "--count-train", "64",
                     "--count-val", "16", "--count-test", "16", "--workers", "1",
                     "--fonts", str(font_dir), "--font-share", "0.5"]) == 0
    record = json.loads((out / "manifest.json").read_text())["source"]["fonts"]
    assert record["families"] == ["dejavu", "serif"]
    # Validation and test are MNIST's alone: the same bytes as without fonts.
    for split in ("val", "test"):
        assert split_digests(out, split) == split_digests(plain, split)
    assert split_digests(out, "train") != split_digests(plain, "train")
    manifest = json.loads((out / "manifest.json").read_text())
    mnist_train = len(fresh_pool(json.loads((plain / "manifest.json").read_text()), 8).y)
    pool = fresh_pool(manifest, 8, out)
    # A share of 0.5: as many font digits as MNIST's (rounded up per family and class).
    assert len(pool.y) - mnist_train == record["digits"] >= mnist_train
    x, y = fonts.load_pool(out, record)
    assert np.array_equal(pool.x[mnist_train:], x) and np.array_equal(pool.y[mnist_train:], y)
    with pytest.raises(DataError, match="give its folder"):
        fresh_pool(manifest, 8)
    np.savez_compressed(out / fonts.FONT_FILE, x=x[::-1], y=y[::-1])
    with pytest.raises(DataError, match="regenerate"):
        fresh_pool(manifest, 8, out)


def test_a_prepared_copy_keeps_the_font_pool(tmp_path, font_dir):
    from model.training.prepared import prepare_dataset

    src = tmp_path / "src"
    assert generate(["--out", str(src), "--count-train", "6", "--count-val", "2",
                     "--count-test", "2", "--workers", "1", "--fonts", str(font_dir)]) == 0
    out = tmp_path / "prepared"
    manifest = prepare_dataset(src, out, share=0.5, seed=1, workers=1, log=lambda *a: None)
    x, _ = fonts.load_pool(out, manifest["source"]["fonts"])
    assert len(x) == manifest["source"]["fonts"]["digits"]
