"""The TFRecord dataset format: the same images and labels as the PNG format, sharded."""

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import digits.blocks as blocks
from digits.compose import ComposeConfig
from digits.dataset import Counts, read_labels, read_manifest, write_dataset
from digits.tfrecord import decode_example, read_records

SMALL = Counts(train=620, val=130, test=240)  # several blocks per split
CFG = ComposeConfig(min_length=2, max_length=6)


def shard_records(root, split):
    manifest = read_manifest(root)
    for shard in manifest["splits"][split]["shards"]:
        yield from (decode_example(r) for r in read_records(root / shard["file"]))


def file_hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    from conftest import fake_mnist

    root = tmp_path_factory.mktemp("both")
    mnist = fake_mnist()
    write_dataset(root / "png", mnist, CFG, SMALL, seed=7, workers=2)
    # 150 is not a multiple of the 100-sequence block: shards cut through blocks.
    write_dataset(root / "tfr", mnist, CFG, SMALL, seed=7, workers=2, fmt="tfrecord",
                  shard_size=150)
    return root / "png", root / "tfr", mnist


def test_same_seed_same_images_and_labels_in_both_formats(both):
    png, tfr, _ = both
    for split, count in SMALL.items():
        files, texts = read_labels(png / split)
        records = list(shard_records(tfr, split))
        assert len(records) == count == len(files)
        for f, text, (data, t, width) in zip(files, texts, records, strict=True):
            assert t == text
            assert data == open(f, "rb").read()  # the very same PNG bytes
            assert Image.open(io.BytesIO(data)).width == width


def test_manifest_lists_every_shard_with_its_count_and_checksum(both):
    _, tfr, mnist = both
    m = read_manifest(tfr)
    assert m["schema_version"] == 2 and m["format"] == "tfrecord" and m["seed"] == 7
    assert m["source"]["sha256"] == mnist.sha256 and m["compose"] == CFG.to_dict()
    train = m["splits"]["train"]
    assert train["count"] == 620 and train["shard_size"] == 150
    assert [s["count"] for s in train["shards"]] == [150, 150, 150, 150, 20]
    assert [s["file"] for s in train["shards"]][-1] == "train/train-00004-of-00005.tfrecord"
    for split in ("train", "val", "test"):
        for shard in m["splits"][split]["shards"]:
            digest = hashlib.sha256((tfr / shard["file"]).read_bytes()).hexdigest()
            assert shard["sha256"] == digest
        widths: dict[str, int] = {}
        for _, text, width in shard_records(tfr, split):
            widths[str(len(text))] = min(width, widths.get(str(len(text)), width))
        assert m["splits"][split]["narrowest_width"] == widths
    assert sorted(p.name for p in tfr.iterdir()) == ["manifest.json", "test", "train", "val"]


def test_png_datasets_keep_the_first_schema(both):
    png, _, _ = both
    m = json.loads((png / "manifest.json").read_text())
    assert m["schema_version"] == 1 and "format" not in m
    assert list(m)[:2] == ["schema_version", "generator_version"]


def test_workers_and_shard_size_do_not_change_the_records(tmp_path, both):
    _, tfr, mnist = both
    write_dataset(tmp_path / "w1", mnist, CFG, SMALL, seed=7, workers=1, fmt="tfrecord",
                  shard_size=150)
    assert file_hashes(tmp_path / "w1") == file_hashes(tfr)
    write_dataset(tmp_path / "big", mnist, CFG, SMALL, seed=7, workers=2, fmt="tfrecord")
    assert [len(read_manifest(tmp_path / "big")["splits"][s]["shards"]) for s in
            ("train", "val", "test")] == [1, 1, 1]
    for split in ("train", "val", "test"):
        assert list(shard_records(tmp_path / "big", split)) == list(shard_records(tfr, split))


def test_another_seed_gives_other_records(tmp_path, both):
    _, tfr, mnist = both
    write_dataset(tmp_path / "s8", mnist, CFG, Counts(150, 0, 0), seed=8, fmt="tfrecord",
                  shard_size=150)
    a = list(shard_records(tfr, "train"))[:150]
    b = list(shard_records(tmp_path / "s8", "train"))
    assert sum(x[0] != y[0] for x, y in zip(a, b, strict=True)) > 140


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("existing", [False, True])
def test_an_error_mid_run_leaves_no_output(tmp_path, mnist, monkeypatch, existing):
    out = tmp_path / "d"
    if existing:
        write_dataset(out, mnist, CFG, Counts(5, 5, 5), seed=1, fmt="tfrecord")
        before = file_hashes(out)
    calls = {"n": 0}
    real = blocks.encode_png

    def flaky(image):
        calls["n"] += 1
        if calls["n"] > 250:
            raise Boom("disk on fire")
        return real(image)

    monkeypatch.setattr(blocks, "encode_png", flaky)
    with pytest.raises(Boom):
        write_dataset(out, mnist, CFG, SMALL, seed=1, overwrite=existing, fmt="tfrecord",
                      shard_size=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["d"] if existing else [])
    if existing:
        assert file_hashes(out) == before


def test_an_empty_split_has_no_shards(tmp_path, mnist):
    write_dataset(tmp_path / "d", mnist, CFG, Counts(3, 0, 2), seed=1, fmt="tfrecord")
    m = read_manifest(tmp_path / "d")
    assert m["splits"]["val"]["shards"] == [] and m["splits"]["val"]["count"] == 0
    assert np.sum([s["count"] for s in m["splits"]["test"]["shards"]]) == 2
