"""Compose images of digit sequences from single MNIST digits, with per-digit augmentation.

Everything works on whole chunks of sequences at once (numpy arrays of shape
``(digits, 28, 28)``); the only Python loops run over digit slots (at most
``max_length``) and chunks, never over pixels.

Polarity follows MNIST: white ink (255) on a black background (0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from digits import forms, realism
from digits.realism import MARK_ROOM, MARKS

DIGIT_SIZE = 28  # MNIST digits are 28x28, ink centred in a 20x20 box.
MIN_HEIGHT = 16  # Below this, strokes of a resized digit blur into each other.
# Every sequence is at least this many pixels wide per digit, so that a CNN that
# downsamples the width by 4 keeps T >= 2L+1 time steps even for a row of narrow "1"s.
MIN_WIDTH_PER_DIGIT = 12


@dataclass(frozen=True)
class ComposeConfig:
    """How sequences are composed. Every field has a CLI flag of the same name."""

    min_length: int = 5  # Five digits: the seed's fixed length, e.g. a postcode or an ID.
    max_length: int = 5  # Equal to min_length for fixed-length sequences.
    height: int = 28  # MNIST's own height, so digits are never resampled by default.
    width: int | None = None  # None: natural width; else pad every image to this width.
    augment: bool = True  # Off gives the seed's clean side-by-side concatenation.
    scale: float = 0.12  # Digit size drawn from 1 +- scale: handwriting varies ~10-15% in size.
    rotation: float = 8.0  # Degrees, +-: upright writing rarely leans more than this.
    shear: float = 0.25  # Horizontal shear (x += shear * y), +-: slanted handwriting.
    jitter: float = 2.0  # Vertical offset in pixels, +-: a wandering baseline.
    thickness: float = 0.6  # Blend toward a 3x3 dilation (+) or erosion (-), +-: pen width.
    # Smooth random displacement in pixels, +-, drawn on a coarse grid over each digit:
    # bends strokes the way no affine map does (Simard et al. 2003's elastic distortion).
    # Off by default: it bought nothing on the writer-disjoint MNIST test (bench/train.py,
    # within run-to-run noise). For real handwriting it is the single largest gain, so
    # --realistic turns it on (docs/generating.md).
    elastic: float = 0.0
    # Each digit's middle moved up or down and left or right by up to this fraction of half
    # its box, the edges held: a 9's head, a 2's loop or a 7's bar larger or smaller against
    # the rest of the digit than MNIST's writers drew it (0: none).
    proportion: float = 0.0
    min_gap: int = -3  # Pixels between the ink of neighbours; negative overlaps (touching).
    max_gap: int = 6  # Widest gap, about a third of a digit.
    margin: int = 2  # Pixels left and right of the ink when augmenting.
    noise: float = 0.04  # Largest std of uniform pixel noise, as a fraction of 255.
    blur: float = 0.5  # Largest blend toward a 3x3 box blur.
    # Realism (digits.realism): what real forms and registers show and MNIST lacks. All off
    # by default, so that the seed's clean sequences and the main job stay as they were;
    # REALISTIC below turns them on for models that read real images.
    slant: float = 0.0  # One shear per number, +-, on top of each digit's own: writers slant.
    wander: float = 0.0  # Baseline wander and tilt across a number, in pixels, +-.
    continental: float = 0.0  # Share of 1s given a flag and 7s a crossbar.
    flat_flags: float = 0.0  # Share of those flags drawn 25-45 degrees below level.
    marks: float = 0.0  # Share of numbers with a dot, comma or dash beside them.
    rules: float = 0.0  # Share of images crossed by a ruling line or table border.
    remnants: float = 0.0  # Share with part of a cell's border beside the number, apart.
    oldstyle: float = 0.0  # Share of numbers in old-style figures: 7s and 9s hang below.
    units: float = 0.0  # Share of numbers with a small handwritten unit after them ("cm").
    small_last: float = 0.0  # Share of numbers whose last digit (or two) is written smaller.
    ligatures: float = 0.0  # Share of numbers whose neighbouring digits are joined by the pen.
    paper: float = 0.0  # Share rendered as dark ink on paper (tone, texture, grain).
    ink: float = 0.35  # Faintest ink on paper, as a fraction of the paper's brightness.
    jpeg: int = 0  # Lowest JPEG quality of a paper image's round trip (0: none).
    # Forms (digits.forms): what amounts and form fields show. Off by default for the same
    # reason; REALISTIC gives each a moderate share, so that most numbers stay plain.
    separators: float = 0.0  # Share of 4+ digit numbers with "1.480", "1'250", "3 500".
    affixes: float = 0.0  # Share of numbers with "$", "€", "#" before or "-", "=", "/-" after.
    guilloche: float = 0.0  # Share of images on a background of fine security-print waves.
    boxes: float = 0.0  # Share of numbers written in a boxed field, one cell per digit.
    strike: float = 0.0  # Share of numbers underlined or struck through.
    pen: float = 0.0  # Share of numbers written with a much thicker or thinner pen.

    def max_width(self) -> int:
        """Widest natural image this config can produce, in pixels at height 28."""
        if not self.augment:
            return self.max_length * DIGIT_SIZE
        room = max(sum(r) for r in MARK_ROOM.values()) if self.marks > 0 else 0
        room += forms.affix_room(self)
        room += realism.REMNANT_ROOM if self.remnants > 0 else 0
        room += realism.UNIT_ROOM if self.units > 0 else 0
        return max(
            self.max_length * DIGIT_SIZE + (self.max_length - 1) * self.max_gap + 2 * self.margin
            + room + forms.separator_room(self),
            forms.boxed_width(self, DIGIT_SIZE) + 2 * self.margin + room,
            self.max_length * MIN_WIDTH_PER_DIGIT,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The generator's --realistic: settings for a model that reads real handwritten numbers
# (model.read) rather than the seed's five-digit test. Numbers of 1 to 6 digits, as on
# forms and registers, and every realism effect on; docs/generating.md says what each
# bought on real folders.
REALISTIC = {"min_length": 1, "max_length": 6, "slant": 0.35, "wander": 2.0,
             "continental": 0.8, "marks": 0.3, "rules": 0.3, "blur": 1.0, "elastic": 2.5}
# The forms flags (digits.forms) at the shares a model for amounts and forms was trained
# with (docs/generating.md): not in REALISTIC until a model trained with them reads the real
# folders' tune halves better; the one trained so far read them worse (docs/journal.md).
FORMS = {"separators": 0.25, "affixes": 0.15, "guilloche": 0.1, "boxes": 0.15,
         "strike": 0.1, "pen": 0.25}


@dataclass
class Chunk:
    """A chunk of composed sequences.

    Attributes:
        images: list of uint8 arrays, each (height, width_i).
        texts: the digit strings, one per image.
        indices: for each image, the pool indices of its digits, left to right.
    """

    images: list[np.ndarray]
    texts: list[str]
    indices: list[np.ndarray]


def _sample(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, n).astype(np.float32)


def _neighbourhood(images: np.ndarray, reduce) -> np.ndarray:
    """3x3 max/min filter of (n, h, w) images, separably; edge pixels see only the inside."""
    rows = images.copy()
    reduce(rows[:, :, 1:], images[:, :, :-1], out=rows[:, :, 1:])
    reduce(rows[:, :, :-1], images[:, :, 1:], out=rows[:, :, :-1])
    out = rows.copy()
    reduce(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    reduce(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def _box_blur(images: np.ndarray) -> np.ndarray:
    """3x3 mean of (n, h, w) float images, zero outside (the background is black)."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) * np.float32(1 / 9)


def change_thickness(digits: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Thicken (amount > 0) or thin (amount < 0) strokes.

    Args:
        digits: (n, 28, 28) uint8.
        amount: (n,) in [-1, 1]; the blend weight toward the dilated or eroded digit.

    Returns:
        (n, 28, 28) float32.
    """
    a = amount[:, None, None]
    target = np.where(a > 0, _neighbourhood(digits, np.maximum), _neighbourhood(digits, np.minimum))
    return digits + np.abs(a) * (target.astype(np.float32) - digits)


ELASTIC_GRID = 4  # Control points per side of the elastic field: smooth at 28 pixels.


def _upsample_matrix(coarse: int, fine: int) -> np.ndarray:
    """(fine, coarse) linear interpolation weights from a coarse grid spanning the image."""
    pos = np.linspace(0, coarse - 1, fine)
    low = np.minimum(pos.astype(np.int64), coarse - 2)
    frac = pos - low
    m = np.zeros((fine, coarse), np.float32)
    m[np.arange(fine), low] = 1 - frac
    m[np.arange(fine), low + 1] = frac
    return m


def elastic_field(n: int, size: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, size, size) smooth displacements (x, y) in pixels, each within +-amount.

    Uniform displacements at ELASTIC_GRID x ELASTIC_GRID control points, interpolated
    bilinearly: as smooth as a Gaussian-filtered noise field, for two small matrix products.
    """
    coarse = rng.uniform(-amount, amount, (n, 2, ELASTIC_GRID, ELASTIC_GRID)).astype(np.float32)
    up = _upsample_matrix(ELASTIC_GRID, size)
    return np.einsum("ri,nkij,cj->nkrc", up, coarse, up, optimize=True)


def proportion_field(n: int, size: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, size, size) displacements (x, y) in pixels that move each image's middle column
    and middle row by up to +-amount of half the image, the edges held still.

    The displacement falls linearly from the middle to the edges (a tent), so one side of the
    digit is stretched and the other squeezed, each evenly.
    """
    shift = rng.uniform(-amount, amount, (n, 2)).astype(np.float32) * np.float32((size - 1) / 2)
    peak = tent(size)
    field = np.empty((n, 2, size, size), np.float32)
    field[:, 0] = shift[:, 0, None, None] * peak[None, None, :]
    field[:, 1] = shift[:, 1, None, None] * peak[None, :, None]
    return field


def tent(size: int) -> np.ndarray:
    """(size,) float32 weights, 1 at the middle falling linearly to 0 at both ends: how far
    each row or column moves when the middle one moves by 1 and the ends are held."""
    centre = np.float32((size - 1) / 2)
    return 1 - np.abs(np.arange(size, dtype=np.float32) - centre) / centre


def affine_warp(digits: np.ndarray, matrices: np.ndarray, offsets: np.ndarray,
                field: np.ndarray | None = None) -> np.ndarray:
    """Bilinear affine warp of many small images at once.

    Output pixel p (relative to the image centre) samples the input at
    ``matrices @ p + offsets (+ field[p])`` (relative to the centre), zero outside.

    Args:
        digits: (n, s, s) float32.
        matrices: (n, 2, 2) inverse linear maps, rows (x, y).
        offsets: (n, 2) inverse translations (x, y).
        field: optional (n, 2, s, s) extra displacement (x, y) of each output pixel's sample.

    Returns:
        (n, s, s) float32.
    """
    n, s, _ = digits.shape
    pad = 2  # Room for neighbours of samples that fall just outside.
    side = s + 2 * pad
    flat = np.pad(digits, ((0, 0), (pad, pad), (pad, pad))).reshape(-1)
    centre = (s - 1) / 2
    grid = np.arange(s, dtype=np.float32) - centre
    m = matrices.astype(np.float32)
    # The map is linear, so each source coordinate is a per-column term plus a per-row
    # term: two small outer products and one broadcast add instead of full-size products.
    shift = offsets.astype(np.float32) + np.float32(centre + pad)
    by_col = m[:, :, 0, None] * grid  # (n, 2, s): x and y terms of each output column
    by_row = m[:, :, 1, None] * grid + shift[:, :, None]  # (n, 2, s): ... of each row
    sx = by_col[:, 0, None, :] + by_row[:, 0, :, None]
    sy = by_col[:, 1, None, :] + by_row[:, 1, :, None]
    if field is not None:
        sx += field[:, 0]
        sy += field[:, 1]
    np.clip(sx, 0, side - 1.001, out=sx)
    np.clip(sy, 0, side - 1.001, out=sy)
    x0 = sx.astype(np.int32)
    y0 = sy.astype(np.int32)
    wx = sx - x0
    wy = sy - y0
    base = (np.arange(n, dtype=np.int32) * (side * side))[:, None, None] + y0 * side + x0
    v00 = flat.take(base)
    v01 = flat.take(base + 1)
    v10 = flat.take(base + side)
    v11 = flat.take(base + side + 1)
    top = v00 + wx * (v01 - v00)
    bottom = v10 + wx * (v11 - v10)
    return top + wy * (bottom - top)


def _augment_digits(digits: np.ndarray, cfg: ComposeConfig, rng: np.random.Generator,
                    extra_shear: np.ndarray | None = None,
                    extra_dy: np.ndarray | None = None,
                    extra_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-digit stroke thickness, scale, rotation, shear, elastic distortion, proportions and
    vertical jitter, plus a given extra shear, vertical offset and size factor per digit.
    Float32 out."""
    n = len(digits)
    if cfg.thickness > 0:
        out = change_thickness(digits, _sample(rng, -cfg.thickness, cfg.thickness, n))
    else:
        out = digits.astype(np.float32)
    scale = 1 + _sample(rng, -cfg.scale, cfg.scale, n)
    theta = np.deg2rad(_sample(rng, -cfg.rotation, cfg.rotation, n))
    shear = _sample(rng, -cfg.shear, cfg.shear, n)
    dy = _sample(rng, -cfg.jitter, cfg.jitter, n)
    if extra_shear is not None:
        shear = shear + extra_shear
    if extra_dy is not None:
        dy = dy + extra_dy
    if extra_scale is not None:
        scale = scale * extra_scale
    cos, sin = np.cos(theta), np.sin(theta)
    # Forward map: scale, then shear (x += shear * y), then rotate. We need its inverse.
    fwd = np.empty((n, 2, 2), np.float32)
    fwd[:, 0, 0] = scale * cos
    fwd[:, 0, 1] = scale * (cos * shear - sin)
    fwd[:, 1, 0] = scale * sin
    fwd[:, 1, 1] = scale * (sin * shear + cos)
    inv = np.linalg.inv(fwd)
    offsets = -np.einsum("nij,nj->ni", inv, np.stack([np.zeros_like(dy), dy], axis=1))
    field = elastic_field(n, out.shape[1], cfg.elastic, rng) if cfg.elastic > 0 else None
    if cfg.proportion > 0:
        waist = proportion_field(n, out.shape[1], cfg.proportion, rng)
        field = waist if field is None else field + waist
    return affine_warp(out, inv, offsets, field)


def _ink_columns(digits: np.ndarray, threshold: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """First and last column holding ink, per digit; a blank digit spans the middle."""
    cols = digits.max(axis=1) > threshold
    has = cols.any(axis=1)
    first = np.where(has, cols.argmax(axis=1), DIGIT_SIZE // 2 - 2)
    last = np.where(has, DIGIT_SIZE - 1 - cols[:, ::-1].argmax(axis=1), DIGIT_SIZE // 2 + 1)
    return first, last


_INT8_STD = 73.9  # Standard deviation of integers uniform on [-128, 127].


def _image_noise(canvas: np.ndarray, cfg: ComposeConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """Blur and Gaussian noise on the whole image, each with a per-image strength."""
    n = len(canvas)
    if cfg.blur > 0:
        b = _sample(rng, 0, cfg.blur, n)[:, None, None]
        canvas = canvas + b * (_box_blur(canvas) - canvas)
    if cfg.noise > 0:
        # Uniform noise from random bytes: an order of magnitude cheaper to draw than
        # Gaussian noise, and at these strengths the eye and the network see no difference.
        sigma = _sample(rng, 0, cfg.noise * 255 / _INT8_STD, n)[:, None, None]
        canvas = canvas + sigma * rng.integers(-128, 128, canvas.shape, dtype=np.int8)
    return canvas


def compose(x: np.ndarray, y: np.ndarray, n: int, cfg: ComposeConfig,
            rng: np.random.Generator) -> Chunk:
    """Compose ``n`` sequence images from a pool of digits.

    Args:
        x: (pool, 28, 28) uint8 digit images.
        y: (pool,) uint8 labels.
        n: how many sequences.
        cfg: the composition settings.
        rng: the only source of randomness, so a seed fixes every byte.

    Returns:
        A Chunk of n images of height ``cfg.height``.
    """
    lengths = rng.integers(cfg.min_length, cfg.max_length + 1, n)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    idx = rng.integers(0, len(x), int(starts[-1]))
    digits = x[idx]
    lead = trail = marks = form = None
    # Form effects draw from a spawned generator: rng's own stream stays as without them.
    frng = forms.child_rng(rng) if forms.enabled(cfg) else None
    if cfg.augment:
        if cfg.continental > 0:
            flat_rng = forms.child_rng(rng) if cfg.flat_flags > 0 else None
            digits = realism.continental(digits, y[idx], cfg.continental, rng,
                                         cfg.flat_flags, flat_rng)
        if cfg.pen > 0:
            digits = forms.pen(digits, lengths, cfg.pen, frng)
        slant = np.repeat(_sample(rng, -cfg.slant, cfg.slant, n), lengths) if cfg.slant > 0 \
            else None
        lift = realism.wander(lengths, cfg.wander, rng) if cfg.wander > 0 else None
        size = None
        if cfg.oldstyle > 0:
            # A spawned generator, like the forms': at 0 nothing is drawn and every seed keeps
            # its bytes; on, the numbers and digits chosen stay as they were.
            size, drop = realism.old_style(y[idx], lengths, cfg.oldstyle, forms.child_rng(rng))
            lift = drop if lift is None else lift + drop
        if cfg.small_last > 0:
            shrink, drop = realism.small_last(lengths, cfg.small_last, forms.child_rng(rng))
            size = shrink if size is None else size * shrink
            lift = drop if lift is None else lift + drop
        digits = _augment_digits(digits, cfg, rng, slant, lift, size)
        first, last = _ink_columns(digits)
        gaps = rng.integers(cfg.min_gap, cfg.max_gap + 1, len(idx))
        if cfg.marks > 0:
            marks = realism.choose_marks(n, cfg.marks, rng)
            lead = np.array([MARK_ROOM[MARKS[k]][0] for k in marks])
            trail = np.array([MARK_ROOM[MARKS[k]][1] for k in marks])
        if frng is not None:
            form = forms.layout(digits, first, last, gaps, lengths, cfg, frng)
            gaps = form.gaps
    else:
        first = np.zeros(len(idx), np.int64)
        last = np.full(len(idx), DIGIT_SIZE - 1)
        gaps = np.zeros(len(idx), np.int64)
    margin = cfg.margin if cfg.augment else 0
    if lead is None:
        lead = trail = np.zeros(n, np.int64)
    remnants = cfg.augment and cfg.remnants > 0
    far = margin  # the right-hand margin
    if remnants:
        # Spawned as --oldstyle's is (each child depends on the spawns before it, so turning
        # on a forms flag or --oldstyle moves where the remnants fall, deterministically).
        rrng = forms.child_rng(rng)
        side, room = realism.choose_remnants(n, cfg.remnants, rrng)
        # The remnant stands outside everything else: a wider margin on its side.
        margin = margin + np.where(side == 1, room, 0)
        far = far + np.where(side == 2, room, 0)
    number_left = margin + lead  # the number's first ink column, or its box's left line
    mark_trail = trail
    if form is not None:
        # Outward from the number: a box's padding, then a mark, then an affix.
        number_left = number_left + form.lead
        lead = lead + form.lead + form.box_lead
        trail = trail + form.trail + form.box_trail
    units = None
    unit_left = trail  # past everything else drawn right of the number
    if cfg.augment and cfg.units > 0:
        # Spawned after the remnants' generator, so that turning units on leaves them be.
        units = realism.choose_units(n, cfg.units, forms.child_rng(rng))
        trail = trail + units.room
    # Spawned after the units' generator, so that turning joins on leaves them be.
    lrng = forms.child_rng(rng) if cfg.augment and cfg.ligatures > 0 else None

    # x offset of each digit's 28-wide box: its ink starts where the previous ink ended
    # plus a gap. Computed per sequence by a cumulative sum over the flat digit list.
    advance = last - first + 1 + gaps  # from this digit's ink start to the next one's
    advance[starts[1:] - 1] = 0
    cum = np.cumsum(advance) - advance
    ink_start = np.repeat(margin + lead, lengths) + cum - np.repeat(cum[starts[:-1]], lengths)
    box_x = ink_start - first
    ink_end = np.maximum.reduceat(ink_start + (last - first) + 1, starts[:-1])
    widths = np.maximum(ink_end + trail + far,
                        lengths * (MIN_WIDTH_PER_DIGIT if cfg.augment else 0))

    # Boxes may start left of 0 (ink near the box edge is rare but blank columns are
    # not): draw on a canvas padded by one box on each side, then crop.
    pad = DIGIT_SIZE
    canvas = np.zeros((n, DIGIT_SIZE, int(widths.max()) + 2 * pad), np.float32)
    seq = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(idx)) - np.repeat(starts[:-1], lengths)
    rows = np.arange(DIGIT_SIZE)[None, :, None]
    flat = canvas.reshape(-1)
    box = (rows * canvas.shape[2] + np.arange(DIGIT_SIZE)[None, None, :]).astype(np.int64)
    origin = seq * canvas[0].size + box_x + pad
    # Within one slot no two digits share a sequence, so plain fancy assignment is safe.
    for slot in range(cfg.max_length):
        sel = np.flatnonzero(pos == slot)
        if len(sel) == 0:
            continue
        where = origin[sel][:, None, None] + box
        flat[where] = np.maximum(flat[where], digits[sel])
    canvas = canvas[:, :, pad:pad + int(widths.max())]
    if marks is not None or form is not None or remnants or units is not None \
            or lrng is not None or (cfg.augment and cfg.rules > 0):
        canvas = np.ascontiguousarray(canvas)  # drawn on in place through a flat view
    if lrng is not None:
        realism.draw_ligatures(canvas, digits, box_x, lengths, cfg.ligatures, lrng)
    number_right = ink_end  # one past the number's last ink, or past its box's right line
    if form is not None:
        number_right = ink_end + form.box_trail
        if cfg.guilloche > 0:
            forms.draw_guilloche(canvas, cfg.guilloche, form.rng)
        forms.draw_boxes(canvas, form, number_left, lengths)
        forms.draw_separators(canvas, form, ink_start, last - first + 1, seq)
    if marks is not None:
        realism.draw_marks(canvas, marks, number_left.astype(np.float32),
                           number_right.astype(np.float32), rng)
    if form is not None and cfg.affixes > 0:
        forms.draw_affixes(canvas, form, (margin + form.lead).astype(np.float32),
                           (number_right + mark_trail).astype(np.float32))
    if form is not None and cfg.strike > 0:
        forms.draw_strike(canvas, cfg.strike, ink_start[starts[:-1]], ink_end, form.rng)
    if units is not None:
        realism.draw_units(canvas, units, ink_end + unit_left)
    if remnants:
        realism.draw_remnants(canvas, side, room, margin, ink_end + trail, rrng)
    if cfg.augment and cfg.rules > 0:
        realism.draw_rules(canvas, widths, cfg.rules, rng)
    if cfg.augment:
        canvas = _image_noise(canvas, cfg, rng)
    canvas = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)

    labels = y[idx].astype(np.uint8) + ord("0")
    images, texts, indices = [], [], []
    on_paper = rng.random(n) < cfg.paper if cfg.augment and cfg.paper > 0 else np.zeros(n, bool)
    for i in range(n):
        a, b = starts[i], starts[i + 1]
        image = _fit(canvas[i, :, : widths[i]], cfg)
        if on_paper[i]:
            image = realism.on_paper(image, rng, cfg.ink, cfg.jpeg)
        images.append(image)
        texts.append(labels[a:b].tobytes().decode("ascii"))
        indices.append(idx[a:b])
    return Chunk(images, texts, indices)


def _fit(image: np.ndarray, cfg: ComposeConfig) -> np.ndarray:
    """Resize a height-28 image to cfg.height (keeping aspect), then pad to cfg.width."""
    if cfg.height != DIGIT_SIZE:
        from PIL import Image

        w = max(1, round(image.shape[1] * cfg.height / DIGIT_SIZE))
        image = np.asarray(Image.fromarray(image).resize((w, cfg.height), Image.BILINEAR))
    if cfg.width is not None and image.shape[1] < cfg.width:
        image = np.pad(image, ((0, 0), (0, cfg.width - image.shape[1])))
    return image
