"""What real handwritten numbers have and clean MNIST sequences lack.

A model trained only on stitched MNIST digits meets, on a real form or register:
continental glyphs (a "1" with a flag, a "7" with a bar), a baseline that wanders, marks
that are not digits (dots, commas, dashes, a unit such as "cm"), ruling lines and table
borders, and paper: its tone and texture, faint or heavy ink, JPEG artefacts. Each function
here draws one of these on whole chunks of images at once (numpy, white ink on black as in
MNIST, except ``on_paper``, which renders dark ink on light paper as a scan shows it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

INK = 255.0


def _flat(images: np.ndarray) -> np.ndarray:
    """A flat view of images, to draw on in place (reshape would copy a strided array)."""
    if not images.flags.c_contiguous:
        raise ValueError("drawing needs a C-contiguous array")
    return images.reshape(-1)


def _splat(images: np.ndarray, which: np.ndarray, x: np.ndarray, y: np.ndarray,
           value: np.ndarray, width: int) -> None:
    """Draw a width x width square of ink at (x, y) in images[which], in place (max blend).

    Args:
        images: (n, h, w) float32.
        which: (m,) image indices; x, y: (m,) float pixel positions; value: (m,) ink.
    """
    n, h, w = images.shape
    flat = _flat(images)
    half = (width - 1) / 2
    for dy in range(width):
        for dx in range(width):
            # floor(v + 0.5), not rint: rint rounds halves to even and would merge two rows.
            xi = np.clip(np.floor(x - half + dx + 0.5).astype(np.int64), 0, w - 1)
            yi = np.clip(np.floor(y - half + dy + 0.5).astype(np.int64), 0, h - 1)
            idx = which * (h * w) + yi * w + xi
            flat[idx] = np.maximum(flat[idx], value)


def draw_segments(images: np.ndarray, which: np.ndarray, start: np.ndarray, end: np.ndarray,
                  value: np.ndarray, width: int = 2) -> None:
    """Draw one straight stroke per selected image, in place.

    Args:
        images: (n, h, w) float32, white ink on black.
        which: (m,) indices of the images to draw on.
        start, end: (m, 2) stroke ends as (x, y) pixel positions.
        value: (m,) ink value of each stroke.
        width: stroke width in pixels.
    """
    if len(which) == 0:
        return
    steps = int(np.ceil(np.abs(end - start).max())) * 2 + 2
    for t in np.linspace(0.0, 1.0, steps):
        p = start + t * (end - start)
        _splat(images, which, p[:, 0], p[:, 1], value, width)


def _ink_rows(digits: np.ndarray, threshold: float = 64.0) -> tuple[np.ndarray, np.ndarray]:
    """First and last row holding ink, per digit."""
    rows = digits.max(axis=2) > threshold
    top = rows.argmax(axis=1)
    bottom = digits.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    return top, bottom


def _ink_centre(digits: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Mean ink column of each digit on its given row (the middle if that row is empty)."""
    line = digits[np.arange(len(digits)), row]
    mass = line.sum(axis=1)
    cols = np.arange(digits.shape[2], dtype=np.float32)
    return np.where(mass > 0, (line * cols).sum(axis=1) / np.maximum(mass, 1e-6),
                    digits.shape[2] / 2)


# A flag is drawn FLAG_ANGLE degrees below the horizontal; with ``flat`` a share of them
# FLAT_FLAG_ANGLE: a long arm that leaves the stem's top almost level, as a 7's bar does
# but falling, as many logbook hands write the 1.
FLAG_ANGLE = (45, 80)
FLAT_FLAG_ANGLE = (25, 45)


def continental(digits: np.ndarray, labels: np.ndarray, p: float,
                rng: np.random.Generator, flat: float = 0.0,
                flat_rng: np.random.Generator | None = None) -> np.ndarray:
    """Give a fraction ``p`` of the 1s a flag and of the 7s a crossbar, as much of the world
    writes them (MNIST's writers mostly did not).

    Args:
        digits: (n, 28, 28) uint8 or float32 MNIST digits.
        labels: (n,) their labels.
        flat: share of the flags drawn flatter (FLAT_FLAG_ANGLE), chosen with ``flat_rng``
            so that ``rng``'s draws stay what they are without it.

    Returns:
        (n, 28, 28) float32.
    """
    out = digits.astype(np.float32)
    if p <= 0:
        return out
    chosen = rng.random(len(out)) < p
    top, bottom = _ink_rows(out)
    height = np.maximum(bottom - top, 8).astype(np.float32)
    ones = np.flatnonzero(chosen & (labels == 1))
    if len(ones):
        # The flag: from the top of the stem down to the left, from half the stem's length
        # to a stroke as long as the stem that makes the 1 an inverted V (both are common
        # in European logbooks). Longer, steeper flags read real logbooks better than short
        # ticks (docs/journal.md, "Realism").
        x0 = _ink_centre(out[ones], top[ones])
        length = height[ones] * rng.uniform(0.5, 1.15, len(ones)).astype(np.float32)
        degrees = rng.uniform(*FLAG_ANGLE, len(ones))  # below the horizontal
        if flat > 0:
            if flat_rng is None:
                raise ValueError("flat flags need their own generator (flat_rng)")
            flatter = flat_rng.random(len(ones)) < flat
            degrees = np.where(flatter, flat_rng.uniform(*FLAT_FLAG_ANGLE, len(ones)), degrees)
        angle = np.deg2rad(degrees)
        start = np.stack([x0, top[ones].astype(np.float32)], axis=1)
        end = start + np.stack([-length * np.cos(angle), length * np.sin(angle)], axis=1)
        draw_segments(out, ones, start, end, np.full(len(ones), INK, np.float32), 2)
    sevens = np.flatnonzero(chosen & (labels == 7))
    if len(sevens):
        # The bar: across the stem a little above the middle, about half the digit wide.
        row = (top[sevens] + height[sevens] * rng.uniform(0.45, 0.6, len(sevens))).astype(int)
        cx = _ink_centre(out[sevens], row)
        half = height[sevens] * rng.uniform(0.18, 0.3, len(sevens)).astype(np.float32)
        y = row.astype(np.float32)
        tilt = half * rng.uniform(-0.15, 0.15, len(sevens)).astype(np.float32)
        start = np.stack([cx - half, y + tilt], axis=1)
        end = np.stack([cx + half, y - tilt], axis=1)
        draw_segments(out, sevens, start, end, np.full(len(sevens), INK, np.float32), 2)
    return out


def wander(lengths: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Vertical offset of every digit on a smoothly wandering baseline.

    Each sequence's baseline is a sine of random phase and a period of 3 to 8 digits,
    with an amplitude up to ``amount`` pixels, plus a straight tilt of up to as much
    over the whole number: lines on a page are rarely level.

    Returns:
        (sum(lengths),) float32 offsets in pixels, digits of one sequence consecutive.
    """
    n = len(lengths)
    amp = rng.uniform(0, amount, n)
    period = rng.uniform(3, 8, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    tilt = rng.uniform(-amount, amount, n) / np.maximum(lengths, 1)
    seq = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(seq)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    centred = pos - (np.repeat(lengths, lengths) - 1) / 2
    off = amp[seq] * np.sin(2 * np.pi * pos / period[seq] + phase[seq]) + tilt[seq] * centred
    return off.astype(np.float32)


# Old-style figures: the digits that hang below the line (3, 4, 5, 7, 9; the 3, 4 and 5
# only in some hands); the others stand on it.
HANGING = (7, 9)
HANGING_SOME = (3, 4, 5)
HANGING_SOME_SHARE = 0.5  # of old-style numbers whose 3s, 4s and 5s hang too
# Each digit's size in an old-style number: room for the drop below and the rise above in
# the 28 rows of MNIST's box, where a digit's ink fills the middle 20.
OLD_STYLE_SIZE = 0.8
OLD_STYLE_DROP = (1.5, 3.0)  # pixels at height 28, each way: a hang of a fifth to a third


def old_style(labels: np.ndarray, lengths: np.ndarray, p: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Write a share ``p`` of numbers in old-style figures, as older registers' hands do.

    In such a number every digit is drawn at 0.8 of its size, so that the number mostly
    stays within the image's height (with the largest jitter and wander a hanging tail can
    be cut at the bottom row), the 7s and 9s (and in half of such numbers the 3s, 4s and 5s)
    drop below the others' baseline and the rest rise, by 1.5 to 3 pixels each way at height
    28: a 7 that hangs below its neighbours, which MNIST's writers, writing one digit to a
    box, never drew.

    Args:
        labels: (m,) each digit's label; lengths: (n,) digits per number, summing to m.

    Returns:
        scale: (m,) float32 size factor per digit (1 outside the chosen numbers);
        dy: (m,) float32 downward offset in pixels per digit.
    """
    n = len(lengths)
    chosen = rng.random(n) < p
    drop = rng.uniform(*OLD_STYLE_DROP, n)
    some = rng.random(n) < HANGING_SOME_SHARE
    seq = np.repeat(np.arange(n), lengths)
    hang = np.isin(labels, HANGING) | (np.isin(labels, HANGING_SOME) & some[seq])
    on = chosen[seq]
    scale = np.where(on, OLD_STYLE_SIZE, 1.0).astype(np.float32)
    dy = np.where(on, np.where(hang, drop[seq], -drop[seq]), 0.0).astype(np.float32)
    return scale, dy


# A number's last digit written smaller ("230" with a small final 0), as a hand hurrying to
# the cell's edge writes it: its size, and the share of such numbers (of 3 or more digits)
# whose last two digits shrink. A unit after a number is small too (``choose_units``): these
# keep small digits in the label.
SMALL_LAST_SIZE = (0.55, 0.8)
SMALL_LAST_TWO = 0.3
HALF_INK_HEIGHT = 10.0  # pixels at height 28: MNIST's ink fills the middle 20 rows


def small_last(lengths: np.ndarray, p: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Write the last digit (or two) of a share ``p`` of numbers smaller.

    A shrunk digit is drawn at 0.55 to 0.8 of its size, from centred on the line's middle
    (raised above the baseline by its lost half height) to standing on the baseline.

    Args:
        lengths: (n,) digits per number.

    Returns:
        scale: (m,) float32 size factor per digit (1 for the others); dy: (m,) float32
        downward offset in pixels per digit.
    """
    n = len(lengths)
    chosen = rng.random(n) < p
    two = chosen & (lengths >= 3) & (rng.random(n) < SMALL_LAST_TWO)
    size = rng.uniform(*SMALL_LAST_SIZE, n)
    down = rng.uniform(0, 1, n)
    seq = np.repeat(np.arange(n), lengths)
    from_end = np.repeat(np.cumsum(lengths), lengths) - 1 - np.arange(len(seq))
    on = (chosen[seq] & (from_end == 0)) | (two[seq] & (from_end == 1))
    scale = np.where(on, size[seq], 1.0).astype(np.float32)
    dy = np.where(on, (1 - size[seq]) * HALF_INK_HEIGHT * down[seq], 0.0).astype(np.float32)
    return scale, dy


# Kinds of mark drawn beside a number: nothing, a full stop, a comma, a dash before, after.
MARKS = ("none", "dot", "comma", "dash_before", "dash_after")
MARK_ROOM = {"none": (0, 0), "dot": (0, 6), "comma": (0, 6), "dash_before": (11, 0),
             "dash_after": (0, 11)}  # pixels of room (left, right) each needs at height 28


def choose_marks(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) indices into MARKS: a mark with probability p, its kind uniform."""
    kinds = rng.integers(1, len(MARKS), n)
    return np.where(rng.random(n) < p, kinds, 0)


def draw_marks(canvas: np.ndarray, kinds: np.ndarray, ink_left: np.ndarray,
               ink_right: np.ndarray, rng: np.random.Generator) -> None:
    """Draw each image's mark beside its number, in place.

    Args:
        canvas: (n, 28, w) float32.
        kinds: (n,) indices into MARKS.
        ink_left, ink_right: (n,) first and one-past-last column of the number's ink.
    """
    n = len(canvas)
    value = rng.uniform(160, 255, n).astype(np.float32)
    base = rng.uniform(21, 25, n).astype(np.float32)  # where a full stop sits
    for kind in ("dot", "comma"):
        which = np.flatnonzero(kinds == MARKS.index(kind))
        x = ink_right[which] + rng.uniform(1.5, 3.5, len(which)).astype(np.float32)
        _splat(canvas, which, x, base[which], value[which], 3)
        if kind == "comma":
            start = np.stack([x, base[which] + 1], axis=1)
            end = start + np.stack([-rng.uniform(1, 2.5, len(which)),
                                    rng.uniform(2.5, 4.5, len(which))], axis=1)
            draw_segments(canvas, which, start, end.astype(np.float32), value[which], 2)
    for kind in ("dash_before", "dash_after"):
        which = np.flatnonzero(kinds == MARKS.index(kind))
        length = rng.uniform(5, 8, len(which)).astype(np.float32)
        gap = rng.uniform(1.5, 2.5, len(which)).astype(np.float32)
        if kind == "dash_before":
            x1 = ink_left[which] - gap
            x0 = x1 - length
        else:
            x0 = ink_right[which] + gap
            x1 = x0 + length
        y = rng.uniform(12, 17, len(which)).astype(np.float32)
        tilt = rng.uniform(-1, 1, len(which)).astype(np.float32)
        draw_segments(canvas, which, np.stack([x0, y + tilt], 1), np.stack([x1, y - tilt], 1),
                      value[which], 2)


# A cell's remnant, in pixels at height 28: its gap to the number, its widest stroke, and
# the room kept beside a number for it (the widest gap plus the stroke).
REMNANT_GAP = (1, 10)
REMNANT_STROKE = 2
REMNANT_ROOM = REMNANT_GAP[1] + REMNANT_STROKE
REMNANT_SPAN = (0.35, 1.0)  # of the height: from a short stub to the whole cell's side
REMNANT_LEAN = 0.05  # largest tilt, pixels across per pixel down
REMNANT_INK = (100, 255)  # a printed border is often fainter than the pen
REMNANT_CORNER = 1 / 3  # share that turn along the top or bottom edge
REMNANT_REACH = (4, 14)  # how far a corner's stroke runs back towards the number


def choose_remnants(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which images get a cell's remnant, and where.

    Returns:
        side: (n,) 0 none, 1 left of the number, 2 right of it; room: (n,) the pixels of
        width each needs on that side (the gap to the number and the stroke).
    """
    side = np.where(rng.random(n) < p, rng.integers(1, 3, n), 0)
    gap = rng.integers(REMNANT_GAP[0], REMNANT_GAP[1] + 1, n)
    return side, np.where(side > 0, gap + REMNANT_STROKE, 0)


def draw_remnants(canvas: np.ndarray, side: np.ndarray, room: np.ndarray,
                  inner_left: np.ndarray, inner_right: np.ndarray,
                  rng: np.random.Generator) -> None:
    """What is left of a table cell's border after a number was cut out of it, in place.

    A straight stroke from the top or bottom edge along part of the height, a few pixels
    clear of the number on its side (the room ``choose_remnants`` gave it), 1 or 2 pixels
    thick and of varied darkness; a third of them turn a corner, a short stroke along the top
    or bottom edge back towards the number (over it where the gap is narrow, as a cell's top
    line runs). Unlike a whole border (``draw_rules``), a remnant mostly stops short of the
    image's height and stands apart from the ink, as a crop that missed the cell's edge by a
    little leaves it: shaped like a thin "1" that the label does not have. The gap is kept
    from the columns given; the image's blur can join a 1-pixel gap, an underline
    (``--strike``) can run up to 4 pixels past the number into it, and where digits overlap
    a narrow first digit may not be the leftmost ink.

    Args:
        canvas: (n, h, w) float32, white ink on black.
        side, room: from ``choose_remnants``.
        inner_left, inner_right: (n,) the first and one-past-last column of everything
            drawn for the number (marks and affixes included); the remnant lies beyond.
    """
    which = np.flatnonzero(side > 0)
    if len(which) == 0:
        return
    h = canvas.shape[1]
    m = len(which)
    right = side[which] == 2
    x = np.where(right, inner_right[which] + room[which] - REMNANT_STROKE,
                 inner_left[which] - room[which]).astype(np.float32)
    span = rng.uniform(*REMNANT_SPAN, m) * (h - 1)
    # From the top edge or to the bottom one, as the cut left it: a stroke that touches
    # neither would be a thin "1".
    anchor = rng.integers(0, 2, m)  # 0 from the top, 1 to the bottom
    top = np.where(anchor == 0, 0.0, h - 1 - span)
    bottom = top + span
    # A slight tilt, away from the number so that the gap holds along the whole stroke.
    lean = (rng.uniform(0, REMNANT_LEAN, m) * span * np.where(right, 1, -1)).astype(np.float32)
    value = rng.uniform(*REMNANT_INK, m).astype(np.float32)
    width = rng.integers(1, REMNANT_STROKE + 1, m)
    corner = rng.random(m) < REMNANT_CORNER
    reach = rng.uniform(*REMNANT_REACH, m).astype(np.float32)
    for w in range(1, REMNANT_STROKE + 1):
        sel = np.flatnonzero(width == w)
        start = np.stack([x[sel], top[sel]], axis=1).astype(np.float32)
        end = np.stack([x[sel] + lean[sel], bottom[sel]], axis=1).astype(np.float32)
        draw_segments(canvas, which[sel], start, end, value[sel], w)
        sel = sel[corner[sel]]
        row = np.where(anchor[sel] == 0, top[sel], bottom[sel]).astype(np.float32)
        tip = x[sel] + np.where(right[sel], -reach[sel], reach[sel])
        draw_segments(canvas, which[sel], np.stack([x[sel], row], axis=1),
                      np.stack([tip, row], axis=1).astype(np.float32), value[sel], w)


def draw_rules(canvas: np.ndarray, widths: np.ndarray, p: float,
               rng: np.random.Generator) -> None:
    """With probability p per image, a ruling line or a table border, in place.

    Half are horizontal lines across the whole width near the top or the bottom (ruled
    paper, a table's row lines, an underline), half vertical borders at the left or right
    edge (a table's columns); 1 or 2 pixels thick, slightly tilted, of varied darkness.

    Args:
        canvas: (n, h, w) float32; widths: (n,) each image's own width.
    """
    n, h, w = canvas.shape
    chosen = np.flatnonzero(rng.random(n) < p)
    if len(chosen) == 0:
        return
    horizontal = rng.random(len(chosen)) < 0.5
    value = rng.uniform(120, 255, len(chosen)).astype(np.float32)
    thick = rng.integers(1, 3, len(chosen))
    flat = _flat(canvas)
    for sel, is_h in ((np.flatnonzero(horizontal), True), (np.flatnonzero(~horizontal), False)):
        which = chosen[sel]
        if len(which) == 0:
            continue
        m = len(which)
        near_end = rng.random(m) < 0.5
        if is_h:
            pos = np.where(near_end, rng.uniform(h - 5, h - 1, m), rng.uniform(0, 4, m))
            slope = rng.uniform(-0.03, 0.03, m)
            along = np.arange(w)[None, :]
            across = pos[:, None] + slope[:, None] * along
            size = h
        else:
            pos = np.where(near_end, widths[which] - rng.uniform(1, 3, m), rng.uniform(0, 2, m))
            slope = rng.uniform(-0.05, 0.05, m)
            along = np.arange(h)[None, :]
            across = pos[:, None] + slope[:, None] * along
            size = w
        for extra in range(2):
            line = np.clip(np.rint(across + extra).astype(np.int64), 0, size - 1)
            keep = (extra < thick[sel])[:, None] & np.ones_like(line, bool)
            if is_h:
                idx = which[:, None] * (h * w) + line * w + along
            else:
                idx = which[:, None] * (h * w) + along * w + line
            idx = idx[keep]
            vals = np.broadcast_to(value[sel][:, None], line.shape)[keep]
            flat[idx] = np.maximum(flat[idx], vals)


# Units written after a number ("180cm", "25mm", "3kg", "200g"), in lower-case letters
# about half a digit's height that the label does not have. Each letter is a few
# polylines in units of the x-height: x to the right, y up from the baseline (an ascender
# reaches 2, a descender -0.6).
_C = [[(0.8, 0.85), (0.55, 1.0), (0.25, 0.95), (0.05, 0.65), (0.02, 0.3), (0.2, 0.03),
       (0.5, 0.0), (0.8, 0.15)]]
_M = [[(0.0, 0.75), (0.06, 1.0), (0.08, 0.5), (0.08, 0.0), (0.1, 0.55), (0.22, 0.92),
       (0.34, 1.0), (0.46, 0.85), (0.5, 0.4), (0.52, 0.0), (0.54, 0.55), (0.66, 0.92),
       (0.78, 1.0), (0.9, 0.85), (0.95, 0.4), (0.98, 0.0), (1.08, 0.1)]]
_K = [[(0.06, 2.0), (0.03, 1.0), (0.0, 0.0)],
      [(0.02, 0.35), (0.3, 0.8), (0.5, 0.95), (0.46, 0.66), (0.12, 0.45), (0.35, 0.28),
       (0.62, 0.0)]]
_G = [[(0.66, 0.85), (0.45, 1.0), (0.15, 0.9), (0.0, 0.6), (0.1, 0.2), (0.35, 0.1),
       (0.6, 0.35), (0.66, 0.85)],
      [(0.7, 1.0), (0.67, 0.2), (0.6, -0.4), (0.4, -0.6), (0.1, -0.5)]]
_LETTERS = {"c": (_C, 0.82), "m": (_M, 1.08), "k": (_K, 0.62), "g": (_G, 0.72)}
UNITS = ("cm", "mm", "m", "kg", "g")
# How far the letters reach above and below the baseline, in x-heights.
_ASCENT = max(y for polys, _ in _LETTERS.values() for poly in polys for _, y in poly)
_DESCENT = -min(y for polys, _ in _LETTERS.values() for poly in polys for _, y in poly)
_WIDEST = max(sum(_LETTERS[letter][1] for letter in unit) for unit in UNITS)
UNIT_XHEIGHT = (5.0, 9.0)  # pixels at height 28: a third to a half of a digit's height
UNIT_BASE = (19.0, 23.0)  # the baseline's row; MNIST's digits end about row 23
UNIT_GAP = (2.0, 6.0)  # pixels between the number and the unit
UNIT_SLANT = (-0.1, 0.4)  # forward lean, pixels across per pixel up
UNIT_SPACE = (0.05, 0.3)  # between letters, in x-heights
UNIT_JITTER = 0.05  # per point, in x-heights: no two hands draw a letter alike
UNIT_INK = (120, 255)
UNIT_THICK_FROM = 7.0  # x-height from which half the units are written 2 pixels thick
# Widest room a unit can take: the gap, the widest unit at the largest x-height with the
# widest spacing, its lean, and the stroke.
UNIT_ROOM = int(np.ceil(UNIT_GAP[1] + UNIT_XHEIGHT[1] * (_WIDEST + UNIT_SPACE[1]
                                                         + 1.1 * UNIT_SLANT[1]
                                                         + 2 * UNIT_JITTER) + 3))


@dataclass
class Units:
    """The units chosen for a chunk, placed relative to the end of each number.

    Attributes:
        kind: (n,) 0 for no unit, else 1 + its index in UNITS.
        room: (n,) pixels of width each image needs right of the number (0 without one).
        which, start, end, width: one row per stroke segment: its image, its ends as
            (x, y) with x from the end of everything drawn right of the number, its pen
            width.
        value: (n,) ink of each image's unit.
    """

    kind: np.ndarray
    room: np.ndarray
    which: np.ndarray
    start: np.ndarray
    end: np.ndarray
    width: np.ndarray
    value: np.ndarray


def choose_units(n: int, p: float, rng: np.random.Generator, height: int = 28) -> Units:
    """Which numbers get a unit after them, which unit, and its strokes.

    The letters are drawn whole chunks at a time, per unit: each image its own x-height,
    baseline, lean, letter spacing and a small jitter per point. The x-height is kept so
    that an ascender and a descender stay inside the image.
    """
    kind = np.where(rng.random(n) < p, rng.integers(1, len(UNITS) + 1, n), 0)
    base = rng.uniform(*UNIT_BASE, n)
    xh = np.minimum(rng.uniform(*UNIT_XHEIGHT, n),
                    np.minimum((base - 1) / _ASCENT, (height - 1 - base) / _DESCENT))
    slant = rng.uniform(*UNIT_SLANT, n)
    gap = rng.uniform(*UNIT_GAP, n)
    value = rng.uniform(*UNIT_INK, n).astype(np.float32)
    # A 2-pixel pen would fill the loops of the smaller letters.
    pen = np.where(xh >= UNIT_THICK_FROM, rng.integers(1, 3, n), 1)
    room = np.zeros(n, np.int64)
    which, start, end, width = [], [], [], []
    for k, unit in enumerate(UNITS, start=1):
        sel = np.flatnonzero(kind == k)
        m = len(sel)
        if m == 0:
            continue
        offset = np.zeros(m)
        lines = []  # (m, points, 2) in pixels, x from the unit's left before the shift
        for letter in unit:
            polylines, advance = _LETTERS[letter]
            for poly in polylines:
                t = np.asarray(poly)[None]
                jit = rng.uniform(-UNIT_JITTER, UNIT_JITTER, (m,) + t.shape[1:])
                pts = (t + jit) * xh[sel, None, None]
                x = offset[:, None] + pts[..., 0] + slant[sel, None] * pts[..., 1]
                lines.append(np.stack([x, base[sel, None] - pts[..., 1]], axis=-1))
            offset = offset + (advance + rng.uniform(*UNIT_SPACE, m)) * xh[sel]
        left = np.min([a[..., 0].min(axis=1) for a in lines], axis=0)
        right = np.max([a[..., 0].max(axis=1) for a in lines], axis=0)
        shift = gap[sel] - left
        room[sel] = np.ceil(right + shift + pen[sel]).astype(np.int64)
        for a in lines:
            a = a + np.stack([shift, np.zeros(m)], axis=1)[:, None, :]
            for j in range(a.shape[1] - 1):
                which.append(sel)
                start.append(a[:, j])
                end.append(a[:, j + 1])
                width.append(pen[sel])
    if not which:
        empty = np.zeros((0, 2), np.float32)
        return Units(kind, room, np.zeros(0, np.int64), empty, empty, np.zeros(0, np.int64), value)
    return Units(kind, room, np.concatenate(which), np.concatenate(start).astype(np.float32),
                 np.concatenate(end).astype(np.float32), np.concatenate(width), value)


def draw_units(canvas: np.ndarray, units: Units, left: np.ndarray) -> None:
    """Draw the chosen units, in place.

    Args:
        canvas: (n, h, w) float32, white ink on black.
        units: from ``choose_units``.
        left: (n,) column where the room after the number (marks, signs) ends.
    """
    x0 = left[units.which].astype(np.float32)
    move = np.stack([x0, np.zeros_like(x0)], axis=1)
    for w in (1, 2):
        sel = np.flatnonzero(units.width == w)
        draw_segments(canvas, units.which[sel], units.start[sel] + move[sel],
                      units.end[sel] + move[sel], units.value[units.which[sel]], w)


# Joined writing: many hands run the pen on from one digit into the next (a "200" whose
# zeros hang on one stroke, a 0 entered from its top), which MNIST's one-digit boxes never
# show. A join leaves the rightmost ink of a digit's lower half and rises to the next
# digit's first ink at its top (or, for a share, its leftmost ink), sagging on the way.
LIGATURE_PAIR = 0.7  # share of a joined number's neighbouring pairs that are joined
LIGATURE_REACH = 14.0  # widest join in pixels across; digits farther apart stay apart
LIGATURE_TOP = 0.6  # share of joins that enter the next digit at its top
LIGATURE_SAG = (0.0, 3.0)  # pixels its curve's control point lies below its lower end
LIGATURE_THIN = 0.3  # share of joins one pixel wide (a fast stroke), the others two
LIGATURE_INK = (0.7, 1.0)  # of the fainter of the two digits' ink
LIGATURE_LEVEL = 64.0  # ink level that counts as stroke when finding a join's ends
LIGATURE_STEPS = 8  # straight pieces per join


def join_ends(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where joins may leave and enter each (28, 28) digit, in its box's pixels.

    Returns:
        exit: (n, 2) the rightmost ink of the lower half, at its lowest row there; enter_top:
        (n, 2) the leftmost ink of the top row; enter_left: (n, 2) the leftmost column's ink,
        at its mean row. Digits without ink give the box's middle.
    """
    n, h, w = digits.shape
    ink = digits > LIGATURE_LEVEL
    top, bottom = _ink_rows(digits, LIGATURE_LEVEL)
    rows = np.arange(h)[None, :, None]
    lower = ink & (rows >= ((top + bottom) / 2)[:, None, None])
    any_lower = lower.any(axis=1)  # (n, w)
    exit_x = w - 1 - any_lower[:, ::-1].argmax(axis=1)
    column = lower[np.arange(n), :, exit_x]  # (n, h)
    exit_y = h - 1 - column[:, ::-1].argmax(axis=1)
    top_x = ink[np.arange(n), top].argmax(axis=1)
    any_ink = ink.any(axis=1)
    left_x = any_ink.argmax(axis=1)
    left_col = ink[np.arange(n), :, left_x]
    left_y = (left_col * np.arange(h)).sum(axis=1) / np.maximum(left_col.sum(axis=1), 1)
    blank = ~any_ink.any(axis=1)
    mid = np.array([w / 2, h / 2])
    exit_ = np.where(blank[:, None], mid, np.stack([exit_x, exit_y], axis=1))
    enter_top = np.where(blank[:, None], mid, np.stack([top_x, top], axis=1))
    enter_left = np.where(blank[:, None], mid, np.stack([left_x, left_y], axis=1))
    return exit_.astype(np.float32), enter_top.astype(np.float32), enter_left.astype(np.float32)


def draw_ligatures(canvas: np.ndarray, digits: np.ndarray, box_x: np.ndarray,
                   lengths: np.ndarray, p: float, rng: np.random.Generator) -> None:
    """Join neighbouring digits of a share ``p`` of the numbers with a pen stroke, in place.

    Args:
        canvas: (n, 28, w) float32, the composed numbers, white ink on black.
        digits: (m, 28, 28) the digits as drawn, numbers one after another.
        box_x: (m,) the column of each digit's box on its number's canvas.
        lengths: (n,) digits per number.
        p: share of numbers joined; each of their neighbouring pairs is joined with
            probability LIGATURE_PAIR when the join is at most LIGATURE_REACH across.
    """
    n = len(lengths)
    m = len(digits)
    number = rng.random(n) < p
    pair = rng.random(m) < LIGATURE_PAIR
    top = rng.random(m) < LIGATURE_TOP
    sag = rng.uniform(*LIGATURE_SAG, m)
    bend = rng.uniform(0.3, 0.8, m)  # where along the way the stroke turns upward
    thin = rng.random(m) < LIGATURE_THIN
    shade = rng.uniform(*LIGATURE_INK, m)
    exit_, enter_top, enter_left = join_ends(digits)
    last = np.zeros(m, bool)
    last[np.cumsum(lengths) - 1] = True
    has_next = ~last & np.repeat(number, lengths)
    nxt = np.minimum(np.arange(m) + 1, m - 1)
    a = exit_ + np.stack([box_x, np.zeros(m)], axis=1)
    enter = np.where(top[nxt, None], enter_top[nxt], enter_left[nxt])
    b = enter + np.stack([box_x[nxt], np.zeros(m)], axis=1)
    span = b[:, 0] - a[:, 0]
    joined = has_next & pair & (span > 0) & (span <= LIGATURE_REACH)
    sel = np.flatnonzero(joined)
    if len(sel) == 0:
        return
    a, b = a[sel], b[sel]
    # A quadratic curve through a control point below the lower end: the pen runs on
    # along the line, then turns up into the next digit.
    ctrl = np.stack([a[:, 0] + bend[sel] * (b[:, 0] - a[:, 0]),
                     np.maximum(a[:, 1], b[:, 1]) + sag[sel]], axis=1)
    fainter = np.minimum(digits[sel].max(axis=(1, 2)), digits[sel + 1].max(axis=(1, 2)))
    value = (fainter * shade[sel]).astype(np.float32)
    which = np.repeat(np.arange(n), lengths)[sel]
    t = np.linspace(0.0, 1.0, LIGATURE_STEPS + 1)[:, None, None]
    curve = (1 - t) ** 2 * a + 2 * t * (1 - t) * ctrl + t ** 2 * b  # (steps + 1, k, 2)
    for width, group in ((1, thin[sel]), (2, ~thin[sel])):
        g = np.flatnonzero(group)
        for j in range(LIGATURE_STEPS):
            draw_segments(canvas, which[g], curve[j, g], curve[j + 1, g], value[g], width)


def on_paper(image: np.ndarray, rng: np.random.Generator, ink_min: float,
             jpeg_min: int) -> np.ndarray:
    """Render one white-on-black image as dark ink on paper, as a scan or photo shows it.

    Paper: a tone between light grey and white, a smooth uneven texture (lighting, stains)
    and grain. Ink: its darkness a random fraction in [ink_min, 1] of the paper's
    brightness (pencil and faded ink are faint). Then, if jpeg_min > 0, a JPEG round trip
    at a quality drawn from [jpeg_min, 95].

    Args:
        image: (h, w) uint8, white ink on black.

    Returns:
        (h, w) uint8, dark ink on light paper.
    """
    h, w = image.shape
    tone = rng.uniform(150, 250)
    coarse = rng.normal(0, rng.uniform(0, 12), (3, max(2, w // 12 + 1)))
    ys = np.linspace(0, coarse.shape[0] - 1, h)
    xs = np.linspace(0, coarse.shape[1] - 1, w)
    texture = _bilinear(coarse, ys, xs)
    grain = rng.normal(0, rng.uniform(0, 6), (h, w))
    paper = tone + texture + grain
    ink = rng.uniform(ink_min, 1.0) * tone
    out = paper - ink * (image.astype(np.float32) / 255.0)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if jpeg_min > 0:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(jpeg_min, 96)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    return out


def _bilinear(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample a small 2-D grid bilinearly at fractional rows ys and columns xs."""
    y0 = np.minimum(ys.astype(int), grid.shape[0] - 2)
    x0 = np.minimum(xs.astype(int), grid.shape[1] - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    return (g00 * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy
