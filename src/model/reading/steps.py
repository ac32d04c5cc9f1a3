"""The steps of preparing a real image, each a plain numpy function on float32 arrays
(ink bright, 0..255), so that each is easy to test alone. ``model.reading.preprocess``
chains them; its docstring says why each step is there.
"""

from __future__ import annotations

import numpy as np

from model.reading.components import TIGHT_CROP

# Polarity: percentiles that stand for the darkest and lightest pixels, not a lone speck.
POLARITY_PERCENTILES = (1, 50, 99)
# A scanner's dark margin can cover most of a crop and outvote the paper: rows or columns
# at the image's edge that are MARGIN_SOLID dark (below the split between dark and light)
# are left out of the polarity test when they make a band at least MARGIN_WIDE of the
# image along one side or two (a page's edge or corner; a dark ground around a white digit
# is dark on every side), and the rest of it, at least MARGIN_LEFT of the image, holds
# under MARGIN_APART of pixels as dark as the band (its 95th percentile): a margin is
# darker than anything on the paper, while the dark ground of white strokes reaches the
# edge and goes on between them.
MARGIN_SOLID = 0.95
MARGIN_WIDE = 0.1
MARGIN_LEFT = 0.05
MARGIN_APART = 0.05
# The majority is ink when a crop is tight around bold digits. Where the lesser side of the
# split between dark and light covers over BALANCED of the image (2 of meza's first 3,000
# images, none of parish's, 39 of the 600 renderings of the battery of seed 4321), two cues
# that do not count pixels decide when they agree: the image's edge is mostly paper, and
# the ink is the side of thinner shapes.
BALANCED = 0.35
# The paper is smooth: it is estimated on a copy at most BACKGROUND_SIDE pixels on its long
# side, with a window of BACKGROUND_WINDOW of the short side, wide enough that strokes do
# not count as paper.
BACKGROUND_SIDE = 96
BACKGROUND_WINDOW = 0.5
# In a tight crop (TIGHT_CROP) any window is mostly strokes in places, and a median would
# take them for paper and subtract them: a low percentile stays on the paper, while the
# median is right for larger scans (docs/journal.md).
TIGHT_PERCENTILE = 25
# The paper's level is capped at the split between paper and ink (Otsu's threshold on a
# histogram of this many bins): a window mostly filled by one large stroke (a digit filling
# the crop) is still no paper, whatever its median or low percentile.
SPLIT_BINS = 64
CONTRAST_TOP = 99  # percentile of the ink that becomes full strength: a speck cannot set it
MIN_LINE_SIDE = 8  # images narrower or lower than this have no room for a ruling line
MIN_RUN = 3  # the shortest straight run that counts as a line
TILT_BEYOND = 2.0  # a tilted line runs this many times the ink's rows (remove_lines)
TILT_SIDE = 128  # tilted lines are searched for at most this many pixels across
# A vertical border counts only within this fraction of the width from the left or right
# edge: a tall digit ("1") can span the height of a tight crop.
BORDER_BAND = 1 / 6
# With border_beyond, a vertical border must also reach past the rows holding the middle
# of the other ink's mass (these fractions of it): a "1" ending a tight crop is as high as
# its neighbours, a cell's border runs past them.
SPAN = (0.05, 0.95)
BOX_LEVEL = 32  # ink above this level bounds the crop
# The generator's look: light strokes on a ground of one flat level (GENERATED_GROUND of
# the pixels within GROUND_LEVELS grey levels of the darkest; at least 26% in generated
# sequences, none of 7,944 real scans and photos, whose paper has grain or is dark ink on
# light). Such an image is read as generated (docs/journal.md).
GENERATED_GROUND = 0.2
GROUND_LEVELS = 2.0
# A generated sequence's ink spans at least half its rows (86% typically; 2,000 --realistic
# test sequences and 600 battery compositions): an image whose ink spans under
# GENERATED_ROWS of them has margins of its own, trimmed to the ink and a GENERATED_PAD of
# its height on every side (the generator's 2 rows and columns at 24).
GENERATED_ROWS = 0.45
GENERATED_PAD = 0.083
SLANT_LEVEL = 64  # ink above this level measures the slant
MIN_SLANT_PIXELS = 10  # fewer ink pixels give no reliable slant
MAX_SLANT = 0.6  # the strongest shear applied: about 31 degrees
MIN_SKEW_COLUMNS = 8  # fewer inked columns give no reliable baseline
SKEW_DEGREES = (2, 20)  # tilts below are noise, above are not a baseline's tilt
BAND = (0.1, 0.9)  # the ink band: the rows between these fractions of the ink's mass
# MNIST's geometry: digits in a 28-pixel row. PrepConfig's sizes are given for that row and
# scaled to the model's height.
REFERENCE_HEIGHT = 28
# Downscaling averages thin strokes into grey: after the strongest ink is brought back to
# 255, the rest is brightened by this factor, so that strokes keep MNIST's solid look.
BRIGHTEN = 1.15
STROKE_LEVEL = 127  # ink above this level is stroke when measuring its width
MAX_DILATIONS = 2  # stroke thickening stops after two 3x3 grey dilations


def to_ink(gray: np.ndarray, balanced: bool = True,
           keep: np.ndarray | None = None) -> np.ndarray:
    """Polarity: the paper is the majority of pixels (a scan's dark margin left out,
    ``margin_free``, or ``keep`` if the caller has it), so the side of the median with the
    longer tail is the ink; with ``balanced``, an image whose two sides are near even goes by
    ``_balanced_dark_ink`` where it can. Returns ink bright (high values), float32 0..255."""
    if keep is None:
        keep = margin_free(gray)
    dark = _dark_ink(gray[keep])
    if balanced and keep.all():
        dark = _balanced_dark_ink(gray, dark)
    return (255.0 - gray if dark else gray).astype(np.float32)


def _balanced_dark_ink(gray: np.ndarray, dark: bool) -> bool:
    """Whether the ink is dark in an image whose dark and light sides of the split are near
    even (BALANCED), where the majority may be ink: both the image's edge being mostly light
    and the dark side holding the thinner shapes (its mean distance to the other side, the
    outside counted as its own side) say dark ink, or both say light ink; ``dark`` (the
    majority's verdict) otherwise and for any other image."""
    from scipy import ndimage

    below = gray <= ink_split(gray.ravel())
    share = float(below.mean())
    if min(share, 1 - share) <= BALANCED:
        return dark
    edge = np.concatenate([below[0], below[-1], below[:, 0], below[:, -1]])
    widths = [ndimage.distance_transform_edt(np.pad(side, 1, mode="edge"))[1:-1, 1:-1][side]
              .mean() for side in (below, ~below)]
    by_edge, by_width = bool(edge.mean() < 0.5), bool(widths[0] < widths[1])
    return by_edge if by_edge == by_width else dark


def _dark_ink(values: np.ndarray) -> bool:
    """Whether the tail below the median of ``values`` (the paper) is the longer one: the
    ink is dark."""
    lo, med, hi = np.percentile(values, POLARITY_PERCENTILES)
    return (med - lo) > (hi - med)


def margin_free(gray: np.ndarray) -> np.ndarray:
    """Where ``gray`` is not a scan's dark margin (a band along its edge, MARGIN_SOLID to
    MARGIN_APART); all True where it has none. (h, w) bool."""
    dark = gray <= ink_split(gray.ravel())
    keep = np.ones(gray.shape, bool)
    sides = 0
    for axis in (0, 1):  # per column, then per row
        solid = dark.mean(axis=axis) >= MARGIN_SOLID
        n = solid.size
        first = n if solid.all() else int(np.argmin(solid))  # solid lines from the start
        last = n if solid.all() else int(np.argmin(solid[::-1]))  # and from the end
        index = [slice(None), slice(None)]
        for band in (slice(0, first), slice(n - last, n)):
            if band.stop - band.start >= MARGIN_WIDE * n:
                index[1 - axis] = band
                keep[tuple(index)] = False
                sides += 1
    if keep.all() or sides > 2 or keep.mean() < MARGIN_LEFT:
        return np.ones(gray.shape, bool)
    level = np.percentile(gray[~keep], 95)
    return keep if float((gray[keep] <= level).mean()) < MARGIN_APART else np.ones(gray.shape, bool)


def looks_generated(gray: np.ndarray) -> bool:
    """Light strokes on a flat dark ground, as ``digits.sequence_generator`` writes them
    (GENERATED_GROUND): the polarity test finds light ink and the darkest level covers
    much of the image."""
    return (not _dark_ink(gray)
            and float((gray <= gray.min() + GROUND_LEVELS).mean()) >= GENERATED_GROUND)


def trim_margins(ink: np.ndarray) -> np.ndarray:
    """``ink`` (bright on dark) cut to its ink and a GENERATED_PAD of it when its ink spans
    under GENERATED_ROWS of its rows (a generated number pasted on a larger ground); as it
    is otherwise, and when it holds no ink."""
    box = ink_box(ink - ink.min())
    if box is None or box[0].stop - box[0].start >= GENERATED_ROWS * ink.shape[0]:
        return ink
    pad = max(1, round(GENERATED_PAD * (box[0].stop - box[0].start)))
    return ink[max(0, box[0].start - pad):box[0].stop + pad,
               max(0, box[1].start - pad):box[1].stop + pad]


def remove_background(ink: np.ndarray, capped: bool = False) -> np.ndarray:
    """Subtract a smooth estimate of the paper: a large median filter over a downsampled
    copy, wide enough that strokes do not count as background (a low percentile in a
    tight crop, see TIGHT_PERCENTILE), and, when ``capped``, never above the level that
    splits paper from ink (SPLIT_BINS)."""
    return remove_backgrounds(ink, (capped,))[0]


def remove_backgrounds(ink: np.ndarray, caps) -> list[np.ndarray]:
    """``remove_background`` once for each of ``caps`` (``capped`` values), filtering once:
    the filter is most of the step's time."""
    from scipy import ndimage

    h, w = ink.shape
    scale = min(1.0, BACKGROUND_SIDE / max(h, w))
    # A long strip's short side must not shrink to nothing: at least one row or column.
    zoom = (max(1, round(h * scale)) / h, max(1, round(w * scale)) / w)
    # mode="nearest": with zoom's default (zeros outside), rounding can put the last row or
    # column a hair outside the image and make it 0 there, and the filter's edge padding then
    # spreads that false clean paper over a corner, which comes out as a wedge of ink.
    small = ink if scale == 1.0 else ndimage.zoom(ink, zoom, order=1, mode="nearest")
    size = max(3, int(min(small.shape) * BACKGROUND_WINDOW) | 1)
    if min(h, w) < TIGHT_CROP:
        estimate = ndimage.percentile_filter(small, TIGHT_PERCENTILE, size=size,
                                             mode="nearest")
    else:
        estimate = ndimage.median_filter(small, size=size, mode="nearest")
    split = ink_split(small) if any(caps) else None
    out = []
    for capped in caps:
        background = np.minimum(estimate, split) if capped else estimate
        if scale != 1.0:
            zoom = (h / background.shape[0], w / background.shape[1])
            background = ndimage.zoom(background, zoom, order=1, mode="nearest")[:h, :w]
            if background.shape != ink.shape:  # rounding: pad the last row/column
                background = np.pad(background, ((0, h - background.shape[0]),
                                                 (0, w - background.shape[1])), mode="edge")
        out.append(np.clip(ink - background, 0, None))
    return out


def ink_split(values: np.ndarray) -> float:
    """The level that best splits ``values`` in two classes (Otsu's threshold: the largest
    variance between the classes); the top of the range when they are all alike."""
    counts, edges = np.histogram(values, bins=SPLIT_BINS)
    weight = np.cumsum(counts, dtype=np.float64) / counts.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    mean = np.cumsum(counts * centres, dtype=np.float64) / counts.sum()
    spread = weight[:-1] * (1 - weight[:-1])
    between = np.divide((mean[-1] * weight[:-1] - mean[:-1]) ** 2, spread,
                        out=np.zeros_like(spread), where=spread > 0)
    if not between.any():
        return float(edges[-1])
    return float(edges[int(np.argmax(between)) + 1])


def normalise_contrast(ink: np.ndarray, floor: float) -> np.ndarray:
    """Scale the strong ink to 255 and drop what is weaker than ``floor`` of it."""
    positive = ink[ink > 0]
    if positive.size == 0:
        return np.zeros_like(ink)
    top = float(np.percentile(positive, CONTRAST_TOP))
    if top <= 0:
        return np.zeros_like(ink)
    out = ink / top
    out = np.clip((out - floor) / (1 - floor), 0, 1)
    return out * 255


def remove_lines(ink: np.ndarray, fraction: float, border_fraction: float = 0.6,
                 mask_level: float = 64, border_beyond: float = 0.0,
                 line_beyond: float = 0.0, tilt: float = 0.0) -> np.ndarray:
    """Erase straight horizontal and vertical runs of ink longer than ``fraction`` of the
    image: ruling lines, underlines, table borders and scan edges. A vertical run counts
    only near the left or right edge (BORDER_BAND), and, with ``border_beyond``, only when
    longer than that many times the rows the ink between the edge bands spans; with
    ``line_beyond``, a horizontal run only when longer than that many times the rows the
    ink spans (a line runs past a number, the bar of a 7 filling a tight crop does not);
    with ``tilt``, a horizontal run may rise or fall up to that many degrees (a page
    photographed not quite square, ``tilted_runs``)."""
    mask = ink > mask_level
    h, w = mask.shape
    lines = np.zeros_like(mask)
    if w >= MIN_LINE_SIDE:
        length = max(MIN_RUN, int(w * fraction))
        if line_beyond > 0:
            length = max(length, int(np.ceil(line_beyond * _mass_rows(mask))))
        lines |= long_runs(mask, length)
        if tilt > 0:
            # A digit's stroke can lie along some slope for as long as the digit is high
            # (a 7's bar, a 2's foot): a tilted line must run past two digits' width.
            tilted = max(length, int(np.ceil(TILT_BEYOND * _mass_rows(mask))))
            lines |= tilted_runs(mask, tilted, np.tan(np.radians(tilt)))
    if h >= MIN_LINE_SIDE:
        band = max(1, int(w * BORDER_BAND))
        length = max(MIN_RUN, int(h * border_fraction))
        if border_beyond > 0 and w > 2 * band:
            # The rows holding the middle of the ink between the edge bands, by mass, so
            # that the thin arm of a cell's corner reaching in does not count.
            # The ruling lines just found are not the number: a cell's top and bottom
            # lines would stretch its rows to the whole crop, and no border could be longer.
            number = mask[:, band:-band] & ~lines[:, band:-band]
            length = max(length, int(np.ceil(border_beyond * _mass_rows(number))))
        vertical = long_runs(mask.T, length).T
        edge = np.zeros_like(mask)
        edge[:, :band] = edge[:, -band:] = True
        lines |= vertical & edge
    if not lines.any():
        return ink
    # The line's faint anti-aliased fringe stays; the contrast floor removed most of it.
    out = ink.copy()
    out[lines] = 0
    return out


def _mass_rows(mask: np.ndarray) -> int:
    """How many rows hold the middle 90% of ``mask``'s pixels (SPAN); 0 for no ink."""
    if not mask.any():
        return 0
    first, last = ink_band(mask, SPAN)
    return int(last - first + 1)


def long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """The pixels of horizontal runs of ``mask`` at least ``length`` long: a binary opening
    by a 1 x ``length`` line, in time linear in the pixels whatever the length.

    Args:
        mask: (h, w) bool.

    Returns:
        (h, w) bool.
    """
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major order: each run's end after its start
    keep = ends - starts >= length
    paint = np.zeros((h, w + 1), np.int32)
    np.add.at(paint, (rows[keep], starts[keep]), 1)
    np.add.at(paint, (rows[keep], ends[keep]), -1)
    return np.cumsum(paint, axis=1)[:, :w] > 0


def tilted_runs(mask: np.ndarray, length: int, slope: float) -> np.ndarray:
    """``long_runs`` along every slope up to ``slope`` rows per column either way: the
    mask sheared level for each slope k / ``length`` (a straight run lies within half a
    pixel of one of them over its length), its runs found, with the ink just above and
    below them, and sheared back.
    A mask larger than TILT_SIDE is searched at a reduced scale (blocks of pixels, a
    block inked where any pixel is), the runs found there marking the mask's own ink.

    Args:
        mask: (h, w) bool.

    Returns:
        (h, w) bool.
    """
    h, w = mask.shape
    block = -(-max(h, w) // TILT_SIDE)
    if block > 1:
        padded = np.pad(mask, ((0, -h % block), (0, -w % block)))
        small = padded.reshape(padded.shape[0] // block, block,
                               padded.shape[1] // block, block).any(axis=(1, 3))
        found = tilted_runs(small, max(MIN_RUN, length // block), slope)
        return np.repeat(np.repeat(found, block, axis=0), block, axis=1)[:h, :w] & mask
    runs = long_runs(mask, length)
    steps = int(slope * length)
    slopes = [k for k in range(-steps, steps + 1) if k != 0]
    if not slopes:
        return runs
    # Every shear at once, each in its own slab with a blank row above and below, so that
    # one long_runs call serves them all.
    cols = np.arange(w)
    shift = np.rint(np.outer(slopes, cols) / length).astype(np.int64)
    shift -= shift.min(axis=1, keepdims=True)
    slabs = h + int(shift.max()) + 2
    where = (np.arange(len(slopes))[:, None, None],
             np.arange(h)[None, :, None] + shift[:, None, :] + 1,  # where pixel (r, c) goes
             cols[None, None, :])
    sheared = np.zeros((len(slopes), slabs, w), bool)
    sheared[where] = mask[None]
    found = long_runs(sheared.reshape(-1, w), length).reshape(sheared.shape)
    # The rows next to a run found hold the rest of a thick line, cut where the shear's
    # rounding and the line's own steps part.
    near = found.copy()
    near[:, 1:] |= found[:, :-1]
    near[:, :-1] |= found[:, 1:]
    return runs | (near & sheared)[where].any(axis=0)


def ink_box(ink: np.ndarray, threshold: float = BOX_LEVEL) -> tuple[slice, slice] | None:
    """Rows and columns that hold ink, or None for an image without ink."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def deslant(ink: np.ndarray) -> np.ndarray:
    """Shear the ink so its strokes stand upright (second-moment slant, at most
    MAX_SLANT)."""
    ys, xs = np.nonzero(ink > SLANT_LEVEL)
    if ys.size < MIN_SLANT_PIXELS:
        return ink
    weights = ink[ys, xs]
    my, mx = np.average(ys, weights=weights), np.average(xs, weights=weights)
    var_y = np.average((ys - my) ** 2, weights=weights)
    if var_y <= 0:
        return ink
    slant = float(np.clip(np.average((xs - mx) * (ys - my), weights=weights) / var_y,
                          -MAX_SLANT, MAX_SLANT))
    return _shear(ink, slant, my)


def _shear(ink: np.ndarray, slant: float, centre_row: float) -> np.ndarray:
    from scipy import ndimage

    h, w = ink.shape
    pad = int(np.ceil(abs(slant) * h)) + 1
    wide = np.pad(ink, ((0, 0), (pad, pad)))
    # Output (r, c) samples input (r, c + slant * (r - centre)): x' = x - slant * (y - centre).
    matrix = np.array([[1.0, 0.0], [slant, 1.0]])
    offset = np.array([0.0, -slant * centre_row])
    return ndimage.affine_transform(wide, matrix, offset=offset, order=1)


def deskew(ink: np.ndarray) -> np.ndarray:
    """Rotate a tilted line of digits level: the slope of the ink's centre row across
    columns, when the image is at least twice as wide as high and the tilt lies within
    SKEW_DEGREES."""
    from scipy import ndimage

    h, w = ink.shape
    if w < 2 * h:
        return ink
    mass = ink.sum(axis=0)
    cols = np.flatnonzero(mass > 0)
    if cols.size < MIN_SKEW_COLUMNS:
        return ink
    centre = (ink[:, cols] * np.arange(h)[:, None]).sum(axis=0) / mass[cols]
    slope = np.polyfit(cols, centre, 1, w=np.sqrt(mass[cols]))[0]
    angle = float(np.degrees(np.arctan(slope)))
    if not SKEW_DEGREES[0] <= abs(angle) <= SKEW_DEGREES[1]:
        return ink
    return ndimage.rotate(ink, angle, reshape=True, order=1)


def ink_band(ink: np.ndarray, fractions: tuple[float, float] = BAND) -> tuple[float, float]:
    """(first, last) row of the middle of the ink's mass (between ``fractions`` of it)."""
    mass = ink.sum(axis=1, dtype=np.float64)
    cum = np.cumsum(mass) / max(mass.sum(), 1e-9)
    return float(np.searchsorted(cum, fractions[0])), float(np.searchsorted(cum, fractions[1]))


def fit_height(ink: np.ndarray, cfg) -> np.ndarray:
    """Scale the cropped ink so its middle rows are ``cfg.band_height`` pixels high (or its
    whole extent ``cfg.ink_height``), within a ``cfg.height`` row, with ``cfg.margin``
    columns either side (``cfg``: a ``model.reading.preprocess.PrepConfig``). Returns
    uint8."""
    from PIL import Image

    h, w = ink.shape
    if cfg.band_height > 0:
        first, last = ink_band(ink)
        scale = cfg.band_height * cfg.height / REFERENCE_HEIGHT / max(last - first + 1, 1.0)
        scale = min(scale, (cfg.height - 1) / h)  # the whole extent must still fit
    else:
        scale = cfg.ink_height * cfg.height / REFERENCE_HEIGHT / h
    new_w = max(1, round(w * scale))
    new_h = max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(
        (new_w, new_h), Image.BILINEAR if scale >= 1 else Image.BOX))
    top = float(resized.max())
    if top > 0:
        resized = resized * (255.0 / max(top, 1e-3))
        resized = np.clip(resized * BRIGHTEN, 0, 255)
    top_pad = (cfg.height - new_h) // 2
    if cfg.band_height > 0:  # the band's middle on the row's middle, the ink inside the row
        middle = (first + last + 1) / 2 * new_h / h
        top_pad = int(np.clip(round(cfg.height / 2 - middle), 0, cfg.height - new_h))
    out = np.zeros((cfg.height, new_w + 2 * cfg.margin), np.float32)
    out[top_pad:top_pad + new_h, cfg.margin:cfg.margin + new_w] = resized[:cfg.height]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stroke_width(image: np.ndarray) -> float:
    """2x the mean distance from an ink pixel (> STROKE_LEVEL) to the background; 0
    without ink."""
    from scipy import ndimage

    mask = image > STROKE_LEVEL
    if not mask.any():
        return 0.0
    return float(2 * ndimage.distance_transform_edt(mask)[mask].mean())


def normalise_stroke(image: np.ndarray, target: float) -> np.ndarray:
    """Thicken thin pen strokes toward MNIST's width with grey dilations (at most
    MAX_DILATIONS), blending the last one so the width lands near ``target``; thick
    strokes stay."""
    from scipy import ndimage

    out = image.astype(np.float32)
    for _ in range(MAX_DILATIONS):
        width = stroke_width(out)
        if width == 0 or width >= target:
            break
        grown = ndimage.grey_dilation(out, footprint=np.ones((3, 3), bool))
        grown_width = stroke_width(grown)
        if grown_width <= target or grown_width <= width:
            out = grown
            continue
        t = (target - width) / (grown_width - width)
        out = out + t * (grown - out)
        break
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
