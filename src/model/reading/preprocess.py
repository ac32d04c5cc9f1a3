"""Turning a real image of a handwritten number into what the network was trained on.

The network learned from MNIST sequences: white ink on a black background, the digits
about 20 pixels high in a 28-pixel row (MNIST fits each digit in a 20x20 box), strokes 2 to
3 pixels wide, nothing else in the picture. A scan or photo differs in every one of these,
so ``prepare`` maps one onto the other, step by step (``model.reading.steps`` and
``model.reading.components`` hold the steps):

1. grayscale (``model.reading.images``), then polarity: ink becomes bright whatever the paper;
2. background normalisation: a smooth estimate of the paper (shading, tone, a photo's
   uneven light) is subtracted, kept below the split between paper and ink unless the
   image has a scan's dark margin (one way keeps it below the split always);
3. contrast normalisation: faint pencil and black marker both end at full strength;
4. ruling lines and table borders removed;
5. specks and blobs touching the edge dropped, the number's components kept;
6. crop to the ink; optional slant and skew correction;
7. resize so the rows holding the middle 80% of the ink are ``band_height`` pixels high in
   a ``height`` row (the training sequences' proportions), keeping the aspect, with a
   ``margin``;
8. thin strokes thickened toward MNIST's width.

``as_generated`` is the short path for images that already look like the training
sequences: polarity, margins and height only. Reading takes it by itself for an image of
light strokes on a flat dark ground (``PrepConfig.generated_look``): this module's steps
are made for scans and photos and cost such images faint strokes and edge digits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from model.reading.components import clean_components
from model.reading.images import ImageError
from model.reading.steps import (
    deskew,
    deslant,
    fit_height,
    ink_box,
    margin_free,
    normalise_contrast,
    normalise_stroke,
    remove_backgrounds,
    remove_lines,
    to_ink,
    trim_margins,
)

CAP_FIELDS = ("paper_cap", "margin_cap")  # settle together whether an image's estimate is capped
ROUTE = {"stage": "route"}  # read before any step: which path an image takes
CLEAN = {"stage": "clean"}  # read by steps 3 to 6
FIT = {"stage": "fit"}  # read by steps 7 and 8 only: ways that differ only here share 1-6


@dataclass(frozen=True)
class PrepConfig:
    """How real images are normalised (chosen on the real folders' tune halves, see
    docs/reading.md). Each field says which steps read it (``stage``): ways of preparing
    that differ only in fit fields share the cleaning (``prepare_ways``)."""

    height: int = field(default=28, metadata=FIT)  # The model's input height.
    # An image that looks as the generator writes (``model.reading.steps.looks_generated``)
    # is read as generated (``as_generated``), one way, not prepared.
    generated_look: bool = field(default=True, metadata=ROUTE)
    # MNIST's digits fill a 20x20 box centred in 28x28.
    ink_height: int = field(default=20, metadata=FIT)
    # Scale by the rows holding the middle 80% of the ink (10th to 90th percentile of its
    # mass): 16 pixels in the training sequences (median over 500 test images of each
    # generated dataset), and robust to a flag, a tail or a stray mark. Their full extent is
    # 25 pixels, not ink_height, because of jitter and wander; 0 uses ink_height instead.
    band_height: float = field(default=16.0, metadata=FIT)
    # Ink (after contrast normalisation, 0..255) that counts for components and lines.
    mask_level: float = field(default=64.0, metadata=CLEAN)
    # A vertical border: a straight run of ink near the left or right edge longer than this
    # fraction of the image height.
    border_fraction: float = field(default=0.6, metadata=CLEAN)
    # Columns of background left and right of the ink, as in training.
    margin: int = field(default=2, metadata=FIT)
    # Ink weaker than this fraction of the strongest ink (after background removal) is noise.
    floor: float = field(default=0.18, metadata=CLEAN)
    # A ruling line or border: a straight run of ink longer than this fraction of the image.
    line_fraction: float = field(default=0.6, metadata=CLEAN)
    # Components smaller than this fraction of the largest one are specks (dots, dust).
    speck_fraction: float = field(default=0.06, metadata=CLEAN)
    # Stroke width as 2x the mean distance of ink pixels to the background, in the model's
    # input: MNIST digits measure 2.1-2.9 (10th-90th percentile), median 2.45.
    stroke: float = field(default=2.45, metadata=FIT)
    # Shear upright; MNIST keeps its writers' slant, so off by default.
    deslant: bool = field(default=False, metadata=CLEAN)
    # Rotate a tilted baseline level (images at least twice as wide as high): neutral on
    # short numbers, a clear gain on tilted long ones.
    deskew: bool = field(default=True, metadata=CLEAN)
    # Steps 2, 4 and 5 can be switched off, to measure what each buys (bench/real.py
    # --prep; docs/reading.md has the figures).
    background: bool = field(default=True, metadata=CLEAN)
    # The paper's estimate stays below the split between paper and ink: a stroke filling
    # its window (a large digit in a tight crop) is not subtracted as paper. Always with
    # paper_cap (one of the ways, READ_VARIANTS); with margin_cap, wherever the image has
    # no scan's dark margin (``model.reading.steps.margin_free``), which the cap would keep
    # as the strongest ink.
    paper_cap: bool = field(default=False, metadata=CLEAN)
    margin_cap: bool = field(default=True, metadata=CLEAN)
    lines: bool = field(default=True, metadata=CLEAN)
    components: bool = field(default=True, metadata=CLEAN)
    # A vertical border near the left or right edge must be longer than this many times the
    # rows the rest of the ink spans (0: any run over border_fraction counts): a "1" ending
    # a tight crop is as high as its neighbours, a cell's border reaches past them.
    border_beyond: float = field(default=1.2, metadata=CLEAN)
    # Digits at a tight crop's edge are kept: an edge-touching sliver must be thin for its
    # height to count as a border, and a narrow stroke at the left or right edge joins the
    # number when it stands within the number's rows (a "1"), not always a remnant.
    edge_digits: bool = field(default=True, metadata=CLEAN)
    # Touching digits make one wide component: it may seed the number when about as high as
    # the tallest component, instead of a smaller upright piece (a speck, a single digit).
    merged: bool = field(default=True, metadata=CLEAN)
    # A horizontal run of ink is a line only when longer than this many times the rows the
    # ink spans (0: any run over line_fraction of the width is): the bar of a 7 or the foot
    # of a 2 can span most of a tight crop around one digit.
    line_beyond: float = field(default=1.0, metadata=CLEAN)
    # A ruling line may rise or fall up to this many degrees across the image (a page
    # photographed or scanned not quite square; 0: level lines only).
    line_tilt: float = field(default=8.0, metadata=CLEAN)
    # A crop is tight (its edge digits kept, see model.reading.components) also when a
    # digit-shaped component is cut by its top or bottom edge, whatever its size: a photo
    # cropped to the number is larger than a cell but as tight.
    spanning: bool = field(default=True, metadata=CLEAN)
    # A thin rectangle drawn around other ink is a frame, dropped with the specks: line
    # removal keeps a box around one or two digits, whose sides are no longer than the
    # number is high.
    frames: bool = field(default=True, metadata=CLEAN)
    # A cell's corner at the left or right edge (a straight side and its arm: what line
    # removal leaves of a broken border) joins the number only as a narrow edge stroke
    # would (edge_digits): within its rows and close by, as a "7" ending a tight crop.
    corners: bool = field(default=True, metadata=CLEAN)
    # A faint digit that the mask level breaks into specks (a light pen, a thinned stroke)
    # joins the number, as an edge stroke does, when its ink above this fraction of
    # mask_level forms a digit-sized component beside it (0: off; model.reading.components).
    faint: float = field(default=0.25, metadata=CLEAN)

    def cleaning(self) -> tuple:
        """The values steps 3 to 6 read: equal for two configs that clean alike."""
        return tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                     if f.metadata["stage"] == "clean")


# Reading prepares each image these ways (PrepConfig overrides) and keeps the reading the
# model is surest of (model.reading.reader.most_confident). The contrast floor drops faint
# strokes along with the noise: some images read right only with it, some only without.
# The scale is the other guess that goes wrong (a flag, a tail or a stray mark moves the
# ink's middle rows): the ink band is also tried 10% lower with and without the floor, and
# 10% higher without it. The last way keeps the paper's estimate below the ink
# (``paper_cap``) even beside a scan's dark margin, where the others do not
# (``margin_cap``); elsewhere it prepares the image as the first way does.
# docs/journal.md has the measurements behind each way.
READ_VARIANTS: tuple[dict, ...] = (
    {}, {"floor": 0.0},
    {"band_height": 14.5}, {"band_height": 14.5, "floor": 0.0},
    {"band_height": 17.5, "floor": 0.0},
    {"paper_cap": True},
)
AS_GENERATED_MIN_WIDTH = 8  # a generated image scaled to the model's height stays this wide


def read_variants(cfg: PrepConfig) -> list[PrepConfig]:
    """The ways reading prepares an image (READ_VARIANTS on top of ``cfg``), ``cfg`` first."""
    return [dataclasses.replace(cfg, **change) for change in READ_VARIANTS]


@dataclass
class Prepared:
    """The network's input for one image, and the intermediate steps for --debug-dir."""

    image: np.ndarray  # (height, width) uint8, white ink on black
    steps: dict[str, np.ndarray] = field(default_factory=dict)


def as_generated(gray: np.ndarray, height: int = 28, name: str = "image") -> Prepared:
    """An image already in the training sequences' look (``digits.sequence_generator``'s
    output, or ``--debug-dir``'s model input): polarity made white-on-black, margins wider
    than a generated sequence's trimmed (``trim_margins``) and the height scaled to
    ``height``, nothing else. ``prepare`` is tuned for scans and photos and loses faint
    strokes of such images.

    Raises:
        ImageError: the image holds no ink.
    """
    from PIL import Image

    ink = to_ink(gray)
    if float(ink.max()) - float(ink.min()) < 1:
        raise ImageError(f"{name} has no ink (a blank page?)")
    ink = trim_margins(ink)
    if ink.shape[0] != height:
        width = max(AS_GENERATED_MIN_WIDTH, round(ink.shape[1] * height / ink.shape[0]))
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


def prepare_ways(gray: np.ndarray, cfgs: list[PrepConfig], name: str = "image",
                 keep_steps: bool = False) -> list[Prepared | None]:
    """``prepare`` for each of ``cfgs``, cleaning the image once per distinct cleaning
    setting (``PrepConfig.cleaning``). ``keep_steps`` keeps the first way's steps.

    Returns:
        One Prepared per config; None for a later one that finds no ink.

    Raises:
        ImageError: the first config finds no ink.
    """
    first_steps: dict[str, np.ndarray] | None = {} if keep_steps else None
    keep = margin_free(gray)  # the polarity test's too: made once
    caps = [cfg.paper_cap or (cfg.margin_cap and keep.all()) for cfg in cfgs]
    bases = _remove_paper(gray, keep, first_steps, cfgs, caps)
    cleaned: dict[tuple, np.ndarray | ImageError] = {}
    out: list[Prepared | None] = []
    for n, (cfg, cap) in enumerate(zip(cfgs, caps, strict=True)):
        steps = first_steps if n == 0 else None
        # The cap is decided per image: ways whose caps agree here clean alike.
        key = tuple(item for item in cfg.cleaning() if item[0] not in CAP_FIELDS) + (cap,)
        if key not in cleaned:
            try:
                cleaned[key] = _clean(bases[cfg.background, cap], cfg, name, steps)
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


def _remove_paper(gray: np.ndarray, keep: np.ndarray, steps: dict | None,
                  cfgs: list[PrepConfig], caps: list[bool]) -> dict[tuple, np.ndarray]:
    """Steps 1 and 2 of the module doc for each distinct (``background``, cap) of ``cfgs``
    and ``caps`` (whether each caps the paper's estimate): ink made bright (``keep``: where
    the image is no scan's margin), the paper subtracted (without ``background``: only its
    darkest level), the paper's estimate made once for all; ``steps`` gets the first's."""
    ink = _step(steps, "1_ink", to_ink(gray, keep=keep))
    pairs = list(dict.fromkeys((cfg.background, cap)
                               for cfg, cap in zip(cfgs, caps, strict=True)))
    estimated = [cap for background, cap in pairs if background]
    removed = (dict(zip(estimated, remove_backgrounds(ink, estimated), strict=True))
               if estimated else {})
    bases = {(background, cap): removed[cap] if background
             else np.clip(ink - ink.min(), 0, None) for background, cap in pairs}
    _step(steps, "2_background", bases[pairs[0]])
    return bases


def _clean(base: np.ndarray, cfg: PrepConfig, name: str, steps: dict | None) -> np.ndarray:
    """Steps 3 to 6 of the module doc on ``_remove_paper``'s output: the ink alone,
    cropped, float32. Reads only the clean fields of ``cfg``."""
    ink = _step(steps, "3_contrast", normalise_contrast(base, cfg.floor))
    if cfg.lines:
        ink = remove_lines(ink, cfg.line_fraction, cfg.border_fraction, cfg.mask_level,
                           cfg.border_beyond, cfg.line_beyond, cfg.line_tilt)
    ink = _step(steps, "4_lines", ink)
    if cfg.components:
        ink = clean_components(ink, cfg.speck_fraction, cfg.mask_level, cfg.edge_digits,
                               cfg.merged, cfg.spanning, cfg.frames, cfg.corners,
                               cfg.faint)
    ink = _step(steps, "5_components", ink)
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
