import dataclasses
import hashlib
import json

import numpy as np
import pytest
from PIL import Image

import digits.blocks as blocks
from conftest import TEST_INK, TRAIN_INK, fake_mnist
from digits.blocks import compose_block
from digits.compose import ComposeConfig
from digits.dataset import Counts, read_labels, read_manifest, write_dataset
from digits.errors import DataError

SMALL = Counts(train=620, val=130, test=240)  # several blocks and worker tasks per split


def tree_hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in {".png", ".csv"}}


def test_bytes_do_not_depend_on_workers_but_on_seed(tmp_path, mnist):
    cfg = ComposeConfig(min_length=3, max_length=6)
    write_dataset(tmp_path / "w1", mnist, cfg, SMALL, seed=7, workers=1)
    write_dataset(tmp_path / "w2", mnist, cfg, SMALL, seed=7, workers=2)
    write_dataset(tmp_path / "s8", mnist, cfg, SMALL, seed=8, workers=2)
    h1, h2, h8 = (tree_hashes(tmp_path / d) for d in ("w1", "w2", "s8"))
    assert len(h1) == sum(n for _, n in SMALL.items()) + 3
    assert h1 == h2
    differing = [k for k in h1 if h1[k] != h8[k]]
    assert len(differing) > 0.9 * len(h1)


@pytest.mark.parametrize("augment", [False, True])
def test_test_split_uses_only_test_digits(tmp_path, mnist, augment):
    """Train/val digits are tagged with one ink value and test digits with another."""
    out = tmp_path / "d"
    write_dataset(out, mnist, ComposeConfig(augment=augment), Counts(60, 20, 40), seed=1)
    for split in ("train", "val", "test"):
        files, _ = read_labels(out / split)
        peaks = [np.asarray(Image.open(f)).max() for f in files]
        if split == "test":
            assert min(peaks) > (TRAIN_INK + TEST_INK) / 2
        else:
            assert max(peaks) < (TRAIN_INK + TEST_INK) / 2
        if not augment:
            values = set(np.unique(np.concatenate([np.asarray(Image.open(f)).ravel()
                                                   for f in files])))
            assert values == {0, TEST_INK if split == "test" else TRAIN_INK}


def test_val_digits_are_disjoint_from_train_digits(mnist):
    x = mnist.x_train.copy()
    ids = np.arange(len(x))
    x[:, 0, 0], x[:, 0, 1] = ids % 256, ids // 256  # a unique id in the corner
    pools = blocks.split_pools(dataclasses.replace(mnist, x_train=x))
    ids = {s: set((p[0][:, 0, 0].astype(int) + 256 * p[0][:, 0, 1].astype(int)).tolist())
           for s, p in pools.items() if s != "test"}
    assert not ids["train"] & ids["val"]
    assert ids["train"] | ids["val"] == set(range(len(x)))
    assert len(ids["val"]) == len(x) // 10


def test_pngs_on_disk_rebuild_exactly_without_augmentation(tmp_path, mnist):
    cfg = ComposeConfig(augment=False, min_length=1, max_length=4)
    out = tmp_path / "d"
    write_dataset(out, mnist, cfg, Counts(150, 0, 0), seed=3)
    files, texts = read_labels(out / "train")
    pool = blocks.split_pools(mnist)["train"]
    expected = compose_block(pool, "train", 1, 50, cfg, seed=3)  # images 100..149
    for i in range(50):
        image = np.asarray(Image.open(files[100 + i]))
        idx = expected.indices[i]
        assert np.array_equal(image, np.concatenate(list(pool[0][idx]), axis=1))
        assert texts[100 + i] == "".join(str(d) for d in pool[1][idx])


def test_manifest_describes_the_dataset(tmp_path, mnist):
    out = tmp_path / "d"
    cfg = ComposeConfig(max_length=7)
    write_dataset(out, mnist, cfg, Counts(10, 5, 5), seed=11)
    m = read_manifest(out)
    assert m["seed"] == 11 and m["compose"] == cfg.to_dict()
    assert {s: v["count"] for s, v in m["splits"].items()} == {"train": 10, "val": 5, "test": 5}
    for split, v in m["splits"].items():
        digest = hashlib.sha256((out / split / "labels.csv").read_bytes()).hexdigest()
        assert v["labels_sha256"] == digest
    assert m["source"]["sha256"] == mnist.sha256
    assert m["source"]["writer_disjoint_test"] is True


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("existing", [False, True])
def test_an_error_mid_run_leaves_no_output_and_no_temporary(tmp_path, mnist, monkeypatch,
                                                            existing):
    out = tmp_path / "d"
    if existing:
        write_dataset(out, mnist, ComposeConfig(), Counts(5, 5, 5), seed=1)
        before = tree_hashes(out)
    calls = {"n": 0}
    real = blocks.encode_png

    def flaky(image):
        calls["n"] += 1
        if calls["n"] > 250:
            raise Boom("disk on fire")
        return real(image)

    monkeypatch.setattr(blocks, "encode_png", flaky)
    with pytest.raises(Boom):
        write_dataset(out, mnist, ComposeConfig(), SMALL, seed=1, overwrite=existing)
    assert calls["n"] > 250
    assert sorted(p.name for p in tmp_path.iterdir()) == (["d"] if existing else [])
    if existing:
        assert tree_hashes(out) == before


def test_existing_output_is_refused_without_overwrite(tmp_path, mnist):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="overwrite"):
        write_dataset(tmp_path / "d", mnist, ComposeConfig(), Counts(1, 1, 1), seed=1)


@pytest.mark.parametrize("content,match", [
    ("file_name,text\nimages/a.png,12x\n", "not a digit string"),
    ("name,label\n", "header"),
    ("file_name,text\nimages/missing.png,12\n", "missing"),
    ("file_name,text\n", "no images"),
])
def test_bad_labels_are_one_line_errors(tmp_path, content, match):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(DataError, match=match):
        read_labels(tmp_path)


@pytest.mark.parametrize("manifest,match", [
    (None, "no manifest"),
    ("{not json", "not valid JSON"),
    (json.dumps({"schema_version": 99}), "schema version 99"),
])
def test_bad_manifests(tmp_path, manifest, match):
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(DataError, match=match):
        read_manifest(tmp_path)


def test_fixture_is_tagged():
    m = fake_mnist()
    assert set(np.unique(m.x_train)) == {0, TRAIN_INK}


@pytest.mark.parametrize("shape", [(28, 140), (16, 1), (40, 333)])
def test_png_encoder_round_trips_through_pillow(shape):
    import io

    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(blocks.encode_png(image)))
    assert decoded.mode == "L" and np.array_equal(np.asarray(decoded), image)
