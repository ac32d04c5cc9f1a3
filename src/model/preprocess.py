"""Turning a real image of a handwritten number into what the network was trained on.

The network learned from MNIST sequences: white ink on a black background, the digits
about 20 pixels high in a 28-pixel row (MNIST fits each digit in a 20x20 box), strokes 2 to
3 pixels wide, nothing else in the picture. A scan or photo differs in every one of these,
so ``prepare`` maps one onto the other, step by step:

1. grayscale (``model.images``), then polarity: ink becomes bright whatever the paper;
2. background normalisation: a smooth estimate of the paper (shading, tone, a photo's
   uneven light) is subtracted;
3. contrast normalisation: faint pencil and black marker both end at full strength;
4. ruling lines and table borders removed, specks and blobs touching the edge dropped;
5. crop to the ink with a margin; optional slant and skew correction;
6. resize so the rows holding the middle 80% of the ink are ``band_height`` pixels high in
   a ``height`` row (the training sequences' proportions), keeping the aspect; thin
   strokes thickened toward MNIST's width.

Each step is a plain numpy function on float32 arrays, so it is easy to test alone.
``as_generated`` is the short path for images that already look like the training
sequences: polarity and height only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from model.images import ImageError


@dataclass(frozen=True)
class PrepConfig:
    """How real images are normalised. Defaults chosen on the real folders of bench/real.py."""

    height: int = 28  # The model's input height.
    ink_height: int = 20  # MNIST's digits fill a 20x20 box centred in 28x28.
    # Scale by the rows holding the middle 80% of the ink (10th to 90th percentile of its
    # mass): 16 pixels in the training sequences (median over 500 test images of each
    # generated dataset), and robust to a flag, a tail or a stray mark. Their full extent is
    # 25 pixels, not ink_height, because of jitter and wander; 0 uses ink_height instead.
    band_height: float = 16.0
    # Ink (after contrast normalisation, 0..255) that counts for components and lines.
    mask_level: float = 64.0
    # A vertical border: a straight run of ink near the left or right edge longer than this
    # fraction of the image height.
    border_fraction: float = 0.6
    margin: int = 2  # Columns of background left and right of the ink, as in training.
    # Ink weaker than this fraction of the strongest ink (after background removal) is noise.
    floor: float = 0.18
    # A ruling line or border: a straight run of ink longer than this fraction of the image.
    line_fraction: float = 0.6
    # Components smaller than this fraction of the largest one are specks (dots, dust).
    speck_fraction: float = 0.06
    # Stroke width as 2x the mean distance of ink pixels to the background, in the model's
    # input: MNIST digits measure 2.1-2.9 (10th-90th percentile), median 2.45.
    stroke: float = 2.45
    deslant: bool = False  # Shear upright; MNIST keeps its writers' slant, so off by default.
    # Rotate a tilted baseline level (images at least twice as wide as high): neutral on the
    # real folders of bench/real.py (short numbers), a clear gain on tilted long ones.
    deskew: bool = True


# Reading prepares each image these ways (PrepConfig overrides) and keeps the reading the
# model is surest of (model.read.most_confident). The contrast floor drops faint strokes
# along with the noise: some images read right only with it, some only without. On 600
# images of each real folder (the first model shipped, beam): meza_digits 67.2% with the floor,
# 70.7% without, 72.5% for the surer of the two; parish_row_ids 74.2%, 70.8%, 78.3%. A
# third way (no deskew or stroke change, a looser border rule, the old 20-row scale) added
# nothing beyond these two. The scale is the other guess that goes wrong (a flag, a tail
# or a stray mark moves the ink's middle rows): each floor is also tried with the ink band
# 10% lower and 10% higher. Every image of both folders, the third model shipped, beam,
# the surer of two ways against six: meza_digits 84.07% -> 84.66% (84.0 -> 84.5 on the
# half the set was chosen on, 84.2 -> 84.8 on the other), parish_row_ids 78.1% -> 79.2%;
# the two other scales alone, or the floor alone at other scales, gained less on one
# folder or the other. Steps 1 to 6 are shared where the ways agree (prepare_ways): six
# ways cost about twice the preparing of two, and three times the network.
READ_VARIANTS: tuple[dict, ...] = (
    {}, {"floor": 0.0},
    {"band_height": 14.5}, {"band_height": 14.5, "floor": 0.0},
    {"band_height": 17.5}, {"band_height": 17.5, "floor": 0.0},
)


def read_variants(cfg: PrepConfig) -> list[PrepConfig]:
    """The ways reading prepares an image (READ_VARIANTS on top of ``cfg``), ``cfg`` first."""
    return [dataclasses.replace(cfg, **change) for change in READ_VARIANTS]


@dataclass
class Prepared:
    """The network's input for one image, and the intermediate steps for --debug-dir."""

    image: np.ndarray  # (height, width) uint8, white ink on black
    steps: dict[str, np.ndarray] = field(default_factory=dict)


def to_ink(gray: np.ndarray) -> np.ndarray:
    """Polarity: the paper is the majority of pixels, so the side of the median with the
    longer tail is the ink. Returns ink bright (high values), float32 0..255."""
    lo, med, hi = np.percentile(gray, [1, 50, 99])
    dark_ink = (med - lo) > (hi - med)  # the tail below the paper is longer: dark ink
    return (255.0 - gray if dark_ink else gray).astype(np.float32)


# A crop whose short side is below TIGHT_CROP pixels is a cell the number fills (a logbook
# cell, a box on a form): any window the image allows is mostly strokes in places, and a
# median would take them for paper and subtract them. A low percentile stays on the paper.
# On 600 images of each real folder (bench/real.py's runs/mnist model, greedy): the 25th
# percentile everywhere gave meza 62.2% / parish 56.8%, the median 55.2% / 69.5%; parish's
# crops are tall scans (~140x200) where the median is right.
TIGHT_CROP = 64
TIGHT_PERCENTILE = 25


def remove_background(ink: np.ndarray) -> np.ndarray:
    """Subtract a smooth estimate of the paper: a large median filter over a downsampled
    copy, wide enough that strokes do not count as background (a low percentile in a
    tight crop, see TIGHT_CROP)."""
    from scipy import ndimage

    h, w = ink.shape
    scale = min(1.0, 96 / max(h, w))  # the background is smooth: estimate it small
    small = ink if scale == 1.0 else ndimage.zoom(ink, scale, order=1)
    size = max(3, int(min(small.shape) * 0.5) | 1)
    if min(h, w) < TIGHT_CROP:
        background = ndimage.percentile_filter(small, TIGHT_PERCENTILE, size=size,
                                               mode="nearest")
    else:
        background = ndimage.median_filter(small, size=size, mode="nearest")
    if scale != 1.0:
        zoom = (h / background.shape[0], w / background.shape[1])
        background = ndimage.zoom(background, zoom, order=1)[:h, :w]
        if background.shape != ink.shape:  # rounding: pad the last row/column
            background = np.pad(background, ((0, h - background.shape[0]),
                                             (0, w - background.shape[1])), mode="edge")
    return np.clip(ink - background, 0, None)


def normalise_contrast(ink: np.ndarray, floor: float) -> np.ndarray:
    """Scale the strong ink to 255 and drop what is weaker than ``floor`` of it."""
    positive = ink[ink > 0]
    if positive.size == 0:
        return np.zeros_like(ink)
    top = float(np.percentile(positive, 99))
    if top <= 0:
        return np.zeros_like(ink)
    out = ink / top
    out = np.clip((out - floor) / (1 - floor), 0, 1)
    return out * 255


def remove_lines(ink: np.ndarray, fraction: float, border_fraction: float = 0.6,
                 mask_level: float = 64) -> np.ndarray:
    """Erase straight horizontal and vertical runs of ink longer than ``fraction`` of the
    image: ruling lines, underlines, table borders and scan edges."""
    from scipy import ndimage

    mask = ink > mask_level
    h, w = mask.shape
    lines = np.zeros_like(mask)
    if w >= 8:
        run = max(3, int(w * fraction))
        lines |= ndimage.binary_opening(mask, structure=np.ones((1, run), bool))
    if h >= 8:
        run = max(3, int(h * border_fraction))
        vertical = ndimage.binary_opening(mask, structure=np.ones((run, 1), bool))
        # A tall digit ("1") can span the height of a tight crop: only lines near the
        # left or right edge count as borders.
        edge = np.zeros_like(mask)
        band = max(1, w // 6)
        edge[:, :band] = edge[:, -band:] = True
        lines |= vertical & edge
    if not lines.any():
        return ink
    # The line's faint anti-aliased fringe stays; the contrast floor removed most of it.
    out = ink.copy()
    out[lines] = 0
    return out


def clean_components(ink: np.ndarray, speck_fraction: float,
                     mask_level: float = 64) -> np.ndarray:
    """Keep the components that form the written number and drop the rest.

    Dropped: specks far smaller than the largest component; large blobs or slivers touching
    the image border (scan margins, shadows, neighbouring cells); anything outside the band
    of rows the number occupies (printed text, other lines); flat strokes under or through
    that band (underlines, dashes) that are not digits.
    """
    from scipy import ndimage

    mask = ink > mask_level
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return ink
    h, w = mask.shape
    areas = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    boxes = ndimage.find_objects(labels)
    tight = min(h, w) < TIGHT_CROP
    # The number's size, to tell specks and shadows: its largest component clear of the
    # edge. In a tight crop the digits themselves often touch the edge, and what is left
    # inside may be a line's remnant or a speck: there only a digit-sized component
    # (upright, at least DIGIT_ROWS of the height) counts, else the largest of all.
    inner = [a for a, b in zip(areas, boxes, strict=True)
             if not _touches(b, h, w) and (not tight or _digit_sized(b, h))]
    largest = max(inner) if inner else areas.max()
    candidates = []
    for i, (area, box) in enumerate(zip(areas, boxes, strict=True), start=1):
        bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
        if area < speck_fraction * largest:
            continue
        # A blob larger than the number that touches the edge is a shadow or the next
        # cell, except in a tight crop, where a round digit beside a thin "1" may be
        # larger still (1,200 meza_digits cells, the long-flag model, beam: 80.3% ->
        # 81.4% without this rule there).
        bigger = area > 1.5 * largest and not tight
        if _touches(box, h, w) and (area > 0.25 * h * w or bigger or
                                    (bh >= 0.9 * h and bw <= 0.2 * w) or
                                    (bw >= 0.9 * w and bh <= 0.2 * h) or
                                    min(bh, bw) <= 0.1 * max(bh, bw)):
            continue
        near_edge = box[1].start < 0.08 * w or box[1].stop > 0.92 * w
        if near_edge and bw <= 0.25 * bh:  # a cell border's remnant beside the number
            continue
        candidates.append((i, area, box))
    if not candidates:
        return np.zeros_like(ink)
    keep = np.zeros(count + 1, bool)
    for i in _number_band(candidates):
        keep[i] = True
    # Keep the faint fringe around kept strokes: grow the kept mask a little.
    kept = ndimage.binary_dilation(keep[labels], iterations=2)
    return np.where(kept, ink, 0).astype(np.float32)


def _number_band(candidates: list) -> list[int]:
    """The components of the number: start from the component with the most ink that is
    not flat, then add the components beside it, row band by row band."""
    def flat(box) -> bool:
        bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
        return bw >= 2.5 * bh

    upright = [c for c in candidates if not flat(c[2])] or candidates
    seed = max(upright, key=lambda c: c[1])
    top, bottom = seed[2][0].start, seed[2][0].stop
    left, right = seed[2][1].start, seed[2][1].stop
    chosen = {seed[0]}
    grown = True
    while grown:
        grown = False
        band = bottom - top
        for i, _, box in candidates:
            if i in chosen:
                continue
            bh = box[0].stop - box[0].start
            centre = (box[0].start + box[0].stop) / 2
            beside = box[1].start <= right + 1.5 * band and box[1].stop >= left - 1.5 * band
            in_band = top - 0.25 * band <= centre <= bottom + 0.25 * band
            # A flat stroke as wide as the number or lower than its middle: an underline.
            if flat(box) and bh < 0.4 * band:
                continue
            if beside and in_band and bh <= 2 * band:
                chosen.add(i)
                top, bottom = min(top, box[0].start), max(bottom, box[0].stop)
                left, right = min(left, box[1].start), max(right, box[1].stop)
                grown = True
    return sorted(chosen)


# In a tight crop, a component clear of the edge is taken for a digit when it is upright
# and spans at least this fraction of the height. On 1,200 meza_digits cells (the shipped
# model, beam) counting every inner component lost 2.5% of the cells' numbers whole (the
# digits touch the cell's edge and a speck inside set the scale): 76.3% -> 77.5%.
DIGIT_ROWS = 0.3


def _digit_sized(box, h: int) -> bool:
    bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
    return bw < 2.5 * bh and bh >= DIGIT_ROWS * h


def _touches(box, h: int, w: int) -> bool:
    return box[0].start == 0 or box[1].start == 0 or box[0].stop == h or box[1].stop == w


def ink_box(ink: np.ndarray, threshold: float = 32) -> tuple[slice, slice] | None:
    """Rows and columns that hold ink, or None for an image without ink."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def deslant(ink: np.ndarray) -> np.ndarray:
    """Shear the ink so its strokes stand upright (second-moment slant, at most +-0.6)."""
    ys, xs = np.nonzero(ink > 64)
    if ys.size < 10:
        return ink
    weights = ink[ys, xs]
    my, mx = np.average(ys, weights=weights), np.average(xs, weights=weights)
    var_y = np.average((ys - my) ** 2, weights=weights)
    if var_y <= 0:
        return ink
    slant = float(np.clip(np.average((xs - mx) * (ys - my), weights=weights) / var_y, -0.6, 0.6))
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
    columns, when the image is at least twice as wide as high and the tilt is 2-20 degrees."""
    from scipy import ndimage

    h, w = ink.shape
    if w < 2 * h:
        return ink
    mass = ink.sum(axis=0)
    cols = np.flatnonzero(mass > 0)
    if cols.size < 8:
        return ink
    centre = (ink[:, cols] * np.arange(h)[:, None]).sum(axis=0) / mass[cols]
    slope = np.polyfit(cols, centre, 1, w=np.sqrt(mass[cols]))[0]
    angle = float(np.degrees(np.arctan(slope)))
    if not 2 <= abs(angle) <= 20:
        return ink
    return ndimage.rotate(ink, angle, reshape=True, order=1)


def ink_band(ink: np.ndarray) -> tuple[float, float]:
    """(first, last) row of the middle 80% of the ink's mass, fractional."""
    mass = ink.sum(axis=1, dtype=np.float64)
    cum = np.cumsum(mass) / max(mass.sum(), 1e-9)
    return float(np.searchsorted(cum, 0.1)), float(np.searchsorted(cum, 0.9))


def fit_height(ink: np.ndarray, cfg: PrepConfig) -> np.ndarray:
    """Scale the cropped ink so its middle rows are ``band_height`` pixels high (or its
    whole extent ``ink_height``), within a ``height`` row, with ``margin`` columns either
    side. Returns uint8."""
    from PIL import Image

    h, w = ink.shape
    if cfg.band_height > 0:
        first, last = ink_band(ink)
        scale = cfg.band_height * cfg.height / 28 / max(last - first + 1, 1.0)
        scale = min(scale, (cfg.height - 1) / h)  # the whole extent must still fit
    else:
        scale = cfg.ink_height * cfg.height / 28 / h
    new_w = max(1, round(w * scale))
    new_h = max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(
        (new_w, new_h), Image.BILINEAR if scale >= 1 else Image.BOX))
    # Downscaling averages thin strokes into grey: bring the strongest ink back to 255.
    top = float(resized.max())
    if top > 0:
        resized = resized * (255.0 / max(top, 1e-3))
        resized = np.clip(resized * 1.15, 0, 255)
    top_pad = (cfg.height - new_h) // 2
    if cfg.band_height > 0:  # the band's middle on the row's middle, the ink inside the row
        middle = (first + last + 1) / 2 * new_h / h
        top_pad = int(np.clip(round(cfg.height / 2 - middle), 0, cfg.height - new_h))
    out = np.zeros((cfg.height, new_w + 2 * cfg.margin), np.float32)
    out[top_pad:top_pad + new_h, cfg.margin:cfg.margin + new_w] = resized[:cfg.height]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stroke_width(image: np.ndarray) -> float:
    """2x the mean distance from an ink pixel (> 127) to the background; 0 without ink."""
    from scipy import ndimage

    mask = image > 127
    if not mask.any():
        return 0.0
    return float(2 * ndimage.distance_transform_edt(mask)[mask].mean())


def normalise_stroke(image: np.ndarray, target: float) -> np.ndarray:
    """Thicken thin pen strokes toward MNIST's width with grey dilations (at most two),
    blending the last one so the width lands near ``target``; thick strokes stay."""
    from scipy import ndimage

    out = image.astype(np.float32)
    for _ in range(2):
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


def as_generated(gray: np.ndarray, height: int = 28, name: str = "image") -> Prepared:
    """An image already in the training sequences' look (``digits.sequence_generator``'s
    output, or ``--debug-dir``'s model input): polarity made white-on-black and the height
    scaled to ``height``, nothing else. ``prepare`` is tuned for scans and photos and loses
    faint strokes of such images.

    Raises:
        ImageError: the image holds no ink.
    """
    from PIL import Image

    ink = to_ink(gray)
    if float(ink.max()) - float(ink.min()) < 1:
        raise ImageError(f"{name} has no ink (a blank page?)")
    if ink.shape[0] != height:
        width = max(8, round(ink.shape[1] * height / ink.shape[0]))
        ink = np.asarray(Image.fromarray(ink, mode="F").resize((width, height),
                                                               Image.BILINEAR))
    return Prepared(np.clip(np.rint(ink), 0, 255).astype(np.uint8))


def prepare(gray: np.ndarray, cfg: PrepConfig = PrepConfig(), name: str = "image",
            keep_steps: bool = False) -> Prepared:
    """A grayscale image (h, w) float32 0..255 -> the network's input (see module doc).

    Raises:
        ImageError: the image holds no ink once the paper is removed.
    """
    return prepare_ways(gray, [cfg], name, keep_steps)[0]


# The PrepConfig fields that only steps 7 and 8 (scale, margin, stroke) read: ways that
# differ in nothing else share steps 1 to 6.
FIT_FIELDS = frozenset({"height", "ink_height", "band_height", "margin", "stroke"})


def prepare_ways(gray: np.ndarray, cfgs: list[PrepConfig], name: str = "image",
                 keep_steps: bool = False) -> list[Prepared | None]:
    """``prepare`` for each of ``cfgs``, cleaning the image once per distinct cleaning
    setting. ``keep_steps`` keeps the first way's steps.

    Returns:
        One Prepared per config; None for a later one that finds no ink.

    Raises:
        ImageError: the first config finds no ink.
    """
    first_steps: dict[str, np.ndarray] | None = {} if keep_steps else None
    base = _remove_paper(gray, first_steps)  # steps 1 and 2 read no setting: done once
    cleaned: dict[tuple, np.ndarray | ImageError] = {}
    out: list[Prepared | None] = []
    for n, cfg in enumerate(cfgs):
        steps = first_steps if n == 0 else None
        key = tuple((f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
                    if f.name not in FIT_FIELDS)
        if key not in cleaned:
            try:
                cleaned[key] = _clean(base, cfg, name, steps)
            except ImageError as e:
                cleaned[key] = e
        ink = cleaned[key]
        if isinstance(ink, ImageError):
            if n == 0:
                raise ink
            out.append(None)
            continue
        out.append(Prepared(_fit(ink, cfg, steps), steps or {}))
    return out


def _step(steps: dict | None, label: str, image: np.ndarray) -> np.ndarray:
    if steps is not None:
        steps[label] = np.clip(image, 0, 255).astype(np.uint8)
    return image


def _remove_paper(gray: np.ndarray, steps: dict | None) -> np.ndarray:
    """Steps 1 and 2 of the module doc: ink made bright, the paper subtracted."""
    ink = _step(steps, "1_ink", to_ink(gray))
    return _step(steps, "2_background", remove_background(ink))


def _clean(base: np.ndarray, cfg: PrepConfig, name: str, steps: dict | None) -> np.ndarray:
    """Steps 3 to 6 of the module doc on ``_remove_paper``'s output: the ink alone,
    cropped, float32."""
    ink = _step(steps, "3_contrast", normalise_contrast(base, cfg.floor))
    ink = _step(steps, "4_lines", remove_lines(ink, cfg.line_fraction, cfg.border_fraction,
                                              cfg.mask_level))
    ink = _step(steps, "5_components", clean_components(ink, cfg.speck_fraction,
                                                        cfg.mask_level))
    box = ink_box(ink)
    if box is None:
        raise ImageError(f"{name} has no ink (a blank page?)")
    ink = ink[box]
    if cfg.deskew:
        ink = deskew(ink)
    if cfg.deslant:
        ink = deslant(ink)
    box = ink_box(ink)
    if box is None:
        raise ImageError(f"{name} has no ink (a blank page?)")
    return _step(steps, "6_crop", ink[box])


def _fit(ink: np.ndarray, cfg: PrepConfig, steps: dict | None) -> np.ndarray:
    """Steps 7 and 8: scale into the model's row, thicken thin strokes; uint8."""
    image = _step(steps, "7_resized", fit_height(ink, cfg))
    if cfg.stroke > 0:
        image = normalise_stroke(image, cfg.stroke)
    return _step(steps, "8_model_input", image)
