"""The synthesizer's realism effects: each draws what it says, only when asked."""

import dataclasses

import numpy as np
import pytest

from conftest import fake_mnist
from digits.compose import REALISTIC, ComposeConfig, compose
from digits.realism import (
    LIGATURE_PAIR,
    LIGATURE_REACH,
    REMNANT_GAP,
    SMALL_LAST_SIZE,
    UNIT_GAP,
    UNIT_ROOM,
    UNITS,
    choose_remnants,
    choose_units,
    continental,
    draw_remnants,
    draw_rules,
    draw_segments,
    draw_units,
    join_ends,
    old_style,
    on_paper,
    small_last,
    wander,
)


def digit_one(rows: int = 20) -> np.ndarray:
    """A plain vertical stroke in a 28x28 box from row 4 down, like an MNIST "1"."""
    d = np.zeros((28, 28), np.uint8)
    d[4:4 + rows, 13:15] = 255
    return d


def test_continental_flags_ones_and_bars_sevens_only():
    digits = np.stack([digit_one()] * 3)
    out = continental(digits, np.array([1, 7, 4]), 1.0, np.random.default_rng(0))
    added = out - digits
    # The 1's flag: new ink up and to the left of the stem.
    assert added[0, 4:14, :13].sum() > 255 * 4
    # The 7's bar crosses the stem on both sides, below the top.
    assert added[1, 10:20, :13].sum() > 0 and added[1, 10:20, 15:].sum() > 0
    assert not added[2].any()  # other digits are untouched
    none = continental(digits, np.array([1, 7, 4]), 0.0, np.random.default_rng(0))
    assert np.array_equal(none, digits)


def test_continental_flags_are_long_and_steep():
    # Every flag is 0.5 to 1.15 of the stem's height long, 45-80 degrees below the
    # horizontal, so it ends between 0.5 * sin(45) and 1.15 * sin(80) of the stem below
    # its top: no short ticks, which meza_digits' 1s hardly have. A short stem keeps the
    # longest flag inside the 28-row box, so that both bounds can fail.
    n = 64
    digits = np.stack([digit_one(10)] * n)
    stem_top, stem_height = 4, 9  # rows 4-13; the height is measured first to last ink row
    out = continental(digits, np.ones(n, int), 1.0, np.random.default_rng(3))
    added = (out - digits)[:, :, :13] > 0  # new ink left of the stem (columns 13-14)
    reach = np.array([np.flatnonzero(a.any(axis=1)).max() for a in added]) - stem_top
    assert (reach >= int(0.5 * stem_height * np.sin(np.deg2rad(45)))).all()
    assert (reach <= np.ceil(1.15 * stem_height * np.sin(np.deg2rad(80))) + 1).all()


def test_flat_flags_fall_less_and_reach_further_left():
    # With flat=1 every flag is 25-45 degrees below the horizontal: it ends at most
    # 1.15 * sin(45) of the stem below its top, where the steep flags above reach further
    # down; and it reaches at least as far left as it falls.
    n = 64
    digits = np.stack([digit_one(10)] * n)
    stem_top, stem_height = 4, 9
    flat = continental(digits, np.ones(n, int), 1.0, np.random.default_rng(3), 1.0,
                       np.random.default_rng(4))
    added = (flat - digits)[:, :, :13] > 0
    rows = [np.flatnonzero(a.any(axis=1)) for a in added]
    cols = [np.flatnonzero(a.any(axis=0)) for a in added]
    drop = np.array([r.max() for r in rows]) - stem_top
    left = 13 - np.array([c.min() for c in cols])
    assert (drop <= np.ceil(1.15 * stem_height * np.sin(np.deg2rad(45))) + 1).all()
    assert (left >= drop - 1).all()
    steep = continental(digits, np.ones(n, int), 1.0, np.random.default_rng(3))
    steep_drop = np.array([np.flatnonzero(a.any(axis=1)).max()
                           for a in (steep - digits)[:, :, :13] > 0]) - stem_top
    assert steep_drop.mean() > drop.mean() + 1


def test_flat_flags_leave_the_other_draws_as_they_were():
    digits = np.stack([digit_one()] * 8)
    labels = np.array([1, 7, 1, 4, 1, 7, 1, 1])
    plain = continental(digits, labels, 0.8, np.random.default_rng(0))
    flat = continental(digits, labels, 0.8, np.random.default_rng(0), 1.0,
                       np.random.default_rng(1))
    assert not np.array_equal(plain, flat)
    # Only the 1s' flags move: the 7s' bars and other digits draw the same, so rng's own
    # draws are untouched by the flat flags' generator.
    same = labels != 1
    assert np.array_equal(plain[same], flat[same])


def test_segments_draw_in_place_and_refuse_a_strided_view():
    canvas = np.zeros((2, 28, 40), np.float32)
    draw_segments(canvas, np.array([1]), np.array([[2.0, 14.0]]), np.array([[30.0, 14.0]]),
                  np.array([200.0], np.float32))
    assert not canvas[0].any()
    ink = canvas[1] > 0
    assert (ink.sum(axis=0)[3:30] == 2).all() and (canvas[1, 14:16, 3:30] == 200).all()
    with pytest.raises(ValueError, match="contiguous"):
        draw_segments(canvas[:, :, 5:], np.array([0]), np.array([[1.0, 1.0]]),
                      np.array([[5.0, 1.0]]), np.array([255.0], np.float32))


def test_wander_is_bounded_and_smooth_per_sequence():
    lengths = np.array([6, 1, 4])
    off = wander(lengths, 2.0, np.random.default_rng(0))
    assert off.shape == (11,) and np.abs(off).max() <= 4.0 + 1e-5  # sine + tilt
    assert np.allclose(wander(lengths, 2.0, np.random.default_rng(0)), off)


def test_rules_cross_the_whole_image():
    canvas = np.zeros((40, 28, 60), np.float32)
    draw_rules(canvas, np.full(40, 60), 1.0, np.random.default_rng(1))
    ink = canvas > 0
    across = ink.any(axis=1).all(axis=1)  # every column has ink: a horizontal line
    down = ink.any(axis=2).all(axis=1)  # every row has ink: a vertical border
    assert (across | down).all() and across.any() and down.any()
    assert (ink.sum(axis=(1, 2)) <= 2 * 60 + 4).all()  # 1-2 px lines, nothing else


def test_remnants_stand_apart_from_the_number_and_stop_short_of_the_height():
    n, h, w = 300, 28, 80
    side, room = choose_remnants(n, 1.0, np.random.default_rng(4))
    assert set(side) == {1, 2}
    assert (room >= REMNANT_GAP[0] + 2).all() and (room <= REMNANT_GAP[1] + 2).all()
    # The number's columns are 30-49, with each side's room kept free beside them.
    inner_left = np.full(n, 30)
    inner_right = np.full(n, 50)
    canvas = np.zeros((n, h, w), np.float32)
    draw_remnants(canvas, side, room, inner_left, inner_right, np.random.default_rng(5))
    ink = canvas > 0
    # Nothing over the number but a corner's stroke along the top or bottom edge.
    assert not ink[:, 2:h - 2, 30:50].any()
    for i in range(n):
        cols = np.flatnonzero(ink[i, 2:h - 2].any(axis=0))  # the stroke, not a corner
        rows = np.flatnonzero(ink[i].any(axis=1))
        gap = room[i] - 2  # the stroke is at most 2 wide
        if side[i] == 2:
            assert cols.min() == 50 + gap  # the gap chosen, to the pixel, then the stroke
        else:
            # The gap chosen, or a pixel more where the stroke is 1 wide.
            assert 30 - gap - 2 <= cols.max() <= 30 - gap - 1
        # From one edge of the height, never a stroke floating in the middle like a "1".
        assert rows.min() == 0 or rows.max() == h - 1
        assert len(rows) >= int(0.35 * (h - 1))
    heights = ink.any(axis=2).sum(axis=1)
    assert (heights < h).mean() > 0.7  # most stop short of the whole height
    none = np.zeros_like(canvas)
    draw_remnants(none, np.zeros(n, int), room, inner_left, inner_right,
                  np.random.default_rng(5))
    assert not none.any()


def test_units_are_small_letters_in_their_room_after_the_number():
    n, h, w = 300, 28, 120
    units = choose_units(n, 0.5, np.random.default_rng(6))
    on = units.kind > 0
    assert 0.35 < on.mean() < 0.65 and set(units.kind[on]) == set(range(1, len(UNITS) + 1))
    assert not units.room[~on].any()
    assert (units.room[on] > UNIT_GAP[0]).all() and (units.room[on] <= UNIT_ROOM).all()
    # Ascenders and descenders stay inside the height: every stroke's ends round to a row
    # of the image, so none is clipped to run along its edge.
    ys = np.concatenate([units.start[:, 1], units.end[:, 1]])
    assert ys.min() >= -0.5 and ys.max() < h - 0.5
    canvas = np.zeros((n, h, w), np.float32)
    left = np.full(n, 40)  # everything drawn for the number ends at column 40
    draw_units(canvas, units, left)
    ink = canvas > 0
    assert not ink[~on].any()
    for i in np.flatnonzero(on):
        cols = np.flatnonzero(ink[i].any(axis=0))
        rows = np.flatnonzero(ink[i].any(axis=1))
        # Clear of the number by the gap, and inside the room the image was widened by.
        assert 40 + UNIT_GAP[0] <= cols.min() and cols.max() < 40 + units.room[i]
        if UNITS[units.kind[i] - 1] in ("cm", "mm", "m"):
            # Letters without an ascender or descender: well under a digit's height.
            assert len(rows) <= 13


def test_units_are_drawn_after_the_number_and_leave_the_labels():
    m = fake_mnist()
    cfg = ComposeConfig(min_length=2, max_length=3, min_gap=0, max_gap=0, noise=0.0,
                        blur=0.0)
    plain = compose(m.x_train, m.y_train, 60, cfg, np.random.default_rng(2))
    with_units = compose(m.x_train, m.y_train, 60, dataclasses.replace(cfg, units=1.0),
                         np.random.default_rng(2))
    assert with_units.texts == plain.texts
    for a, b in zip(plain.images, with_units.images, strict=True):
        assert b.shape[1] > a.shape[1]
        # The number is drawn where it was; the unit is new ink to the right of it.
        ink = np.flatnonzero((a > 0).any(axis=0))
        assert np.array_equal(b[:, :ink.max() + 1], a[:, :ink.max() + 1])
        assert (b[:, ink.max() + 1 + int(UNIT_GAP[0]):] > 0).any()


def test_small_last_shrinks_only_the_last_digit_or_two():
    lengths = np.array([1, 2, 3, 4, 5] * 200)
    scale, dy = small_last(lengths, 0.5, np.random.default_rng(7))
    assert scale.shape == dy.shape == (lengths.sum(),)
    ends = np.cumsum(lengths)
    from_end = np.repeat(ends, lengths) - 1 - np.arange(lengths.sum())
    small = scale < 1
    # Only the last digit, or for three digits or more the last two; never an earlier one.
    assert not small[from_end >= 2].any()
    assert not small[(from_end == 1) & (np.repeat(lengths, lengths) < 3)].any()
    last = small[ends - 1]
    assert 0.4 < last.mean() < 0.6
    two = small[ends[lengths >= 3] - 2]
    assert 0 < two.sum() < last[lengths >= 3].sum() * 0.5  # about a third of those
    # A second shrunk digit only where the last one is shrunk too, the same size.
    assert (small[ends[lengths >= 3] - 1][two]).all()
    assert SMALL_LAST_SIZE[0] <= scale[small].min() and scale[small].max() <= SMALL_LAST_SIZE[1]
    # Lowered by at most the half height it lost (onto the baseline), never raised.
    assert (dy[small] >= 0).all() and (dy[small] <= (1 - scale[small]) * 10 + 1e-4).all()
    assert not dy[~small].any()
    none_scale, none_dy = small_last(lengths, 0.0, np.random.default_rng(7))
    assert (none_scale == 1).all() and not none_dy.any()


def test_small_last_draws_a_lone_digit_smaller_and_no_higher():
    # Digits whose ink fills the middle 20 rows of the box, as MNIST's do.
    x = np.zeros((10, 28, 28), np.uint8)
    x[:, 4:24, 9:12] = 255
    x[:, 4:24, 16:19] = 255
    y = np.arange(10, dtype=np.uint8)
    cfg = ComposeConfig(min_length=1, max_length=1, scale=0.0, rotation=0.0, shear=0.0,
                        jitter=0.0, thickness=0.0, noise=0.0, blur=0.0)
    plain = compose(x, y, 40, cfg, np.random.default_rng(3))
    small = compose(x, y, 40, dataclasses.replace(cfg, small_last=1.0), np.random.default_rng(3))
    assert small.texts == plain.texts
    for a, b in zip(plain.images, small.images, strict=True):
        rows_a = np.flatnonzero((a > 64).any(axis=1))
        rows_b = np.flatnonzero((b > 64).any(axis=1))
        assert len(rows_b) <= 0.85 * len(rows_a)
        # Shrunk about its middle, then lowered towards the baseline: its top comes down.
        assert rows_b.min() > rows_a.min() and rows_b.max() <= rows_a.max() + 1


def test_join_ends_leave_low_on_the_right_and_enter_at_the_top_or_left():
    # An "L" turned over: a bar along the top, a stem down its left side.
    d = np.zeros((1, 28, 28), np.float32)
    d[0, 4:6, 8:20] = 255
    d[0, 4:24, 8:10] = 255
    d[0, 20:24, 14:16] = 255  # a foot to the right, low down
    exit_, top, left = join_ends(d)
    assert tuple(exit_[0]) == (15, 23)  # the lower half's rightmost ink, its lowest row
    assert tuple(top[0]) == (8, 4)  # the top row's leftmost ink
    assert left[0][0] == 8 and abs(left[0][1] - 13.5) < 1e-4  # the left column's middle


def test_ligatures_join_neighbours_between_their_ink_and_leave_the_labels():
    # Upright bars, 7 pixels apart: every join fits within LIGATURE_REACH.
    x = np.zeros((10, 28, 28), np.uint8)
    x[:, 4:24, 12:15] = 255
    y = np.arange(10, dtype=np.uint8)
    cfg = ComposeConfig(min_length=2, max_length=2, scale=0.0, rotation=0.0, shear=0.0,
                        jitter=0.0, thickness=0.0, noise=0.0, blur=0.0, min_gap=6, max_gap=6)
    assert cfg.max_gap + 1 <= LIGATURE_REACH
    plain = compose(x, y, 200, cfg, np.random.default_rng(4))
    joined = compose(x, y, 200, dataclasses.replace(cfg, ligatures=1.0),
                     np.random.default_rng(4))
    assert joined.texts == plain.texts
    changed = 0
    for a, b in zip(plain.images, joined.images, strict=True):
        assert a.shape == b.shape and (b >= a).all()  # ink added, none taken away
        new = b.astype(int) - a > 0
        if not new.any():
            continue
        changed += 1
        cols = np.flatnonzero((a > 0).any(axis=0))
        gap = np.flatnonzero(np.diff(cols) > 1)[0]
        left_end, right_start = cols[gap], cols[gap + 1]
        rows, where = np.nonzero(new)
        # Between the two bars (a pen's width either side), from the first one's foot.
        assert left_end - 1 <= where.min() and where.max() <= right_start + 1
        assert rows.max() >= 22
        # It reaches the second bar: new ink touches its first column.
        assert (new[:, right_start - 1:right_start + 1]).any()
    assert abs(changed / len(plain.images) - LIGATURE_PAIR) < 0.12


@pytest.mark.parametrize("flag", ["remnants", "oldstyle", "units", "small_last", "ligatures"])
def test_remnants_and_old_style_keep_the_numbers_drawn(flag):
    # Their own spawned generator: the digits chosen for each number stay those drawn
    # without the flag (at 0 nothing is drawn: tests/test_forms.py pins those bytes).
    m = fake_mnist()
    cfg = ComposeConfig(**REALISTIC)
    a = compose(m.x_train, m.y_train, 30, cfg, np.random.default_rng(8))
    c = compose(m.x_train, m.y_train, 30, dataclasses.replace(cfg, **{flag: 1.0}),
                np.random.default_rng(8))
    assert c.texts == a.texts
    assert all(np.array_equal(x, y) for x, y in zip(a.indices, c.indices, strict=True))
    if flag == "remnants":  # a few pixels wider where a remnant was drawn
        assert sum(y.shape[1] > x.shape[1]
                   for x, y in zip(a.images, c.images, strict=True)) >= 20


def test_old_style_hangs_sevens_and_nines_below_the_others():
    labels = np.array([7, 1, 9, 0, 3, 6] * 50)
    lengths = np.full(50, 6)
    scale, dy = old_style(labels, lengths, 1.0, np.random.default_rng(2))
    assert (scale == 0.8).all()
    hang, stand = np.isin(labels, (7, 9)), np.isin(labels, (0, 1, 6))
    assert (dy[hang] >= 1.5).all() and (dy[hang] <= 3).all()
    assert (dy[stand] <= -1.5).all() and (dy[stand] >= -3).all()
    threes = dy[labels == 3]
    assert (threes > 0).any() and (threes < 0).any()  # some hands hang the 3, 4 and 5
    scale, dy = old_style(labels, lengths, 0.0, np.random.default_rng(2))
    assert (scale == 1).all() and (dy == 0).all()


def test_old_style_numbers_draw_a_seven_lower_than_its_neighbour():
    # A "1" and a "7" of the same stroke: written old-style, the 7's ink reaches lower.
    x = np.stack([digit_one(), digit_one()])
    y = np.array([1, 7])
    cfg = ComposeConfig(min_length=2, max_length=2, scale=0, rotation=0, shear=0, jitter=0,
                        thickness=0, noise=0, blur=0, min_gap=4, max_gap=4)
    low = []
    for style in (0.0, 1.0):
        chunk = compose(x, y, 40, dataclasses.replace(cfg, oldstyle=style),
                        np.random.default_rng(3))
        bottoms = []
        for image, text in zip(chunk.images, chunk.texts, strict=True):
            if text not in ("17", "71"):
                continue
            cols = np.flatnonzero(image.max(axis=0) > 64)
            split = np.flatnonzero(np.diff(cols) > 1)[0] + 1  # the two strokes' columns
            rows = [np.flatnonzero(image[:, part].max(axis=1) > 64).max()
                    for part in (cols[:split], cols[split:])]
            seven = rows[0] if text[0] == "7" else rows[1]
            bottoms.append(seven - (rows[1] if text[0] == "7" else rows[0]))
        low.append(np.array(bottoms))
    assert len(low[1]) >= 5 and (low[0] == 0).all()
    assert (low[1] >= 3).all()  # 1.5-3 px down and up, a 0.8 size about the middle


def test_paper_is_dark_ink_on_light_paper_and_jpeg_keeps_the_size():
    image = np.zeros((28, 50), np.uint8)
    image[6:22, 10:14] = 255
    out = on_paper(image, np.random.default_rng(0), 0.5, 30)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out[6:22, 10:14].mean() < np.median(out) - 40  # the stroke is darker


@pytest.mark.parametrize("effect", ["slant", "wander", "continental", "marks", "rules",
                                    "remnants", "oldstyle", "units", "small_last",
                                    "ligatures", "paper"])
def test_each_effect_changes_the_images_keeps_the_labels_and_is_seeded(effect):
    m = fake_mnist()
    cfg = ComposeConfig(min_length=1, max_length=4)
    on = dataclasses.replace(cfg, **{effect: REALISTIC.get(effect, 0.5) or 0.5})
    base = compose(m.x_train, m.y_train, 40, cfg, np.random.default_rng(5))
    a = compose(m.x_train, m.y_train, 40, on, np.random.default_rng(5))
    b = compose(m.x_train, m.y_train, 40, on, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert a.texts == b.texts
    assert any(x.shape != y.shape or not np.array_equal(x, y)
               for x, y in zip(a.images, base.images, strict=True))
    for image, text in zip(a.images, a.texts, strict=True):
        assert image.shape[0] == 28 and image.shape[1] <= on.max_width()
        assert 1 <= len(text) <= 4


def test_flat_flags_move_only_the_ones_flags_and_are_seeded():
    m = fake_mnist()
    cfg = ComposeConfig(min_length=1, max_length=4, continental=0.8)
    flat = dataclasses.replace(cfg, flat_flags=0.5)
    base = compose(m.x_train, m.y_train, 60, cfg, np.random.default_rng(5))
    a = compose(m.x_train, m.y_train, 60, flat, np.random.default_rng(5))
    b = compose(m.x_train, m.y_train, 60, flat, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert a.texts == base.texts
    moved = [not np.array_equal(x, y) for x, y in zip(a.images, base.images, strict=True)]
    assert any(moved)
    # A number without a 1 has no flag to move, so it draws as without the flag.
    assert not any(changed and "1" not in text
                   for changed, text in zip(moved, base.texts, strict=True))
    # Without --continental there are no flags: --flat-flags alone changes nothing.
    plain = dataclasses.replace(cfg, continental=0.0)
    alone = dataclasses.replace(plain, flat_flags=0.5)
    assert all(np.array_equal(x, y) for x, y in zip(
        compose(m.x_train, m.y_train, 30, plain, np.random.default_rng(5)).images,
        compose(m.x_train, m.y_train, 30, alone, np.random.default_rng(5)).images,
        strict=True))


def test_marks_make_room_beside_the_number():
    m = fake_mnist()
    cfg = ComposeConfig(min_length=2, max_length=2, min_gap=0, max_gap=0)
    plain = compose(m.x_train, m.y_train, 60, cfg, np.random.default_rng(2))
    marked = compose(m.x_train, m.y_train, 60, dataclasses.replace(cfg, marks=1.0),
                     np.random.default_rng(2))
    wider = sum(b.shape[1] > a.shape[1] for a, b in zip(plain.images, marked.images, strict=True))
    assert wider >= 30  # dots, commas and dashes each need room (most images)
