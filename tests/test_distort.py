"""model.training.distort: writer variety drawn in the input pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from model.training.distort import (
    LOWRES_SMALLEST,
    DistortConfig,
    distort_batch,
    distorted,
    erase_batch,
    erased,
    lower_resolution,
    lowered,
    shear_batch,
    sheared,
    stretch_batch,
    stretched,
)


def _batch(n=4, width=60):
    rng = np.random.default_rng(0)
    images = np.zeros((n, 28, width, 1), np.float32)
    for i in range(n):  # a few bars of ink per image
        for _ in range(4):
            r, c = rng.integers(4, 20), rng.integers(4, width - 8)
            images[i, r:r + 6, c:c + 3, 0] = 255
    return tf.constant(images)


def test_strength_zero_changes_nothing():
    images = _batch()
    assert distort_batch(images, tf.constant([1, 2]), 0.0) is images


def test_each_image_changes_its_own_way_within_range_and_shape():
    images = _batch()
    out = distort_batch(images, tf.constant([1, 2]), 1.0).numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    change = np.abs(out - images.numpy()).sum(axis=(1, 2, 3))
    assert (change > 0).all()
    # The ink stays about where it was: the bend is a couple of pixels.
    for before, after in zip(images.numpy(), out, strict=True):
        cols_before = np.nonzero(before.sum(axis=(0, 2)))[0]
        cols_after = np.nonzero(after.sum(axis=(0, 2)) > 1)[0]
        assert abs(cols_after.min() - cols_before.min()) <= 6
        assert abs(cols_after.max() - cols_before.max()) <= 6


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    images = _batch()
    a = distort_batch(images, tf.constant([3, 4]), 1.0).numpy()
    b = distort_batch(images, tf.constant([3, 4]), 1.0).numpy()
    c = distort_batch(images, tf.constant([3, 5]), 1.0).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_heavier_and_lighter_strokes_follow_the_weight_draw():
    images = _batch(n=1)
    ink = float(images.numpy().sum())
    only_weight = DistortConfig(bend=0.0, slant=0.0, weight=1.0)
    sums = {float(distort_batch(images, tf.constant([s, 0]), 1.0, only_weight).numpy().sum())
            for s in range(8)}
    assert min(sums) < ink < max(sums)


def test_each_epoch_draws_anew_and_a_run_repeats():
    images, labels = _batch(n=6), tf.zeros((6, 5), tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)

    def epochs(seed):
        d = distorted(ds, 1.0, seed)
        return [[x.numpy() for x, _ in d] for _ in range(2)]

    first, again = epochs(7), epochs(7)
    for e in range(2):
        for a, b in zip(first[e], again[e], strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], first[1][0])
    assert distorted(ds, 0.0, 7) is ds


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_labels_pass_through(strength):
    images, labels = _batch(n=2), tf.constant([[1, 2, 0], [3, 0, 0]])
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    (_, got), = list(distorted(ds, strength, 0))
    np.testing.assert_array_equal(got.numpy(), labels.numpy())


def test_share_zero_keeps_the_resolution():
    images = _batch()
    assert lower_resolution(images, tf.constant([1, 2]), 0.0) is images


def test_lower_resolution_blurs_the_chosen_images_and_keeps_the_rest():
    images = _batch(n=64)
    out = lower_resolution(images, tf.constant([5, 6]), 0.5).numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    changed = np.abs(out - images.numpy()).sum(axis=(1, 2, 3)) > 0
    assert 10 < changed.sum() < 54  # about half the batch
    # A coarser copy scaled back: hard edges soften into grey, the ink stays put.
    blurred = out[changed]
    assert ((blurred > 5) & (blurred < 250)).sum() > ((images.numpy()[changed] > 5)
                                                       & (images.numpy()[changed] < 250)).sum()
    before = images.numpy()[changed].sum(axis=(1, 2, 3))
    np.testing.assert_allclose(blurred.sum(axis=(1, 2, 3)), before, rtol=0.2)


def test_lower_resolution_repeats_with_its_seed_and_reaches_the_smallest_factor():
    images = _batch(n=2)
    a = lower_resolution(images, tf.constant([3, 4]), 1.0).numpy()
    np.testing.assert_array_equal(a, lower_resolution(images, tf.constant([3, 4]), 1.0).numpy())
    # One bar of ink two pixels wide: at the smallest factor it spreads over more columns.
    bar = np.zeros((1, 28, 40, 1), np.float32)
    bar[0, 4:24, 20:22, 0] = 255
    widths = {int((lower_resolution(tf.constant(bar), tf.constant([s, 1]), 1.0).numpy()
                   [0, 14, :, 0] > 1).sum()) for s in range(40)}
    assert min(widths) >= 2 and max(widths) >= round(2 / LOWRES_SMALLEST)


def test_stretch_one_changes_nothing():
    images = _batch(n=3)
    assert stretch_batch(images, tf.constant([1, 2]), 1.0) is images


def _bar(n: int):
    """n images of one vertical bar of ink, columns 10 to 13, in a 40-pixel-wide row."""
    bar = np.zeros((n, 28, 40, 1), np.float32)
    bar[:, 5:23, 10:14, 0] = 255
    return tf.constant(bar)


def test_stretch_moves_and_widens_each_image_by_its_own_factor_within_range():
    out = stretch_batch(_bar(64), tf.constant([7, 8]), 1.3).numpy()
    assert out.dtype == np.float32 and out.shape[:2] == (64, 28) and out.shape[3] == 1
    assert 40 < out.shape[2] <= int(np.ceil(40 * 1.3))
    # The bar's centre (column 11.5) moves to 12 f - 0.5, its ink mass scales by about f,
    # and f lies within 1/1.3 .. 1.3, both narrower and wider hands drawn.
    row = out[:, 14, :, 0]
    factor = ((row * np.arange(out.shape[2])).sum(axis=1) / row.sum(axis=1) + 0.5) / 12
    assert factor.min() > 1 / 1.3 - 0.01 and factor.max() < 1.3 + 0.01
    assert factor.min() < 0.9 and factor.max() > 1.1
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)) / (255 * 18 * 4), factor, rtol=0.05)
    # Nothing but black right of each image's own stretched width.
    for image, f in zip(out, factor, strict=True):
        assert not image[:, int(np.ceil(40 * f)) + 1:].any()


def test_stretch_repeats_with_its_seed_and_differs_with_another():
    a = stretch_batch(_bar(4), tf.constant([3, 4]), 1.3).numpy()
    np.testing.assert_array_equal(a, stretch_batch(_bar(4), tf.constant([3, 4]), 1.3).numpy())
    b = stretch_batch(_bar(4), tf.constant([3, 5]), 1.3).numpy()
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_shear_zero_changes_nothing():
    images = _batch(n=3)
    assert shear_batch(images, tf.constant([1, 2]), 0.0) is images


def test_shear_leans_each_image_its_own_way_within_range_and_keeps_its_ink():
    out = shear_batch(_bar(64), tf.constant([7, 8]), 0.5).numpy()
    pad = int(np.ceil(0.5 * 28 / 2))
    assert out.dtype == np.float32 and out.shape == (64, 28, 40 + 2 * pad, 1)
    columns = np.arange(out.shape[2])
    # The bar's centre moves from column 11.5 to 11.5 + pad + shear * (13.5 - row): the
    # lean between its top (row 6) and bottom (row 21) rows gives each image's shear.
    top, bottom = ((out[:, r, :, 0] * columns).sum(axis=1) / out[:, r, :, 0].sum(axis=1)
                   for r in (6, 21))
    shear = (top - bottom) / 15
    assert shear.min() > -0.5 - 0.02 and shear.max() < 0.5 + 0.02
    assert shear.min() < -0.25 and shear.max() > 0.25  # both ways drawn
    middle = (out[:, 13, :, 0] * columns).sum(axis=1) / out[:, 13, :, 0].sum(axis=1)
    np.testing.assert_allclose(middle, 11.5 + pad + shear * 0.5, atol=0.1)
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 255 * 18 * 4, rtol=0.01)


def test_shear_repeats_with_its_seed_and_differs_with_another():
    a = shear_batch(_bar(4), tf.constant([3, 4]), 0.3).numpy()
    np.testing.assert_array_equal(a, shear_batch(_bar(4), tf.constant([3, 4]), 0.3).numpy())
    assert not np.array_equal(a, shear_batch(_bar(4), tf.constant([3, 5]), 0.3).numpy())


def test_erase_zero_changes_nothing():
    images = _batch(n=3)
    assert erase_batch(images, tf.constant([1, 2]), 0.0) is images


def test_erase_cuts_strokes_of_the_chosen_images_to_the_paper_in_small_squares():
    images = np.full((200, 28, 60, 1), 20.0, np.float32)  # grey paper
    images[:, 4:24, 30:33, 0] = 255  # one stroke, far from the left half
    out = erase_batch(tf.constant(images), tf.constant([5, 6]), 0.5).numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    changed = out != images
    assert (out[changed] == 20).all()  # cut to the paper, nothing added
    chosen = changed.any(axis=(1, 2, 3))
    assert 0.35 < chosen.mean() < 0.65  # about the share asked
    assert not changed[..., :20, :].any()  # centred on the stroke: the paper far off kept
    # Three squares of at most 0.22 of the height (6.16 pixels: 7 pixel centres across).
    cols = np.flatnonzero(changed.any(axis=(0, 1, 3)))
    assert cols.min() >= 31 - 4 and cols.max() <= 32 + 4
    assert changed[chosen].sum(axis=(1, 2, 3)).max() <= 3 * 7 * 7


def test_erase_repeats_with_its_seed_and_differs_with_another():
    a = erase_batch(_batch(8), tf.constant([3, 4]), 1.0).numpy()
    np.testing.assert_array_equal(a, erase_batch(_batch(8), tf.constant([3, 4]), 1.0).numpy())
    assert not np.array_equal(a, erase_batch(_batch(8), tf.constant([3, 5]), 1.0).numpy())


@pytest.mark.parametrize("wrap, on, off, images", [
    (lowered, 1.0, 0.0, lambda: _batch(6)),
    (stretched, 1.3, 1.0, lambda: _bar(6)),
    (sheared, 0.3, 0.0, lambda: _bar(6)),
    (erased, 1.0, 0.0, lambda: _batch(6)),
])
def test_each_batch_change_passes_labels_draws_each_epoch_anew_and_off_is_nothing(
        wrap, on, off, images):
    labels = tf.reshape(tf.range(30), (6, 5))
    ds = wrap(tf.data.Dataset.from_tensor_slices((images(), labels)).batch(6), on, 9)
    first, second = [[(x.numpy(), y.numpy()) for x, y in ds] for _ in range(2)]
    np.testing.assert_array_equal(first[0][1], labels.numpy())
    # np.array_equal is False for arrays of different shapes (a stretched batch's width).
    assert not np.array_equal(first[0][0], second[0][0])
    assert wrap(ds, off, 9) is ds
