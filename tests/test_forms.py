"""Numbers as written on amounts and forms (digits.forms): each effect draws what it says,
keeps the labels, and nothing changes while every share is 0."""

import dataclasses
import hashlib

import numpy as np
import pytest

from conftest import TRAIN_INK, fake_mnist
from digits import forms
from digits.compose import FORMS, REALISTIC, ComposeConfig, compose
from digits.errors import DataError
from digits.sequence_generator import build_parser, config_from_args
from digits.sources import load_mnist

# Digits exactly as drawn: no warp, blur or noise, so the fake digits' ink is exactly
# TRAIN_INK and anything else on the canvas was drawn by the effect under test.
QUIET = ComposeConfig(min_length=4, max_length=6, scale=0, rotation=0, shear=0, jitter=0,
                      thickness=0, noise=0, blur=0, min_gap=2, max_gap=4)
N = 40


def render(cfg: ComposeConfig, effect: str | None = None, x=None, y=None, seed: int = 3):
    if x is None:
        m = fake_mnist()
        x, y = m.x_train, m.y_train
    if effect is not None:
        cfg = dataclasses.replace(cfg, **{effect: 1.0})
    return compose(x, y, N, cfg, np.random.default_rng(seed))


def pairs(effect: str, cfg: ComposeConfig = QUIET, **pool):
    """(plain, with the effect) chunks of the same digits; the labels must agree."""
    plain, drawn = render(cfg, **pool), render(cfg, effect, **pool)
    assert drawn.texts == plain.texts
    for image in drawn.images:
        assert image.shape[0] == 28 and image.shape[1] <= dataclasses.replace(
            cfg, **{effect: 1.0}).max_width()
    return plain, drawn


def digit_columns(image: np.ndarray, ink: int = TRAIN_INK) -> np.ndarray:
    return np.flatnonzero((image == ink).any(axis=0))


def test_separators_sit_in_a_widened_gap_between_digit_groups():
    plain, drawn = pairs("separators")
    marked = 0
    for a, b in zip(plain.images, drawn.images, strict=True):
        assert b.shape[1] > a.shape[1]  # every number has 4+ digits: a gap was widened
        cols = digit_columns(b)
        mark = (b > 150) & ~(b == TRAIN_INK)
        if mark.any():
            marked += 1
            mark_cols = np.flatnonzero(mark.any(axis=0))
            assert cols[0] < mark_cols.min() and mark_cols.max() < cols[-1]  # inside
            assert np.isin(mark_cols, cols).mean() <= 0.25  # in a gap, not on a digit
    assert marked >= N // 2  # dots, commas, apostrophes; a space draws nothing


def test_separators_follow_the_groups_from_the_right():
    m = fake_mnist()
    cfg = dataclasses.replace(QUIET, min_length=6, max_length=9, separators=1.0)
    lengths = np.array([6, 7, 9])
    total = int(lengths.sum())
    digits = m.x_train[:total].astype(np.float32)
    first, last = np.full(total, 8), np.full(total, 18)
    form = forms.layout(digits, first, last, np.zeros(total, np.int64), lengths, cfg,
                        np.random.default_rng(0))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, length in enumerate(lengths):
        after = np.flatnonzero(form.separator[starts[i]:starts[i + 1]]) + 1
        right = length - after  # digits right of each mark
        thousands = {r for r in (3, 6) if r < length}  # "1.234.567"
        decimals = {r for r in (2, 5, 8) if r < length}  # "12.345,67"
        assert set(right) in (thousands, decimals)
        assert (form.gaps[starts[i]:starts[i + 1]][after - 1] >= forms.SEP_ROOM["dot"][0]).all()
    assert forms.max_separators(9) == 3 and forms.max_separators(3) == 0


def test_affixes_draw_beyond_the_digits():
    plain, drawn = pairs("affixes")
    for a, b in zip(plain.images, drawn.images, strict=True):
        assert b.shape[1] > a.shape[1]
        cols = digit_columns(b)
        outside = np.concatenate([b[:, :cols[0]].ravel(), b[:, cols[-1] + 1:].ravel()])
        assert (outside > 140).sum() >= 6  # a sign's strokes, before or after


def test_guilloche_is_faint_and_spans_the_width():
    plain, drawn = pairs("guilloche")
    for a, b in zip(plain.images, drawn.images, strict=True):
        assert a.shape == b.shape
        added = b[(a == 0) & (b > 0)]
        assert len(added) >= 1.5 * b.shape[1]  # lines across the whole image
        assert added.min() >= 40 and added.max() <= 120  # faint to medium
        assert (b > 0).any(axis=0).mean() >= 0.95  # in the margins and gaps as well
        on_ink = b[a > 0]
        assert (on_ink >= a[a > 0]).all() and (on_ink[on_ink > TRAIN_INK] <= 120).all()


def runs(mask: np.ndarray) -> int:
    """Number of runs of True in a 1-d mask."""
    return int(np.count_nonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])) == 1))


def test_boxes_put_one_cell_around_each_digit():
    m = fake_mnist()
    x = np.where(m.x_train > 0, 255, 0).astype(np.uint8)  # brighter than any cell line
    plain, drawn = pairs("boxes", x=x, y=m.y_train)
    full_tops = 0
    for b, text in zip(drawn.images, drawn.texts, strict=True):
        cols = digit_columns(b, 255)
        lines = ((b[18:] > 0) & (b[18:] < 255)).sum(axis=0) >= 5
        lines &= ~(b == 255).any(axis=0)
        assert runs(lines) == len(text) + 1  # a line left of, between and right of digits
        left, right = np.flatnonzero(lines)[[0, -1]]
        assert left < cols[0] and cols[-1] < right  # digits stay inside
        span = right - left + 1
        assert max((b[r, left:right + 1] > 0).sum() for r in range(25, 28)) == span
        full_tops += max((b[r, left:right + 1] > 0).sum() for r in range(3)) == span
    assert full_tops >= N // 2  # full rectangles; the rest are combs


def test_strike_draws_a_long_near_horizontal_line_across_the_digits():
    # Thin "1"-like bars far apart, so that the line shows between them.
    x = np.zeros((10, 28, 28), np.uint8)
    x[:, 6:22, 13:15] = 255
    y = np.arange(10, dtype=np.uint8)
    cfg = dataclasses.replace(QUIET, min_gap=8, max_gap=8)
    plain, drawn = pairs("strike", cfg, x=x, y=y)
    for a, b in zip(plain.images, drawn.images, strict=True):
        cols = np.flatnonzero((a > 0).any(axis=0))
        changed = b != a
        hit = changed[:, cols[0]:cols[-1] + 1].any(axis=0)
        assert hit.mean() >= 0.7  # across the number's span
        rows = np.flatnonzero(changed.any(axis=1))
        assert rows.max() - rows.min() <= 0.13 * (cols[-1] - cols[0]) + 3  # near level


@pytest.fixture(scope="module")
def embedded():
    m = load_mnist("embedded", None)
    return m.x_train, m.y_train


def test_pen_thickens_or_thins_whole_numbers(embedded):
    x, y = embedded
    plain, drawn = pairs("pen", x=x, y=y)
    ratio = np.array([(b > 64).sum() / (a > 64).sum()
                      for a, b in zip(plain.images, drawn.images, strict=True)])
    thick, thin = ratio > 1.3, ratio < 0.92
    assert (thick | thin).all()  # every number, every digit in it alike
    assert thick.sum() >= N // 4 and thin.sum() >= N // 4


@pytest.mark.parametrize("effect", forms.FIELDS)
def test_each_effect_is_seeded_and_leaves_the_chunks_other_draws(effect):
    m = fake_mnist()
    cfg = dataclasses.replace(QUIET, min_length=1, max_length=6, marks=0.3)
    on = dataclasses.replace(cfg, **{effect: FORMS[effect]})
    plain = compose(m.x_train, m.y_train, N, cfg, np.random.default_rng(9))
    a = compose(m.x_train, m.y_train, N, on, np.random.default_rng(9))
    b = compose(m.x_train, m.y_train, N, on, np.random.default_rng(9))
    assert all(np.array_equal(p, q) for p, q in zip(a.images, b.images, strict=True))
    assert a.texts == plain.texts
    assert all(np.array_equal(p, q) for p, q in zip(a.indices, plain.indices, strict=True))
    # Without noise, the numbers an effect left alone come out byte for byte as before.
    same = sum(p.shape == q.shape and np.array_equal(p, q)
               for p, q in zip(a.images, plain.images, strict=True))
    assert 0 < same < N


def digest(chunk) -> str:
    h = hashlib.sha256()
    for image, text in zip(chunk.images, chunk.texts, strict=True):
        h.update(np.int64(image.shape).tobytes())
        h.update(image.tobytes())
        h.update(text.encode())
    return h.hexdigest()


def test_default_output_is_what_it_was_before_forms():
    # Pinned from the generator before digits.forms existed. No rotation, shear or scale,
    # so that every float operation is exact or elementwise IEEE and the bytes do not
    # depend on the CPU's vector units; the rng's draws, noise, blur, marks, rules and
    # wander all run. All form shares default to 0.
    m = fake_mnist()
    cfg = ComposeConfig(min_length=1, max_length=6, scale=0, rotation=0, shear=0, wander=2.0,
                        marks=0.5, rules=0.5)
    assert all(getattr(cfg, f) == 0 for f in forms.FIELDS) and not forms.enabled(cfg)
    chunk = compose(m.x_train, m.y_train, 50, cfg, np.random.default_rng(7))
    assert digest(chunk) == "78d2f42bc8097a73010dd4b166f7d29a3dc0de8e84b548eaa74aff68771b93ed"


def test_forms_turns_the_form_effects_on_and_shares_are_validated():
    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["--realistic", "--forms"]))
    assert all(0 < getattr(cfg, f) <= 0.25 for f in forms.FIELDS)
    assert {k: getattr(cfg, k) for k in REALISTIC} == REALISTIC
    # --realistic alone leaves them off until they are measured to help.
    cfg = config_from_args(parser.parse_args(["--realistic"]))
    assert all(getattr(cfg, f) == 0 for f in forms.FIELDS)
    cfg = config_from_args(parser.parse_args(["--forms", "--boxes", "0.5"]))
    assert cfg.boxes == 0.5 and cfg.pen == FORMS["pen"]
    for f in forms.FIELDS:
        flag = "--" + f
        with pytest.raises(SystemExit):
            parser.parse_args([flag, "1.5"])
        args = parser.parse_args([])
        setattr(args, f, 1.5)  # past the parser, validate still refuses it
        with pytest.raises(DataError, match=flag):
            config_from_args(args)


def test_max_width_bounds_every_effect_at_once():
    m = fake_mnist()
    cfg = ComposeConfig(min_length=1, max_length=9, min_gap=-3, max_gap=-1, marks=1.0,
                        remnants=1.0, oldstyle=1.0,
                        **{f: 1.0 for f in forms.FIELDS if f != "boxes"})
    for boxes in (0.0, 1.0):
        c = dataclasses.replace(cfg, boxes=boxes)
        chunk = compose(m.x_train, m.y_train, 60, c, np.random.default_rng(1))
        assert max(im.shape[1] for im in chunk.images) <= c.max_width()
