"""model.reading.steps: each step of preparing a real image on its own."""

import numpy as np
import pytest

from model.reading.preprocess import PrepConfig
from model.reading.steps import (
    deskew,
    fit_height,
    ink_band,
    ink_box,
    ink_split,
    margin_free,
    normalise_contrast,
    normalise_stroke,
    remove_background,
    remove_lines,
    stroke_width,
    to_ink,
)


def test_polarity_follows_the_paper():
    paper = np.full((40, 80), 220, np.float32)
    paper[10:30, 20:24] = 30  # a dark stroke
    assert to_ink(paper)[20, 22] > to_ink(paper)[5, 5]
    assert to_ink(255 - paper)[20, 22] > to_ink(255 - paper)[5, 5]


def test_a_scan_margin_covering_most_of_the_crop_does_not_turn_the_polarity_over():
    """A dark margin down the left 60% of a crop outvotes the paper unless it is left out
    of the test; white strokes on black, whose ground is dark up to the edge too, keep
    their polarity."""
    crop = np.full((60, 100), 225, np.float32)
    crop[:, :60] = 12  # the scanner's margin
    crop[15:45, 75:79] = 40  # a dark "1" on the paper strip
    ink = to_ink(crop)
    assert ink[30, 76] > ink[30, 90] and ink[30, 76] > 200
    assert not margin_free(crop)[:, :60].any() and margin_free(crop)[:, 60:].all()
    white = np.zeros((60, 100), np.float32)
    white[15:45, 30:34] = white[15:45, 60:64] = 250  # white strokes on a black ground
    assert to_ink(white)[30, 31] == 250 and to_ink(white)[5, 5] == 0


@pytest.mark.parametrize("polarity", ["dark_on_paper", "light_on_dark"])
def test_bold_digits_filling_a_tight_crop_keep_their_polarity(polarity):
    """A bold digit photographed large and cropped into its ink can cover more of the image
    than the paper: the majority then says the paper is the ink. Where the image's edge
    and the shapes' widths agree, they decide instead; where they do not, the majority
    still does, so no image the majority read right is turned over."""
    from PIL import Image
    from scipy import ndimage

    from digits.sources import load_mnist

    mnist = load_mnist("embedded")
    fixed = 0
    for digit, nth in ((1, 2), (6, 0), (7, 1), (7, 0), (2, 1), (5, 2)):
        image = mnist.x_test[np.flatnonzero(mnist.y_test == digit)[nth]].astype(np.float32)
        bold = ndimage.grey_dilation(image, size=(3, 3))
        rows, cols = np.flatnonzero(bold.max(axis=1) > 64), np.flatnonzero(bold.max(axis=0) > 64)
        crop = bold[rows[0] + 2:rows[-1] - 1, cols[0] + 2:cols[-1] - 1]  # cut into the ink
        width = round(crop.shape[1] * 120 / crop.shape[0])
        big = np.asarray(Image.fromarray(crop, mode="F").resize((width, 120), Image.BILINEAR))
        gray = 230 - 0.8 * big if polarity == "dark_on_paper" else 20 + 0.8 * big
        share = float((gray <= ink_split(gray.ravel())).mean())
        assert 0.35 < share < 0.65, (digit, nth, share)  # near even: the tie-break's case

        before, after = (np.corrcoef(ink.ravel(), big.ravel())[0, 1] > 0
                         for ink in (to_ink(gray, balanced=False), to_ink(gray)))
        assert after or not before, (digit, nth)
        fixed += after and not before
    assert fixed >= 3


def test_long_lines_go_and_digits_stay():
    ink = np.zeros((40, 100), np.float32)
    ink[30, :] = 255  # a ruling line
    ink[:, 1] = 255  # a border at the left edge
    ink[5:28, 50:53] = 255  # a "1" in the middle
    out = remove_lines(ink, 0.6)
    assert out[30, 10] == 0 and out[20, 1] == 0
    assert out[5:28, 50:53].min() == 255


@pytest.mark.parametrize("scale", [1, 4])
def test_a_tilted_ruling_line_goes_and_the_digits_stay(scale):
    """A line under a number photographed 5 degrees off square is no level run: with
    ``tilt`` it goes all the same, at any size (a large image is searched at a reduced
    scale), while the digits stay."""
    h, w = 40 * scale, 160 * scale
    ink = np.zeros((h, w), np.float32)
    cols = np.arange(w)
    line = np.rint(30 * scale + cols * np.tan(np.radians(-5))).astype(int)
    for k in range(3 * scale):  # the line is 3 pixels thick at the smaller size
        ink[line + k, cols] = 255
    ink[4 * scale:20 * scale, 60 * scale:63 * scale] = 255  # a "1" clear of the line
    bar = np.zeros_like(ink, bool)
    for c in range(20 * scale):  # a 7's bar sloping 20 degrees, as long as the 1 is high
        r = 4 * scale + round(c * np.tan(np.radians(20)))
        bar[r:r + 2 * scale, 90 * scale + c] = True
    ink[bar] = 255
    level = remove_lines(ink, 0.6, line_beyond=1.0)
    tilted = remove_lines(ink, 0.6, line_beyond=1.0, tilt=8)
    on_line = np.zeros_like(ink, bool)
    for k in range(3 * scale):
        on_line[line + k, cols] = True
    on_line &= ink > 0
    # Level runs miss most of it; tilted ones leave at most a few pixels where the shear's
    # rounding and the line's own steps part (specks, which component cleaning drops).
    assert (level[on_line] > 0).mean() > 0.5
    assert (tilted[on_line] > 0).mean() < 0.05
    assert tilted[4 * scale:20 * scale, 60 * scale:63 * scale].min() == 255
    assert tilted[bar].min() == 255


def test_the_sloping_bar_of_a_lone_seven_is_no_tilted_line(monkeypatch):
    """In a tight crop around one 7 its bar spans most of the width at a slope: a tilted
    line must run past two digits' width (TILT_BEYOND), the bar only spans one."""
    from model.reading import steps

    ink = np.zeros((30, 30), np.float32)
    cols = np.arange(2, 28)
    rows = np.rint(3 + (cols - 2) * np.tan(np.radians(6))).astype(int)
    ink[rows, cols] = ink[rows + 1, cols] = 255  # the bar, 6 degrees down
    for r in range(6, 29):  # the stem, down to the left
        c = 26 - round((r - 6) * 0.5)
        ink[r, c:c + 3] = 255
    assert remove_lines(ink, 0.6, line_beyond=1.0, tilt=8)[rows, cols].min() == 255
    monkeypatch.setattr(steps, "TILT_BEYOND", 1.0)
    assert remove_lines(ink, 0.6, line_beyond=1.0, tilt=8)[rows, cols].max() == 0


def test_a_cells_top_and_bottom_lines_do_not_hide_its_border():
    """A border counts only when longer than the rows the number spans (border_beyond):
    the cell's own top and bottom lines are no part of the number, so they must not
    stretch those rows to the whole cell and keep a full-height border."""
    ink = np.zeros((34, 60), np.float32)
    ink[1:3, :] = ink[31:33, :] = 255  # the cell's top and bottom lines
    ink[1:33, 56:58] = 255  # its right border
    ink[8:26, 20:23] = ink[8:26, 30:33] = 255  # "11"
    out = remove_lines(ink, 0.6, border_beyond=1.2)
    assert out[:, 56:58].max() == 0 and out[1:3, 5:50].max() == 0
    assert out[8:26, 20:23].min() == 255 and out[8:26, 30:33].min() == 255


def test_thin_strokes_are_thickened_toward_mnist():
    image = np.zeros((28, 40), np.uint8)
    image[4:24, 10] = 255
    image[4:24, 25] = 255
    assert stroke_width(image) == 2.0  # one pixel wide: every ink pixel touches paper
    thick = normalise_stroke(image, 2.45)
    assert 2.3 <= stroke_width(thick) <= 3.0
    assert thick[4:24, 9:12].min() > 0 and thick[:, 15:21].max() == 0  # grown, not merged


@pytest.mark.parametrize("side", [40, 200])  # a tight crop and a larger scan
def test_the_paper_is_subtracted_and_the_strokes_stay(side):
    rows, cols = np.mgrid[0:side, 0:side * 2]
    paper = 40 + 60 * cols / cols.max()  # uneven light across the page, ink bright
    ink = paper.astype(np.float32).copy()
    ink[side // 4:3 * side // 4, side - 2:side + 2] += 150  # a stroke
    out = remove_background(ink)
    assert out[side // 2, side] > 120  # the stroke stays strong
    assert np.percentile(out, 50) < 15  # the paper, shading and all, is gone


@pytest.mark.parametrize("shape", [(432, 421), (100, 421)])  # sizes whose shrunk copy rounds
def test_even_paper_leaves_no_ink_at_the_corners(shape):
    # Shrinking for the paper's estimate must not drop the last row or column to 0: the
    # filter would spread that over a corner and leave a wedge of false ink there.
    out = remove_background(np.full(shape, 64, np.float32))
    assert out.max() == 0


def test_a_digit_filling_a_large_crop_is_not_taken_for_paper():
    # A 0 photographed large and cropped to its ink: every paper-sized window is mostly
    # stroke, and the median alone subtracts the stroke as paper; capped, it does not.
    rows, cols = np.mgrid[0:120, 0:90]
    ring = np.hypot((rows - 60) / 57.6, (cols - 45) / 43.2)
    ink = np.where((ring > 0.55) & (ring < 1.0), 210.0, 30.0).astype(np.float32)
    stroke = (ring > 0.6) & (ring < 0.95)
    assert remove_background(ink)[stroke].min() == 0
    out = remove_background(ink, capped=True)
    assert out[stroke].min() >= 90 and np.percentile(out[ring > 1.05], 50) == 0


def test_the_ink_split_falls_between_paper_and_ink():
    values = np.concatenate([np.full(300, 20.0), np.full(100, 180.0)])
    assert 20 < ink_split(values) < 180
    assert ink_split(np.full(10, 7.0)) >= 7  # one class: nothing lies above the split


def test_contrast_brings_faint_ink_to_full_strength_and_drops_what_is_below_the_floor():
    ink = np.zeros((10, 10), np.float32)
    ink[2:8, 4] = 40  # faint pencil
    ink[0, 0] = 3  # noise, under 18% of the ink
    out = normalise_contrast(ink, 0.18)
    assert out[4, 4] == pytest.approx(255) and out[0, 0] == 0


def test_the_box_holds_the_ink_and_a_blank_image_has_none():
    ink = np.zeros((20, 30), np.float32)
    ink[5:9, 10:21] = 200
    assert ink_box(ink) == (slice(5, 9), slice(10, 21))
    assert ink_box(np.zeros((5, 5), np.float32)) is None


def test_a_tilted_line_of_digits_is_levelled():
    ink = np.zeros((60, 240), np.float32)
    for x in range(20, 220, 2):  # a baseline rising 10 degrees to the right
        y = int(45 - (x - 20) * np.tan(np.radians(10)))
        ink[y - 3:y + 3, x] = 255
    level = deskew(ink)
    rows = np.flatnonzero(level.max(axis=1) > 128)
    assert rows[-1] - rows[0] < 12  # a level band, not a 35-row slope
    short = ink[:, :100]  # less than twice as wide as high: no baseline to judge
    assert deskew(short) is short


def test_the_ink_band_is_scaled_to_band_height_in_the_models_row():
    ink = np.zeros((100, 60), np.float32)
    ink[20:80, 10:50] = 255  # 60 rows of ink; the middle 80% of its mass spans 48
    out = fit_height(ink, PrepConfig())
    assert out.shape[0] == 28 and out.dtype == np.uint8
    first, last = ink_band(out.astype(np.float32))
    assert 15 <= last - first + 1 <= 17
    assert (out[:, :2] == 0).all() and (out[:, -2:] == 0).all()  # the margin
