"""Numbers as people write them on amounts and forms.

Amounts and form fields carry what a plain row of digits lacks: thousands and decimal
separators ("1.480", "1'250", "3 500", "12.500,00"), signs and marks around the number
("$", "€", "#" before, "-", "=", "/-" after), security-printed guilloche backgrounds,
boxed fields with one cell per digit, underlines and strike-throughs, and pens much
thicker or thinner than MNIST's. None of them is a digit, so the label never changes.

Everything is vectorised over a chunk like ``digits.realism`` (white ink 255 on black 0,
(n, 28, w) float32 canvases at height 28). ``digits.compose`` calls ``layout`` to widen
gaps and reserve room before it places the digits, and the ``draw_*`` functions after.
The draws come from a generator spawned from the chunk's (``child_rng``), which leaves the
chunk's own stream untouched: with every share at 0 the output is byte for byte what it
was without this module, and turning one on leaves the digits, their shapes and the other
effects' choices as they were (image noise differs only when the chunk's widest image
grows, since it is drawn over the whole chunk's canvas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.realism import _flat, _splat, draw_segments

FIELDS = ("separators", "affixes", "guilloche", "boxes", "strike", "pen")

# Marks between digit groups. Each widens its gap by a room drawn from (low, high) pixels:
# enough for a 2-3 pixel dot with a pixel of air on each side, or a visible space.
SEPARATORS = ("none", "dot", "comma", "apostrophe", "space")
SEP_ROOM = {"dot": (4, 7), "comma": (4, 7), "apostrophe": (4, 7), "space": (6, 11)}
SEP_ROOM_MAX = max(high for _, high in SEP_ROOM.values())
SEP_MIN_LENGTH = 4  # "1.480": nobody groups the digits of a shorter amount.
DECIMAL_SHARE = 0.3  # Of separated numbers, written with two decimals: "1.250,00".
SEP_INK_ROW = 64.0  # Ink threshold for the rows a neighbour's ink spans (as realism's).

# Signs before or after the number, and the room (left, right) each needs at height 28.
AFFIXES = ("none", "dash", "equals", "slash_dash", "hash", "dollar", "euro")
AFFIX_ROOM = {"none": (0, 0), "dash": (0, 11), "equals": (0, 11), "slash_dash": (0, 17),
              "hash": (16, 0), "dollar": (13, 0), "euro": (14, 0)}
AFFIX_ROOM_MAX = max(sum(r) for r in AFFIX_ROOM.values())

# Boxed fields: cells as wide as the number's widest digit, at least a typical digit's
# width, plus padding each side so that the ink never touches the cell's lines.
CELL_TYPICAL = (12, 19)  # pixels, [low, high): a printed cell is about a digit wide
CELL_PAD = (2, 6)  # pixels each side, [low, high); 2 = a line plus a pixel of air
COMB_SHARE = 0.25  # Of boxed fields, printed as a comb: a baseline and short ticks only.


def enabled(cfg) -> bool:
    """Whether any form effect is on (the chunk then spawns a generator for them)."""
    return cfg.augment and any(getattr(cfg, f) > 0 for f in FIELDS)


def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator spawned from ``rng`` without advancing it, so every other draw of the
    chunk stays what it was."""
    return rng.spawn(1)[0]


def max_separators(length: int) -> int:
    """Most separators a number of ``length`` digits gets ("12.345.678,00": 3 for 10)."""
    return 0 if length < SEP_MIN_LENGTH else 1 + (length - 3) // 3


def separator_room(cfg) -> int:
    """Extra width separators can add over ``max_gap`` per gap, summed over a number."""
    if cfg.separators <= 0:
        return 0
    return max_separators(cfg.max_length) * (max(0, -cfg.max_gap) + SEP_ROOM_MAX)


def affix_room(cfg) -> int:
    return AFFIX_ROOM_MAX if cfg.affixes > 0 else 0


def boxed_width(cfg, digit: int) -> int:
    """Widest boxed number: every cell as wide as a whole digit box plus padding, and the
    right line's column (margins, marks and affixes not included)."""
    if cfg.boxes <= 0:
        return 0
    return cfg.max_length * (digit + 2 * (CELL_PAD[1] - 1)) + 1


@dataclass
class Layout:
    """Per-chunk decisions of the form effects, drawn before the digits are placed.

    Attributes:
        rng: the spawned generator every later draw uses.
        gaps: (digits,) ink-to-ink gap after each digit, widened for separators and cells.
        separator: (digits,) index into SEPARATORS of the mark after each digit.
        affix: (n,) index into AFFIXES.
        lead, trail: (n,) room for the affix, outside any mark's room.
        boxed: (n,) whether the number is written in cells; cell: (n,) their width.
        box_lead, box_trail: (n,) from the left line to the first ink, from the last ink
            to one past the right line (0 when not boxed).
        top, bottom: (digits,) first and last ink row of each digit (separators only).
    """

    rng: np.random.Generator
    gaps: np.ndarray
    separator: np.ndarray
    affix: np.ndarray
    lead: np.ndarray
    trail: np.ndarray
    boxed: np.ndarray
    cell: np.ndarray
    box_lead: np.ndarray
    box_trail: np.ndarray
    top: np.ndarray | None = None
    bottom: np.ndarray | None = None


def layout(digits: np.ndarray, first: np.ndarray, last: np.ndarray, gaps: np.ndarray,
           lengths: np.ndarray, cfg, rng: np.random.Generator) -> Layout:
    """Choose boxes, separators and affixes and the room they need.

    Args:
        digits: (digits, 28, 28) float32 augmented digits, sequences consecutive.
        first, last: (digits,) first and last ink column of each.
        gaps: (digits,) the ink-to-ink gaps drawn so far (the last of a number unused).
        lengths: (n,) digits per number.
    """
    n, total = len(lengths), len(gaps)
    starts = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    seq = np.repeat(np.arange(n), lengths)
    pos = np.arange(total) - starts[seq]
    right = np.repeat(lengths, lengths) - 1 - pos  # digits to the right of each
    gaps = gaps.astype(np.int64)
    zeros = np.zeros(n, np.int64)
    boxed = rng.random(n) < cfg.boxes if cfg.boxes > 0 else np.zeros(n, bool)
    cell, box_lead, box_trail = zeros.copy(), zeros.copy(), zeros.copy()
    if boxed.any():
        width = (last - first + 1).astype(np.int64)
        widest = np.maximum.reduceat(width, starts)
        pad = rng.integers(*CELL_PAD, n)
        cell = np.maximum(widest, rng.integers(*CELL_TYPICAL, n)) + 2 * pad
        slack = cell[seq] - width  # >= 4: room for the line and air on both sides
        centre = slack // 2 + rng.integers(-1, 2, total)
        off = np.clip(centre, 2, slack - 2)  # ink start within its cell
        nxt = np.append(off[1:], 0)
        in_box = boxed[seq]
        gaps = np.where(in_box, cell[seq] + nxt - off - width, gaps)
        last_digit = starts + lengths - 1
        box_lead = np.where(boxed, off[starts], 0)
        box_trail = np.where(boxed, cell - off[last_digit] - width[last_digit] + 1, 0)
    separator = np.zeros(total, np.int64)
    top = bottom = None
    if cfg.separators > 0:
        chosen = (rng.random(n) < cfg.separators) & (lengths >= SEP_MIN_LENGTH) & ~boxed
        decimal = rng.random(n) < DECIMAL_SHARE
        group = rng.integers(1, len(SEPARATORS), n)  # one kind for all group marks
        dec_mark = rng.integers(1, 3, n)  # dot or comma
        # Beside a decimal dot or comma the groups take the other or an apostrophe/space.
        group = np.where(decimal & (group == dec_mark), 3 - dec_mark, group)
        d_seq, d_dec, d_group = chosen[seq], decimal[seq], group[seq]
        thousands = (right > 0) & (((right - np.where(d_dec, 2, 0)) % 3) == 0) \
            & (right > np.where(d_dec, 2, 0))
        separator = np.where(d_seq & thousands, d_group, 0)
        separator = np.where(d_seq & d_dec & (right == 2), dec_mark[seq], separator)
        low = np.array([0] + [SEP_ROOM[k][0] for k in SEPARATORS[1:]])
        high = np.array([1] + [SEP_ROOM[k][1] for k in SEPARATORS[1:]])
        room = rng.integers(low[separator], high[separator] + 1)
        gaps = np.where(separator > 0, np.maximum(gaps, 0) + room, gaps)
        rows = digits.max(axis=2) > SEP_INK_ROW
        top = rows.argmax(axis=1)
        bottom = digits.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    affix = np.zeros(n, np.int64)
    lead, trail = zeros, zeros
    if cfg.affixes > 0:
        kinds = rng.integers(1, len(AFFIXES), n)
        affix = np.where(rng.random(n) < cfg.affixes, kinds, 0)
        lead = np.array([AFFIX_ROOM[AFFIXES[k]][0] for k in affix], np.int64)
        trail = np.array([AFFIX_ROOM[AFFIXES[k]][1] for k in affix], np.int64)
    return Layout(rng, gaps, separator, affix, lead, trail, boxed, cell, box_lead,
                  box_trail, top, bottom)


def _dilate(images: np.ndarray) -> np.ndarray:
    """3x3 max filter of (m, h, w) float images (the background beyond the edge is 0)."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = np.maximum(np.maximum(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])
    return np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def _blur(images: np.ndarray) -> np.ndarray:
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) * np.float32(1 / 9)


def _thin(images: np.ndarray) -> np.ndarray:
    """Strokes about a pixel thinner, mostly still connected.

    A 2x2 erosion takes a pixel off every stroke; on its own it cuts a third of MNIST's
    2-pixel strokes apart, so the stroke's centre line (pixels at a maximum of the smoothed
    digit across any of four directions) is kept at its ink as well.
    """
    e = images.copy()
    np.minimum(e[:, :, :-1], images[:, :, 1:], out=e[:, :, :-1])
    eroded = e.copy()
    np.minimum(eroded[:, :-1], e[:, 1:], out=eroded[:, :-1])
    s = np.pad(_blur(_blur(images)), ((0, 0), (1, 1), (1, 1)))
    h, w = images.shape[1:]
    c = s[:, 1:-1, 1:-1]
    ridge = np.zeros(images.shape, bool)
    for (y0, x0), (y1, x1) in (((1, 0), (1, 2)), ((0, 1), (2, 1)), ((0, 0), (2, 2)),
                               ((0, 2), (2, 0))):
        ridge |= (c >= s[:, y0:y0 + h, x0:x0 + w]) & (c >= s[:, y1:y1 + h, x1:x1 + w])
    return np.maximum(eroded, np.where(ridge, images, 0))


def pen(digits: np.ndarray, lengths: np.ndarray, p: float,
        rng: np.random.Generator) -> np.ndarray:
    """Write a share ``p`` of the numbers, all their digits alike, with a pen much thicker
    (half of them: between one and two 3x3 dilations) or thinner (the other half: ``_thin``)
    than MNIST's.

    Args:
        digits: (digits, 28, 28) uint8 or float32, each number's digits consecutive.
        lengths: (n,) digits per number.

    Returns:
        (digits, 28, 28) float32.
    """
    out = digits.astype(np.float32)
    n = len(lengths)
    chosen = rng.random(n) < p
    thick = rng.random(n) < 0.5
    weight = rng.uniform(0.2, 1.0, n).astype(np.float32)  # how far toward the 2nd dilation
    seq = np.repeat(np.arange(n), lengths)
    fat = np.flatnonzero((chosen & thick)[seq])
    if len(fat):
        once = _dilate(out[fat])
        twice = _dilate(once)
        out[fat] = once + weight[seq[fat], None, None] * (twice - once)
    slim = np.flatnonzero((chosen & ~thick)[seq])
    if len(slim):
        out[slim] = _thin(out[slim])
    return out


def draw_separators(canvas: np.ndarray, form: Layout, ink_start: np.ndarray,
                    width: np.ndarray, seq: np.ndarray) -> None:
    """Draw each separator mark centred in its widened gap, in place.

    Args:
        canvas: (n, 28, w) float32.
        ink_start, width: (digits,) first ink column and ink width of each digit.
        seq: (digits,) the number each digit belongs to.
    """
    sep = form.separator
    has = np.flatnonzero(sep > 0)
    if len(has) == 0:
        return
    rng = form.rng
    m = len(has)
    # The next digit is in the same number: a separator is never after a number's last.
    x = (ink_start[has] + width[has] + ink_start[has + 1]) / 2 - 0.5
    x = (x + rng.uniform(-0.5, 0.5, m)).astype(np.float32)
    base = np.minimum(np.maximum(form.bottom[has], form.bottom[has + 1]), 26)
    top = np.maximum(np.minimum(form.top[has], form.top[has + 1]), 1)
    value = rng.uniform(170, 255, m).astype(np.float32)
    which = seq[has]
    kind = sep[has]
    for name in ("dot", "comma"):
        k = np.flatnonzero(kind == SEPARATORS.index(name))
        y = (base[k] - rng.uniform(0, 1.5, len(k))).astype(np.float32)
        size = 3 if name == "dot" else 2
        _splat(canvas, which[k], x[k], y, value[k], size)
        if name == "comma":
            start = np.stack([x[k], y + 0.5], axis=1)
            end = start + np.stack([-rng.uniform(0.5, 2, len(k)),
                                    rng.uniform(2.5, 4.5, len(k))], axis=1)
            draw_segments(canvas, which[k], start, end.astype(np.float32), value[k], 2)
    k = np.flatnonzero(kind == SEPARATORS.index("apostrophe"))
    y0 = (top[k] - rng.uniform(0, 1.5, len(k))).astype(np.float32)
    start = np.stack([x[k] + rng.uniform(0, 1, len(k)).astype(np.float32), y0], axis=1)
    end = start + np.stack([-rng.uniform(0, 1.5, len(k)),
                            rng.uniform(3, 5.5, len(k))], axis=1).astype(np.float32)
    draw_segments(canvas, which[k], start, end, value[k], 2)


def _strokes(strokes: list, which: np.ndarray, points: list[np.ndarray],
             value: np.ndarray, width: int = 2) -> None:
    """Queue a polyline through (m, 2) points per image (all with as many points)."""
    for a, b in zip(points[:-1], points[1:], strict=True):
        strokes.append((which, a, b, value, width))


def _draw_strokes(canvas: np.ndarray, strokes: list) -> None:
    """Draw queued strokes, all of one width in one ``draw_segments`` call: a call costs
    the same for one stroke as for thousands. Strokes of one image share its ink value,
    so two of them writing one pixel at once cannot lose the brighter."""
    for width in sorted({s[4] for s in strokes}):
        mine = [s for s in strokes if s[4] == width]
        draw_segments(canvas, *(np.concatenate([s[k] for s in mine]).astype(
            np.float32 if k else np.int64) for k in range(4)), width)


def _arc(cx, cy, rx, ry, degrees: np.ndarray) -> list[np.ndarray]:
    """Points on an ellipse at the given angles (counter-clockwise, y up), image coords."""
    t = np.deg2rad(degrees)
    return [np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], axis=1) for a in t]


def draw_affixes(canvas: np.ndarray, form: Layout, left: np.ndarray,
                 right: np.ndarray) -> None:
    """Draw each number's sign before or after it, in place.

    Args:
        canvas: (n, 28, w) float32.
        left: (n,) column where the room before the number (and any mark) ends.
        right: (n,) column where the room after the number (and any mark) begins.
    """
    rng = form.rng
    n = len(canvas)
    value = rng.uniform(150, 255, n).astype(np.float32)
    mid = rng.uniform(12, 16.5, n).astype(np.float32)  # the middle of the digits' height
    air = rng.uniform(1, 2.5, n).astype(np.float32)  # between the sign and the number
    strokes: list = []
    for name in AFFIXES[1:]:
        which = np.flatnonzero(form.affix == AFFIXES.index(name))
        m = len(which)
        if m == 0:
            continue
        v, y = value[which], mid[which]
        before, after = AFFIX_ROOM[name]
        x0 = right[which] + air[which]  # left edge of a sign after the number
        x1 = left[which] - air[which]  # right edge of a sign before it

        def u(a, b, m=m):
            return rng.uniform(a, b, m).astype(np.float32)

        if name in ("dash", "equals"):
            length, tilt = u(5, after - 3), u(-0.8, 0.8)
            for dy in ((0,) if name == "dash" else (-2.5, 2.5)):
                jig = u(-0.5, 0.5) + dy * u(0.8, 1.2)
                _strokes(strokes, which, [np.stack([x0, y + jig + tilt], 1),
                                          np.stack([x0 + length, y + jig - tilt], 1)], v)
        elif name == "slash_dash":
            # A slash leaning well past a 1's slant, then a dash from its foot's height.
            h = u(4.5, 7)
            slash_end = x0 + u(6, 8)
            _strokes(strokes, which, [np.stack([x0, y + h], 1),
                                      np.stack([slash_end, y - h], 1)], v)
            dash = x0 + u(5, 7)
            _strokes(strokes, which, [np.stack([dash, y + u(-1, 1.5)], 1),
                                      np.stack([x0 + after - 3 + u(-1, 0.5), y + u(-1, 1)], 1)],
                     v)
        elif name == "hash":
            size = u(9, before - 3)
            lean = u(0.1, 0.35) * size
            xl = x1 - size
            for f in (0.3, 0.7):  # two leaning uprights, two bars
                x = xl + f * size + u(-0.5, 0.5)
                _strokes(strokes, which, [np.stack([x + lean / 2, y - size / 2], 1),
                                          np.stack([x - lean / 2, y + size / 2], 1)], v)
                yy = y - size / 2 + f * size
                _strokes(strokes, which, [np.stack([xl, yy], 1),
                                          np.stack([x1, yy - u(0, 1)], 1)], v)
        elif name == "dollar":
            r = u(2.5, (before - 4) / 2)
            cx = x1 - r - 1
            # An S of two half-loops, then an upright through it.
            upper = _arc(cx, y - r, r, r, np.linspace(30, 270, 7))
            lower = _arc(cx, y + r, r, r, np.linspace(90, -150, 7))
            _strokes(strokes, which, upper + lower, v)
            _strokes(strokes, which, [np.stack([cx + u(-0.5, 0.5), y - 2 * r - u(1, 3)], 1),
                                      np.stack([cx + u(-0.5, 0.5), y + 2 * r + u(1, 3)], 1)], v)
        elif name == "euro":
            r = u(3.5, (before - 5) / 2)
            cx = x1 - r
            _strokes(strokes, which, _arc(cx, y, r * u(0.8, 1), r * u(1.1, 1.4),
                                          np.linspace(50, 310, 9)), v)
            for dy in (-0.3, 0.3):
                yy = y + dy * r * 1.2
                _strokes(strokes, which, [np.stack([cx - r - u(0.5, 1.5), yy], 1),
                                          np.stack([cx + r * u(0.1, 0.4), yy], 1)], v, 1)
    if strokes:
        _draw_strokes(canvas, strokes)


def draw_guilloche(canvas: np.ndarray, p: float, rng: np.random.Generator) -> None:
    """With probability p per image, a security-print background, in place (max blend, so
    the digits stay on top): one or two families of 3 to 6 fine, faint sine lines, evenly
    spaced and of one period and amplitude per family, across the whole width."""
    n, h, w = canvas.shape
    which = np.flatnonzero(rng.random(n) < p)
    if len(which) == 0:
        return
    flat = _flat(canvas)
    xs = np.arange(0, w, 0.35, dtype=np.float32)  # sub-pixel steps: no holes in steep parts
    cols = np.minimum(np.floor(xs + 0.5).astype(np.int64), w - 1)
    for family in range(2):
        sel = which if family == 0 else which[rng.random(len(which)) < 0.5]
        m = len(sel)
        if m == 0:
            continue
        lines = rng.integers(3, 7, m)
        amp = rng.uniform(1, 4, m)
        period = rng.uniform(16, 60, m)
        phase = rng.uniform(0, 2 * np.pi, m)
        step = rng.uniform(0.3, 1.2, m)  # phase shift from one line to the next
        spacing = rng.uniform(3, 8, m)
        offset = rng.uniform(0, h, m)
        value = rng.uniform(40, 120, m).astype(np.float32)
        for j in range(int(lines.max())):
            on = np.flatnonzero(lines > j)
            y = (offset[on, None] + j * spacing[on, None]) % h \
                + amp[on, None] * np.sin(2 * np.pi * xs / period[on, None]
                                         + phase[on, None] + j * step[on, None])
            rows = np.floor(y + 0.5).astype(np.int64)
            inside = (rows >= 0) & (rows < h)
            idx = (sel[on, None] * (h * w) + np.clip(rows, 0, h - 1) * w + cols)[inside]
            vals = np.broadcast_to(value[on, None], rows.shape)[inside]
            flat[idx] = np.maximum(flat[idx], vals)


def draw_boxes(canvas: np.ndarray, form: Layout, box_left: np.ndarray,
               lengths: np.ndarray) -> None:
    """Draw the cells of the boxed numbers, in place: 1-pixel lines of varied ink at each
    cell's left and right and along the top and bottom (a comb: the bottom line and short
    ticks only).

    Args:
        box_left: (n,) column of each number's left line; cells are ``form.cell`` wide.
    """
    which = np.flatnonzero(form.boxed)
    if len(which) == 0:
        return
    rng = form.rng
    n, h, w = canvas.shape
    m = len(which)
    flat = _flat(canvas)
    value = rng.uniform(70, 230, m).astype(np.float32)
    top = rng.integers(0, 3, m)
    bottom = h - 1 - rng.integers(0, 3, m)
    comb = rng.random(m) < COMB_SHARE
    tick_top = np.where(comb, bottom - rng.integers(5, 10, m), top)
    cell, left = form.cell[which], box_left[which]
    right = left + lengths[which] * cell
    cols = np.arange(w)[None, :]
    span = (cols >= left[:, None]) & (cols <= right[:, None])
    for row, on in ((top, ~comb), (bottom, np.ones(m, bool))):
        keep = span & on[:, None]
        idx = (which[:, None] * (h * w) + row[:, None] * w + cols)[keep]
        flat[idx] = np.maximum(flat[idx], np.broadcast_to(value[:, None], keep.shape)[keep])
    rows = np.arange(h)[None, :]
    vertical = (rows >= tick_top[:, None]) & (rows <= bottom[:, None])
    for k in range(int(lengths[which].max()) + 1):
        on = lengths[which] >= k
        x = np.minimum(left + k * cell, w - 1)
        keep = vertical & on[:, None]
        idx = (which[:, None] * (h * w) + rows * w + x[:, None])[keep]
        flat[idx] = np.maximum(flat[idx], np.broadcast_to(value[:, None], keep.shape)[keep])


def draw_strike(canvas: np.ndarray, p: float, ink_left: np.ndarray, ink_right: np.ndarray,
                rng: np.random.Generator) -> None:
    """With probability p per image, an underline or a strike-through, in place.

    Half are underlines in the bottom rows, from a little before the number to a little
    after it, 1 or 2 pixels and as dark as the digits; half are strike-throughs across the
    middle at a slight tilt, 1 pixel and fainter, so the digits stay readable.

    Args:
        ink_left, ink_right: (n,) first and one-past-last column of each number's ink.
    """
    n = len(canvas)
    which = np.flatnonzero(rng.random(n) < p)
    if len(which) == 0:
        return
    m = len(which)
    under = rng.random(m) < 0.5
    x0 = ink_left[which] - rng.uniform(-1, 4, m)
    x1 = ink_right[which] + rng.uniform(-1, 4, m)
    length = x1 - x0
    y = np.where(under, rng.uniform(23.5, 27, m), rng.uniform(11, 17, m))
    tilt = length * np.where(under, rng.uniform(-0.03, 0.03, m), rng.uniform(-0.12, 0.12, m))
    y0 = np.clip(y + tilt / 2, 0, 27)
    y1 = np.clip(y - tilt / 2, 0, 27)
    value = np.where(under, rng.uniform(140, 255, m), rng.uniform(70, 150, m))
    thick = under & (rng.random(m) < 0.5)
    # Column by column (the lines are far flatter than 45 degrees, so no holes): one
    # scatter per pixel row of thickness instead of draw_segments' two per pixel of length.
    n, h, w = canvas.shape
    flat = _flat(canvas)
    cols = np.arange(w)[None, :]
    row = y0[:, None] + (cols - x0[:, None]) / np.maximum(length, 1)[:, None] * (y1 - y0)[:, None]
    on = (cols >= np.ceil(x0)[:, None]) & (cols <= np.floor(x1)[:, None])
    for extra, keep in ((0, on), (1, on & thick[:, None])):
        rows = np.clip(np.floor(row + 0.5).astype(np.int64) + extra, 0, h - 1)
        idx = (which[:, None] * (h * w) + rows * w + cols)[keep]
        vals = np.broadcast_to(value[:, None], keep.shape)[keep].astype(np.float32)
        flat[idx] = np.maximum(flat[idx], vals)
