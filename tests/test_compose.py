import dataclasses

import numpy as np
import pytest

from digits.compose import (
    DIGIT_SIZE,
    MIN_WIDTH_PER_DIGIT,
    ComposeConfig,
    affine_warp,
    change_thickness,
    compose,
    elastic_field,
    proportion_field,
)
from digits.sequence_generator import _FIELD_HELP, build_parser


def test_no_augment_rebuilds_each_image_from_its_digits(mnist):
    cfg = ComposeConfig(augment=False, min_length=1, max_length=7)
    chunk = compose(mnist.x_train, mnist.y_train, 50, cfg, np.random.default_rng(3))
    assert {len(t) for t in chunk.texts} == set(range(1, 8))
    for image, text, idx in zip(chunk.images, chunk.texts, chunk.indices, strict=True):
        assert np.array_equal(image, np.concatenate(list(mnist.x_train[idx]), axis=1))
        assert text == "".join(str(d) for d in mnist.y_train[idx])


def test_augmented_images_keep_their_ink_and_labels(mnist):
    cfg = ComposeConfig()
    chunk = compose(mnist.x_train, mnist.y_train, 40, cfg, np.random.default_rng(0))
    for image, text, idx in zip(chunk.images, chunk.texts, chunk.indices, strict=True):
        assert image.dtype == np.uint8 and image.shape[0] == 28
        assert len(text) == 5 and text == "".join(str(d) for d in mnist.y_train[idx])
        assert MIN_WIDTH_PER_DIGIT * 5 <= image.shape[1] <= cfg.max_width()
        assert image.max() > 60  # the ink survives warping, blur and noise


def test_same_rng_same_bytes_other_rng_other_bytes(mnist):
    cfg = ComposeConfig(min_length=2, max_length=6)
    a = compose(mnist.x_train, mnist.y_train, 30, cfg, np.random.default_rng(1))
    b = compose(mnist.x_train, mnist.y_train, 30, cfg, np.random.default_rng(1))
    c = compose(mnist.x_train, mnist.y_train, 30, cfg, np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert a.texts == b.texts and a.texts != c.texts


def test_identity_warp_is_exact():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 255, (4, 28, 28)).astype(np.float32)
    eye = np.repeat(np.eye(2, dtype=np.float32)[None], 4, axis=0)
    np.testing.assert_allclose(affine_warp(d, eye, np.zeros((4, 2), np.float32)), d, atol=1e-3)


def test_warp_translation_moves_ink():
    d = np.zeros((1, 28, 28), np.float32)
    d[0, 10, 10] = 255
    eye = np.eye(2, dtype=np.float32)[None]
    # Output samples the input 2 px to the right and 1 down: ink moves left 2 and up 1.
    out = affine_warp(d, eye, np.array([[2.0, 1.0]], np.float32))
    assert out[0, 9, 8] == pytest.approx(255, abs=1e-3)


def test_elastic_field_is_bounded_smooth_and_moves_strokes(mnist):
    field = elastic_field(50, DIGIT_SIZE, 2.0, np.random.default_rng(0))
    assert field.shape == (50, 2, DIGIT_SIZE, DIGIT_SIZE)
    assert np.abs(field).max() <= 2.0 and np.abs(field).max() > 1.0
    # Smooth: neighbouring pixels move together (at most a third of a pixel apart here).
    assert np.abs(np.diff(field, axis=-1)).max() <= 2 * 2.0 / 9 + 1e-6
    assert np.abs(np.diff(field, axis=-2)).max() <= 2 * 2.0 / 9 + 1e-6
    # A constant field is a translation.
    d = mnist.x_train[:1].astype(np.float32)
    eye = np.eye(2, dtype=np.float32)[None]
    shift = np.zeros((1, 2, DIGIT_SIZE, DIGIT_SIZE), np.float32)
    shift[:, 0] = 2.0
    np.testing.assert_allclose(affine_warp(d, eye, np.zeros((1, 2), np.float32), shift),
                               affine_warp(d, eye, np.array([[2.0, 0.0]], np.float32)))
    # The field bends strokes, without losing much ink.
    base = ComposeConfig(thickness=0, scale=0, rotation=0, shear=0, jitter=0, noise=0, blur=0,
                         min_gap=2, max_gap=2, elastic=0)
    plain = compose(mnist.x_train, mnist.y_train, 20, base, np.random.default_rng(4))
    bent = compose(mnist.x_train, mnist.y_train, 20, dataclasses.replace(base, elastic=2.0),
                   np.random.default_rng(4))
    for a, b in zip(plain.images, bent.images, strict=True):
        assert a.shape[0] == b.shape[0]
        if a.shape == b.shape:
            assert not np.array_equal(a, b)
        assert 0.8 < b.astype(float).sum() / a.astype(float).sum() < 1.2


def test_proportion_field_moves_the_middle_and_holds_the_edges():
    field = proportion_field(200, DIGIT_SIZE, 0.25, np.random.default_rng(0))
    assert field.shape == (200, 2, DIGIT_SIZE, DIGIT_SIZE)
    half = (DIGIT_SIZE - 1) / 2
    assert np.abs(field).max() <= 0.25 * half + 1e-5
    assert np.abs(field).max() > 0.2 * half
    # x moves with the column only, y with the row only; the outer columns and rows hold.
    np.testing.assert_allclose(field[:, 0], np.broadcast_to(field[:, 0, :1, :], field[:, 0].shape))
    np.testing.assert_allclose(field[:, 1], np.broadcast_to(field[:, 1, :, :1], field[:, 1].shape))
    assert np.abs(field[:, 0, :, [0, -1]]).max() < 1e-6
    assert np.abs(field[:, 1, [0, -1], :]).max() < 1e-6


def test_proportion_moves_a_digits_middle_and_keeps_labels_and_ink(mnist):
    base = ComposeConfig(min_length=1, max_length=1, thickness=0, scale=0, rotation=0, shear=0,
                         jitter=0, noise=0, blur=0, margin=0)
    d = np.zeros((1, DIGIT_SIZE, DIGIT_SIZE), np.float32)
    d[0, 4:24, 13] = 255  # a vertical stroke; its middle row is 13.5
    d[0, 14, 8:20] = 255  # a bar just below the middle
    field = np.zeros((1, 2, DIGIT_SIZE, DIGIT_SIZE), np.float32)
    field[:, 1] = proportion_field(1, DIGIT_SIZE, 0.3, np.random.default_rng(1))[:, 1]
    shift = field[0, 1, 14, 0]
    assert abs(shift) > 0.5
    bent = affine_warp(d, np.eye(2, dtype=np.float32)[None], np.zeros((1, 2), np.float32), field)
    # Output row r samples row r + shift near the middle: the bar moves against the shift,
    # while the stroke's ends, nearer the held edges, move less than a pixel and a half.
    bar_row = bent[0, :, 16].argmax()
    assert np.sign(14 - bar_row) == np.sign(shift) and bar_row != 14
    inked = np.flatnonzero(bent[0, :, 13] > 128)
    assert abs(inked[0] - 4) <= 1.5 and abs(inked[-1] - 23) <= 1.5
    # In a composition: the same draws give the same labels and about the same ink, reshaped.
    a = compose(mnist.x_train, mnist.y_train, 10, base, np.random.default_rng(5))
    b = compose(mnist.x_train, mnist.y_train, 10, dataclasses.replace(base, proportion=0.3),
                np.random.default_rng(5))
    assert any(not np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert a.texts == b.texts
    for x, y in zip(a.images, b.images, strict=True):
        assert 0.8 < y.astype(float).sum() / max(x.astype(float).sum(), 1.0) < 1.25


def test_thickness_grows_and_shrinks_strokes():
    d = np.zeros((2, 28, 28), np.uint8)
    d[:, 10:18, 13:15] = 255
    out = change_thickness(d, np.array([1.0, -1.0], np.float32))
    assert (out[0] > 0).sum() > (d[0] > 0).sum()
    assert (out[1] > 0).sum() < (d[1] > 0).sum()


def test_height_and_fixed_width(mnist):
    cfg = ComposeConfig(height=40, width=260)
    chunk = compose(mnist.x_train, mnist.y_train, 10, cfg, np.random.default_rng(0))
    assert all(im.shape == (40, 260) for im in chunk.images)


def test_every_config_field_has_a_flag():
    flags = {a.dest for a in build_parser()._actions}
    fields = {f.name for f in dataclasses.fields(ComposeConfig)}
    assert fields <= flags
    assert fields == set(_FIELD_HELP)


def test_clean_width_is_28_per_digit(mnist):
    cfg = ComposeConfig(augment=False)
    chunk = compose(mnist.x_train, mnist.y_train, 3, cfg, np.random.default_rng(0))
    assert all(im.shape == (28, 5 * DIGIT_SIZE) for im in chunk.images)
