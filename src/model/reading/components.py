"""Step 5 of preparing a real image: keep the connected components that form the written
number, drop specks, shadows, neighbouring cells, printed text and underlines.

Every threshold is a fraction of the image or of the number, so the rules hold at any
resolution.
"""

from __future__ import annotations

import numpy as np

# A crop whose short side is below TIGHT_CROP pixels is a cell the number fills (a logbook
# cell, a box on a form): the digits often touch its edge, and anything inside may be a
# line's remnant or a speck (model.reading.steps.remove_background reads it the same way).
TIGHT_CROP = 64
# In a tight crop, a component clear of the edge is taken for a digit when it is upright
# and spans at least this fraction of the height: counting every inner component let a
# speck inside a cell set the number's size (docs/journal.md, meza cells).
DIGIT_ROWS = 0.3
# A component wider than FLAT times its height is a flat stroke (a dash, an underline), no
# digit: the widest digit, a 0 or a 2, is about as wide as high.
FLAT = 2.5
# Edge-touching components dropped as not part of the number (outside a tight crop, see
# clean_components): a blob over EDGE_BLOB of the image and over BLOB_FILL of its box
# (solid, as no digit is, even bold), or more than BIGGER times the number's largest
# component (a shadow, the next cell); a sliver spanning FULL_SPAN of one
# side and at most SLIVER of the other (a scan edge, a cell border); anything whose short
# side is at most THIN of its long side (a line's remnant).
EDGE_BLOB = 0.25
BLOB_FILL = 0.7
BIGGER = 1.5
FULL_SPAN = 0.9
SLIVER = 0.2
THIN = 0.1
# A narrow stroke (at most REMNANT of its height wide) within EDGE_COLUMNS of the left or
# right edge is a cell border's remnant beside the number; with ``edge_digits`` it may also
# be a "1" ending the number: it never seeds the number, and joins it when it stands within
# the number's band (at most ONE_TALL band heights high, its ends within IN_BAND of it) and
# as close to it as digits stand (at most ONE_GAP band heights away; a cell border's remnant
# stands farther off: 0.5 let more of them in on the meza tune half, docs/journal.md).
EDGE_COLUMNS = 0.08
REMNANT = 0.25
ONE_TALL = 1.2
ONE_GAP = 0.3
# Growing the number from its seed: a component belongs to it when it lies within BESIDE
# band heights to the left or right, its centre within IN_BAND band heights of the band,
# and it is at most TALLER times the band high; a flat one lower than UNDERLINE band
# heights is an underline, not a digit.
BESIDE = 1.5
IN_BAND = 0.25
TALLER = 2.0
UNDERLINE = 0.4
# With ``merged``, a flat component at least MERGED of the tallest's height is touching
# digits, not a stroke, and may seed the number.
MERGED = 0.8
# With ``spanning``, a crop of any size is tight when a component cut by its top or bottom
# edge spans SPAN_ROWS of its height and is shaped as digits are: at most SPAN_WIDTH times
# as wide as high (touching digits, not a frame), its ink between SPAN_FILL of its box (not
# the outline of a ruling line and a border, not a scan margin's solid band).
SPAN_WIDTH = 2.0
SPAN_ROWS = 0.8
SPAN_FILL = (0.08, 0.5)
# With ``frames``, a component is a frame drawn around the number (a boxed field, a cell's
# four borders) when its box holds another component's box, it has ink in all four corners
# of its box (a 0 or an 8 does not: its outline is round), and FRAME_SHARE of its ink lies
# within FRAME_BAND of its box's short side from the box's edges (a thin outline).
FRAME_BAND = 0.15
FRAME_SHARE = 0.85
# With ``corners``, a component is a cell's corner (what line removal leaves of a border
# and the line it meets when both are broken or short) when it stands at the left or right
# edge (EDGE_COLUMNS), is at least CORNER_ROWS of the image high and wider than a narrow
# stroke (REMNANT), one of the CORNER_STRIP columns along its outer side holds ink over
# STRAIGHT of its height (a ruled line, not a slanted stroke), one of the CORNER_STRIP rows
# along its top or bottom over ARM of its width, and CORNER_SHARE of its ink lies in those
# strips. It is then treated as a narrow edge stroke is: it joins the number only when it
# stands within its rows and close to it (ONE_TALL, ONE_GAP), as a 7 ending a tight crop
# may, while a cell's corner runs past the number's rows or stands apart.
CORNER_ROWS = 0.5
CORNER_STRIP = 3
STRAIGHT = 0.8
CORNER_SHARE = 0.85
ARM = 0.5
# With ``faint``, a component of weak ink (above ``faint`` of the mask level) that the mask
# sees only as specks is a faint digit when it is no speck at that level, upright, at least
# FAINT_ROWS as high as the component with the largest piece, and no narrow stroke at the
# left or right edge (a faint border's remnant); it then joins the number as an edge
# stroke does (ONE_TALL, ONE_GAP) and never seeds it.
FAINT_ROWS = 0.6
EIGHT = np.ones((3, 3), bool)  # components join at corners too
FRINGE = 2  # dilations of the kept mask: the faint anti-aliased fringe of a kept stroke


def clean_components(ink: np.ndarray, speck_fraction: float,
                     mask_level: float = 64, edge_digits: bool = False,
                     merged: bool = False, spanning: bool = False,
                     frames: bool = False, corners: bool = False,
                     faint: float = 0.0) -> np.ndarray:
    """Keep the components that form the written number and drop the rest.

    Dropped: specks far smaller than the largest component; large blobs or slivers touching
    the image border (scan margins, shadows, neighbouring cells); anything outside the band
    of rows the number occupies (printed text, other lines); flat strokes under or through
    that band (underlines, dashes) that are not digits.

    Args:
        ink: (h, w) float32 0..255, ink bright.
        speck_fraction: components smaller than this fraction of the number's largest are
            specks.
        mask_level: ink above this level counts.
        edge_digits: digits at the edge of a tight crop are kept: a full-height sliver must
            be thin for its height to count as a border, and a narrow stroke at the edge
            within the number's rows joins it (a "1").
        merged: a wide component as high as the tallest (touching digits) may seed.
        spanning: a crop is also tight, whatever its size, when a digit-shaped component
            cut by its top or bottom edge spans most of its height (a photo cropped to the
            number's ink).
        frames: a thin rectangle around other ink (``_frame``) is dropped: a box drawn
            around the number, which line removal leaves when it is no longer than the
            number is high.
        corners: a cell's corner at the left or right edge (``_corner``) is taken for a
            narrow edge stroke (see ``edge_digits``), not for a digit: the model would read
            its straight side as a "1" or, with its arm, as a "7".
        faint: above 0, a faint digit that the mask breaks into specks is kept
            (``_faint_digits``, FAINT_ROWS) when it stands beside the number: its
            components are those of the ink above this fraction of ``mask_level``.

    Returns:
        ``ink`` with the dropped components set to 0, float32.
    """
    from scipy import ndimage

    mask = ink > mask_level
    labels, count = ndimage.label(mask, structure=EIGHT)
    weak = np.zeros_like(mask)
    if faint > 0 and count:
        weak = _faint_digits(ink, labels, count, faint * mask_level, speck_fraction)
        if weak.any():  # faint digits join their pieces: label again
            mask |= weak
            labels, count = ndimage.label(mask, structure=EIGHT)
    if count == 0:
        return ink
    weak_ids = set(np.unique(labels[weak]).tolist())
    h, w = mask.shape
    areas = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    boxes = ndimage.find_objects(labels)
    if frames and count > 1:
        framed = [i for i, box in enumerate(boxes, start=1) if _frame(labels, i, box, boxes)]
        if framed:
            return clean_components(np.where(np.isin(labels, framed), 0, ink),
                                    speck_fraction, mask_level, edge_digits, merged, spanning,
                                    corners=corners, faint=faint)
    tight = min(h, w) < TIGHT_CROP or (spanning and any(
        _spans(b, a, h, w) for a, b in zip(areas, boxes, strict=True)))
    # The number's size, to tell specks and shadows: its largest component clear of the
    # edge. In a tight crop only a digit-sized component counts, else the largest of all.
    inner = [a for a, b in zip(areas, boxes, strict=True)
             if not _touches(b, h, w) and (not tight or _digit_sized(b, h))]
    largest = max(inner) if inner else areas.max()
    candidates = []
    for i, (area, box) in enumerate(zip(areas, boxes, strict=True), start=1):
        bh, bw = _size(box)
        if area < speck_fraction * largest:
            continue
        # A blob larger than the number that touches the edge is a shadow or the next
        # cell, except in a tight crop, where a round digit beside a thin "1" may be
        # larger still.
        bigger = area > BIGGER * largest and not tight
        near_edge = _near_edge(box, w)
        # A narrow upright stroke at the left or right edge: a border's remnant, or a "1".
        remnant = near_edge and bw <= REMNANT * bh
        # A cell's corner is a remnant too, however wide its arm.
        corner = corners and near_edge and not remnant and _corner(labels, i, box, h, w)
        # An upright sliver the height of the image is a scan edge or a border; with
        # ``edge_digits`` only when thin for its height (a digit at the end of a tight crop
        # of a long number is a sliver of the image too), and a thin one near the edge is
        # left to _number_band as a remnant.
        sliver = bh >= FULL_SPAN * h and bw <= SLIVER * w
        thin = min(bh, bw) <= THIN * max(bh, bw)
        if edge_digits:
            sliver &= bw <= REMNANT * bh and not remnant
            thin &= not remnant
        # A blob is solid (a shadow, a scan margin, the next cell): bold digits filling a
        # tight crop cover over EDGE_BLOB of it too, but not BLOB_FILL of their box.
        blob = area > EDGE_BLOB * h * w and area > BLOB_FILL * bh * bw
        if _touches(box, h, w) and (blob or bigger or sliver or
                                    (bw >= FULL_SPAN * w and bh <= SLIVER * h) or thin):
            continue
        if remnant and not edge_digits:
            continue
        candidates.append((i, area, box, remnant or corner or i in weak_ids))
    if edge_digits and all(c[3] for c in candidates):
        # Every component touched the edge as a blob or a sliver would: a crop tight around
        # one or two large digits. Rather than nothing, the number is what is not a line.
        candidates = [(i, a, b, False)
                      for i, (a, b) in enumerate(zip(areas, boxes, strict=True), start=1)
                      if a >= speck_fraction * largest
                      and min(_size(b)) > THIN * max(_size(b))]
    if all(c[3] for c in candidates):
        return np.zeros_like(ink)
    keep = np.zeros(count + 1, bool)
    for i in _number_band(candidates, merged):
        keep[i] = True
    kept = ndimage.binary_dilation(keep[labels], iterations=FRINGE)
    return np.where(kept, ink, 0).astype(np.float32)


def _faint_digits(ink: np.ndarray, pieces: np.ndarray, count: int, level: float,
                  speck_fraction: float) -> np.ndarray:
    """The pixels of faint digits (see FAINT_ROWS): the components of the ink above
    ``level`` whose ink above the mask (its ``count`` components labelled in ``pieces``)
    lies only in speck-sized pieces, yet that are no specks themselves at ``level`` (both
    against the component holding the largest piece), upright, as high as a digit, and no
    narrow stroke at the left or right edge."""
    from scipy import ndimage

    low = ink > level
    labels, lows = ndimage.label(low, structure=EIGHT)
    if lows < 2:
        return np.zeros_like(low)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    sizes[0] = 0  # the background
    index = np.arange(1, lows + 1)
    biggest = ndimage.maximum(sizes[pieces], labels, index)
    weak = ndimage.sum_labels(low, labels, index)
    first = int(np.argmax(biggest))
    boxes = ndimage.find_objects(labels)
    high = np.array([_size(b)[0] for b in boxes])
    w = low.shape[1]
    # No narrow stroke at the left or right edge: a faint cell border's remnant.
    upright = np.array([not _flat(b) and not (
        _near_edge(b, w) and _size(b)[1] <= REMNANT * _size(b)[0]) for b in boxes])
    faint = (biggest > 0) & (biggest < speck_fraction * sizes.max()) \
        & (weak >= speck_fraction * weak[first]) & upright & (high >= FAINT_ROWS * high[first])
    return np.isin(labels, index[faint])


def _number_band(candidates: list, merged: bool = False) -> list[int]:
    """The components of the number: start from the component with the most ink that is
    neither flat nor an edge remnant, then add the components beside it, row band by row
    band.

    Args:
        candidates: (label, area, box, remnant) per component, not all remnants.
        merged: a flat component as high as MERGED of the tallest may seed.
    """
    seeds = [c for c in candidates if not c[3]]
    tallest = max(_size(c[2])[0] for c in seeds)
    upright = [c for c in seeds if not _flat(c[2])
               or (merged and _size(c[2])[0] >= MERGED * tallest)] or seeds
    seed = max(upright, key=lambda c: c[1])
    top, bottom = seed[2][0].start, seed[2][0].stop
    left, right = seed[2][1].start, seed[2][1].stop
    chosen = {seed[0]}
    grown = True
    while grown:
        grown = False
        band = bottom - top
        for i, _, box, remnant in candidates:
            if i in chosen:
                continue
            bh, _ = _size(box)
            gap = max(box[1].start - right, left - box[1].stop)
            if remnant and not (bh <= ONE_TALL * band and gap <= ONE_GAP * band
                                and box[0].start >= top - IN_BAND * band
                                and box[0].stop <= bottom + IN_BAND * band):
                continue
            centre = (box[0].start + box[0].stop) / 2
            beside = (box[1].start <= right + BESIDE * band
                      and box[1].stop >= left - BESIDE * band)
            in_band = top - IN_BAND * band <= centre <= bottom + IN_BAND * band
            if _flat(box) and bh < UNDERLINE * band:
                continue
            if beside and in_band and bh <= TALLER * band:
                chosen.add(i)
                top, bottom = min(top, box[0].start), max(bottom, box[0].stop)
                left, right = min(left, box[1].start), max(right, box[1].stop)
                grown = True
    return sorted(chosen)


def _size(box) -> tuple[int, int]:
    return box[0].stop - box[0].start, box[1].stop - box[1].start


def _flat(box) -> bool:
    bh, bw = _size(box)
    return bw >= FLAT * bh


def _digit_sized(box, h: int) -> bool:
    bh, bw = _size(box)
    return bw < FLAT * bh and bh >= DIGIT_ROWS * h


def _spans(box, area: float, h: int, w: int) -> bool:
    """A digit-shaped component cut by the top or bottom edge (SPAN_ROWS, SPAN_WIDTH,
    SPAN_FILL): neither a sliver nor a blob (a scan edge, a border, a shadow)."""
    bh, bw = _size(box)
    return ((box[0].start == 0 or box[0].stop == h) and bh >= SPAN_ROWS * h
            and bw > THIN * bh and bw <= SPAN_WIDTH * bh and area <= EDGE_BLOB * h * w
            and SPAN_FILL[0] * bh * bw <= area <= SPAN_FILL[1] * bh * bw)


def _frame(labels: np.ndarray, i: int, box, boxes) -> bool:
    """Whether component ``i`` (its ``box``) is a frame around other ink (FRAME_BAND,
    FRAME_SHARE): its box holds another component's box, and its ink is a thin outline of
    its box with all four corners inked."""
    bh, bw = _size(box)
    band = max(2, round(FRAME_BAND * min(bh, bw)))
    if min(bh, bw) <= 2 * band or not any(
            j != i - 1 and other[0].start > box[0].start and other[0].stop < box[0].stop
            and other[1].start > box[1].start and other[1].stop < box[1].stop
            for j, other in enumerate(boxes)):
        return False
    own = labels[box] == i
    inner = own[band:-band, band:-band]
    if inner.sum() > (1 - FRAME_SHARE) * own.sum():
        return False
    return all(own[rows, cols].any() for rows in (slice(0, band), slice(-band, None))
               for cols in (slice(0, band), slice(-band, None)))


def _corner(labels: np.ndarray, i: int, box, h: int, w: int) -> bool:
    """Whether component ``i`` (its ``box``), standing at the left or right edge and wider
    than a narrow stroke (the caller's ``near_edge`` and ``remnant``), is a cell's corner
    (CORNER_ROWS, CORNER_STRIP, STRAIGHT, ARM, CORNER_SHARE): a straight upright side along
    its outer edge, an arm along its top or bottom, and nearly all its ink on those two."""
    bh, bw = _size(box)
    if bh < CORNER_ROWS * h:
        return False
    own = labels[box] == i
    right = box[1].stop > (1 - EDGE_COLUMNS) * w
    cols = slice(-CORNER_STRIP, None) if right else slice(0, CORNER_STRIP)
    if own[:, cols].sum(axis=0).max() < STRAIGHT * bh:
        return False
    total = own.sum()
    for rows in (slice(0, CORNER_STRIP), slice(-CORNER_STRIP, None)):
        strips = np.zeros_like(own)
        strips[:, cols] = strips[rows] = True
        if (own[rows].sum(axis=1).max() >= ARM * bw
                and own[strips].sum() >= CORNER_SHARE * total):
            return True
    return False


def _near_edge(box, w: int) -> bool:
    """Whether ``box`` reaches within EDGE_COLUMNS of the left or right edge."""
    return box[1].start < EDGE_COLUMNS * w or box[1].stop > (1 - EDGE_COLUMNS) * w


def _touches(box, h: int, w: int) -> bool:
    return box[0].start == 0 or box[1].start == 0 or box[0].stop == h or box[1].stop == w
