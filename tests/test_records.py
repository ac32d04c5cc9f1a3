"""Streaming TFRecord datasets into training and evaluation, and damaged shards."""

import json
import shutil

import numpy as np
import pytest

import model.inputs.datasets as data
import model.inputs.records as records
from conftest import fake_mnist, run_main
from digits.compose import ComposeConfig
from digits.dataset import Counts, read_manifest, write_dataset
from model.icr import main
from model.inputs.datasets import load_split, make_dataset, open_split
from model.vocab import decode_batch

COUNTS = Counts(96, 32, 32)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    cfg = ComposeConfig(min_length=1, max_length=4)
    write_dataset(root / "png", fake_mnist(), cfg, COUNTS, seed=5)
    write_dataset(root / "tfr", fake_mnist(), cfg, COUNTS, seed=5, fmt="tfrecord",
                  shard_size=40)
    return root / "png", root / "tfr"


def sharded(root, name="train", **kwargs):
    return open_split(root, read_manifest(root), name, 28, **kwargs)


def copy(src, tmp_path):
    shutil.copytree(src, tmp_path / "ds")
    return tmp_path / "ds"


def run(args, capsys):
    status, _, err = run_main(main, args, capsys)
    return status, err


def test_both_formats_stream_the_same_batches(datasets):
    png, tfr = datasets
    for name in ("train", "test"):
        a = make_dataset(load_split(png, name, 28), 16, 28, widths=True)
        b = make_dataset(sharded(tfr, name), 16, 28, widths=True)
        for (xa, ya, wa), (xb, yb, wb) in zip(a, b, strict=True):
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            assert decode_batch(ya.numpy()) == decode_batch(yb.numpy())
            np.testing.assert_array_equal(wa.numpy(), wb.numpy())


def test_shuffled_epochs_hold_every_record_once_in_a_seeded_order(datasets):
    _, tfr = datasets
    split = sharded(tfr)
    assert len(split) == 96 and len(split.shards) == 3

    def epochs(seed):
        ds = make_dataset(split, 16, 28, shuffle_seed=seed)
        assert int(ds.cardinality()) == 6  # known, so Keras can count steps
        return [sum((decode_batch(y.numpy()) for _, y in ds), []) for _ in range(2)]

    first, second = epochs(3)
    assert sorted(first) == sorted(second) == sorted(sum(
        (decode_batch(y.numpy()) for _, y in make_dataset(split, 16, 28)), []))
    assert first != second
    assert epochs(3) == [first, second]


def test_uncached_png_splits_shuffle_names_then_decode(datasets, monkeypatch):
    png, _ = datasets
    split = load_split(png, "train", 28)
    cached = sorted(sum((decode_batch(y.numpy()) for _, y in
                         make_dataset(split, 16, 28, shuffle_seed=1)), []))
    monkeypatch.setattr(data, "PNG_CACHE_LIMIT", 10)
    streamed = sum((decode_batch(y.numpy()) for _, y in
                    make_dataset(split, 16, 28, shuffle_seed=1)), [])
    assert sorted(streamed) == cached == sorted(split.texts)


def test_icr_trains_and_evaluates_a_tfrecord_dataset(datasets, tmp_path, capsys):
    _, tfr = datasets
    run_dir = tmp_path / "run"
    status, err = run([tfr, "--preset", "tiny", "--run-dir", run_dir], capsys)
    assert status == 0, err
    assert "training on 96 sequences, validating on 32" in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["greedy"]["count"] == metrics["beam"]["count"] == 32
    assert (run_dir / "samples.png").is_file()
    status, err = run([tfr, "--evaluate", run_dir], capsys)
    assert status == 0, err
    again = json.loads((run_dir / f"eval_{tfr.name}.json").read_text())
    assert again == metrics


def flip_a_byte(path, record=1):
    data = bytearray(path.read_bytes())
    offset = 0
    for _ in range(record):  # skip whole records: 8 + 4 + length + 4 bytes each
        offset += 16 + int.from_bytes(data[offset:offset + 8], "little")
    data[offset + 40] ^= 0xFF  # inside that record's data
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


DAMAGE = {
    "flipped byte": (flip_a_byte, "train/train-00001-of-00003.tfrecord", "corrupt"),
    "truncated": (truncate, "val/val-00000-of-00001.tfrecord", "truncated"),
    "missing": (lambda p: p.unlink(), "test/test-00000-of-00001.tfrecord", "missing"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_shard_is_a_one_line_error_naming_it(case, datasets, tmp_path, capsys):
    spoil, name, needle = DAMAGE[case]
    ds = copy(datasets[1], tmp_path)
    spoil(ds / name)
    run_dir = tmp_path / "run"
    status, err = run([ds, "--preset", "tiny", "--run-dir", run_dir], capsys)
    assert status == 2 and "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and needle in errors[0], err
    assert err.strip().splitlines()[-1] == errors[0]
    assert not run_dir.exists()


def test_skip_corrupt_leaves_out_the_bad_records_and_counts_them(datasets, tmp_path, capsys):
    ds = copy(datasets[1], tmp_path)
    flip_a_byte(ds / "train/train-00001-of-00003.tfrecord", record=5)
    truncate(ds / "train/train-00002-of-00003.tfrecord")  # its last record is cut
    split = sharded(ds, skip_corrupt=True, log=lambda m: None)
    assert split.skipped == 2 and len(split) == 94
    texts = sum((decode_batch(y.numpy()) for _, y in make_dataset(split, 16, 28)), [])
    clean = sum((decode_batch(y.numpy()) for _, y in
                 make_dataset(sharded(datasets[1]), 16, 28)), [])
    assert len(texts) == 94 and sorted(texts) == sorted(clean[:45] + clean[46:95])

    run_dir = tmp_path / "run"
    status, err = run([ds, "--preset", "tiny", "--epochs", "1", "--run-dir", run_dir,
                       "--skip-corrupt"], capsys)
    assert status == 0, err
    assert "skipping 1 of its 40 records" in err and "2 train records skipped" in err
    assert "training on 94 sequences" in err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["skipped_records"] == {"train": 2}


def test_damage_during_training_names_the_shard(datasets, tmp_path, capsys, monkeypatch):
    ds = copy(datasets[1], tmp_path)
    truncate(ds / "train/train-00002-of-00003.tfrecord")
    monkeypatch.setattr(records, "check_shard", lambda root, shard: None)  # damaged later
    status, err = run([ds, "--preset", "tiny", "--epochs", "1", "--run-dir", tmp_path / "r"],
                      capsys)
    assert status == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "train-00002-of-00003.tfrecord" in last and "truncated" in last, err


def test_skip_corrupt_is_for_tfrecord_datasets(datasets, tmp_path, capsys):
    status, err = run([datasets[0], "--skip-corrupt", "--run-dir", tmp_path / "r"], capsys)
    assert status == 2 and "TFRecord" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_time_steps_are_checked_from_the_manifest(datasets):
    from digits.errors import DataError
    from model.inputs.datasets import check_time_steps
    from model.network import NetConfig

    split = sharded(datasets[1])
    check_time_steps(split, NetConfig())
    with pytest.raises(DataError, match="longer than the model can emit"):
        check_time_steps(split, NetConfig(pools=((2, 2), (2, 4), (2, 4))))
