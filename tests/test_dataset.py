"""digits.dataset: the PNG dataset format, written atomically; its manifest and labels."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

import digits.blocks as blocks
from conftest import TEST_INK, TRAIN_INK
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
