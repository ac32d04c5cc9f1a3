"""model.inputs.datasets: the time steps CTC needs for a label, sequences composed anew."""

import numpy as np
import pytest

from conftest import fake_mnist, npz_dataset_at
from digits.compose import ComposeConfig
from digits.errors import DataError
from model.inputs.datasets import (
    FreshSequences,
    Split,
    check_fresh_time_steps,
    check_time_steps,
    fresh_pool,
    make_fresh_dataset,
    steps_needed,
    too_narrow,
)
from model.network import NetConfig


@pytest.mark.parametrize("text,steps", [
    ("", 0), ("7", 1), ("12", 2), ("11", 3), ("111", 5), ("1211", 5), ("00000", 9),
])
def test_steps_needed(text, steps):
    assert steps_needed(text) == steps


def test_too_narrow_uses_the_exact_ctc_bound():
    net = NetConfig()  # 4 columns per time step
    split = Split(["a", "b", "c", "d"], ["12", "11", "11", "123"], np.array([8, 8, 12, 8]))
    assert too_narrow(split, net).tolist() == [1, 3]


def test_check_time_steps_names_the_first_narrow_image():
    split = Split(["a.png", "b.png"], ["12", "11"], np.array([8, 8]))
    with pytest.raises(DataError, match=r"b.png: label '11' .* \(2 time steps, 3 needed\)"):
        check_time_steps(split, NetConfig())


def test_pad_images_pads_right_with_black():
    from model.inputs.datasets import pad_images

    a, b = np.full((3, 2), 7, np.uint8), np.full((3, 4), 9, np.uint8)
    batch = pad_images([a, b])
    assert batch.shape == (2, 3, 4, 1) and batch.dtype == np.uint8
    assert (batch[0, :, :2, 0] == 7).all() and (batch[0, :, 2:, 0] == 0).all()
    assert (batch[1, :, :, 0] == 9).all()


# ---------------------------------------------------------------------------
# Sequences composed anew every epoch (model.icr --fresh).


@pytest.fixture
def npz_dataset(tmp_path):
    return npz_dataset_at(tmp_path)


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
