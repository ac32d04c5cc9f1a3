"""Training on sequences composed anew every epoch (--fresh)."""

import numpy as np
import pytest

from conftest import fake_mnist
from digits.compose import ComposeConfig
from digits.errors import DataError
from digits.sequence_generator import main as generate
from model.icr import main as icr
from model.inputs.datasets import (
    FreshSequences,
    check_fresh_time_steps,
    fresh_pool,
    make_fresh_dataset,
)
from model.network import NetConfig


@pytest.fixture
def npz_dataset(tmp_path):
    m = fake_mnist()
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=m.x_train, y_train=m.y_train, x_test=m.x_test, y_test=m.y_test)
    out = tmp_path / "ds"
    assert generate(["--source", "file", "--mnist", str(npz), "--out", str(out),
                     "--min-length", "1", "--max-length", "4", "--count-train", "64",
                     "--count-val", "16", "--count-test", "16", "--workers", "1"]) == 0
    return out, npz


def test_each_epoch_is_new_and_the_seed_fixes_it(npz_dataset):
    from digits.dataset import read_manifest

    fresh = fresh_pool(read_manifest(npz_dataset[0]), 40)
    assert len(fresh.x) == 270  # the training pool: x_train minus every tenth digit

    def epochs(seed):
        ds = make_fresh_dataset(fresh, 16, seed)
        return [[np.asarray(y) for _, y in ds] for _ in range(2)]

    a, b = epochs(1), epochs(1)
    assert sum(len(y) for y in a[0]) == 40
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a[0], a[1], strict=True))


def test_a_changed_source_is_refused(npz_dataset):
    from digits.dataset import read_manifest

    out, npz = npz_dataset
    m = fake_mnist(seed=9)
    np.savez(npz, x_train=m.x_train, y_train=m.y_train, x_test=m.x_test, y_test=m.y_test)
    with pytest.raises(DataError, match="has changed"):
        fresh_pool(read_manifest(out), 10)


def test_narrow_compositions_are_refused_before_training():
    fresh = FreshSequences(np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8),
                           ComposeConfig(), 10)
    check_fresh_time_steps(fresh, NetConfig())
    wide_pooling = NetConfig(pools=((2, 2), (2, 2), (2, 2)))
    with pytest.raises(DataError, match="too narrow"):
        check_fresh_time_steps(fresh, wide_pooling)


def test_icr_trains_with_fresh_sequences(npz_dataset, tmp_path, capsys):
    out, _ = npz_dataset
    status = icr([str(out), "--preset", "tiny", "--fresh", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "new sequences per epoch" in err
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_history_has_every_epoch(npz_dataset, tmp_path, capsys):
    import csv

    out, _ = npz_dataset
    run = tmp_path / "run"
    assert icr([str(out), "--preset", "tiny", "--fresh", "--epochs", "3", "--run-dir",
                str(run)]) == 0
    with open(run / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]


def test_pad_images_pads_right_with_black():
    from model.inputs.datasets import pad_images

    a, b = np.full((3, 2), 7, np.uint8), np.full((3, 4), 9, np.uint8)
    batch = pad_images([a, b])
    assert batch.shape == (2, 3, 4, 1) and batch.dtype == np.uint8
    assert (batch[0, :, :2, 0] == 7).all() and (batch[0, :, 2:, 0] == 0).all()
    assert (batch[1, :, :, 0] == 9).all()
