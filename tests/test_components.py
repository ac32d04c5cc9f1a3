"""model.reading.components: the number's strokes stay, everything else goes."""

import numpy as np

from model.reading.components import clean_components


def number(h=60, w=160):
    """Ink (bright) of three upright digit-like strokes in the middle of a larger scan."""
    ink = np.zeros((h, w), np.float32)
    for x in (50, 75, 100):
        ink[15:45, x:x + 4] = 255
    ink[15:19, 75:95] = 255  # a crossbar: one digit has more ink
    return ink


def kept(out, box):
    return out[box].max() == 255


def test_the_digits_stay_and_specks_go():
    ink = number()
    ink[5, 5] = ink[50, 140] = 255  # dust
    out = clean_components(ink, 0.06)
    assert kept(out, np.s_[15:45, 50:54]) and kept(out, np.s_[15:45, 100:104])
    assert out[5, 5] == 0 and out[50, 140] == 0


def test_an_underline_and_a_line_of_text_above_go():
    ink = number()
    ink[50:52, 45:110] = 255  # an underline below the number
    ink[2:6, 120:150] = 255  # a word printed in the top corner, outside the number's band
    out = clean_components(ink, 0.06)
    assert out[51, 80] == 0 and out[4, 130] == 0
    assert kept(out, np.s_[15:45, 75:79])


def test_a_scan_edge_touching_the_border_goes():
    ink = number()
    ink[:, 0:3] = 255  # a dark scan margin down the left edge
    out = clean_components(ink, 0.06)
    assert out[:, 0:3].max() == 0 and kept(out, np.s_[15:45, 50:54])


def test_an_image_without_ink_comes_back_as_it_is():
    ink = np.zeros((30, 30), np.float32)
    assert clean_components(ink, 0.06) is ink


def ring(h=60, w=50, inner=0.6):
    """A digit 0 (an elliptic ring) filling an (h, w) image."""
    yy, xx = np.mgrid[:h, :w]
    r = ((yy - h / 2) / (0.45 * h)) ** 2 + ((xx - w / 2) / (0.4 * w)) ** 2
    return ((r <= 1) & (r >= inner)).astype(np.float32) * 255


def test_a_frame_around_one_digit_goes_and_a_zero_stays():
    """A box drawn around a "1" (its sides no longer than the digit is high, so no line)
    goes with frames on and stays without; a 0 around a speck is no frame."""
    ink = np.zeros((60, 50), np.float32)
    ink[5:55, 5:8] = ink[5:55, 42:45] = ink[5:8, 5:45] = ink[52:55, 5:45] = 255
    ink[15:45, 22:27] = 255
    out = clean_components(ink, 0.06, edge_digits=True, merged=True, spanning=True,
                           frames=True)
    assert out[30, 6] == 0 and out[6, 25] == 0 and kept(out, np.s_[15:45, 22:27])
    kept_frame = clean_components(ink, 0.06, edge_digits=True, merged=True, spanning=True)
    assert kept_frame[30, 6] == 255
    zero = ring()
    zero[29:32, 24:27] = 255
    out = clean_components(zero, 0.01, frames=True)
    assert np.array_equal(out > 64, zero > 64)
    # A frame around two digits, with a gap on one side (a broken line) still goes.
    ink = np.zeros((60, 90), np.float32)
    ink[5:55, 5:8] = ink[5:55, 82:85] = ink[5:8, 5:85] = ink[52:55, 5:85] = 255
    ink[52:55, 40:44] = 0
    ink[15:45, 25:29] = ink[15:45, 55:60] = 255
    out = clean_components(ink, 0.06, frames=True)
    assert out[30, 6] == 0 and kept(out, np.s_[15:45, 25:29]) and kept(out, np.s_[15:45, 55:60])


def cell(xs=(18, 30), h=34, w=60):
    """Ink of a logbook cell's number: 1s as slanted strokes, as a hand writes them."""
    ink = np.zeros((h, w), np.float32)
    for x in xs:
        for y in range(8, 27):
            ink[y, x + (26 - y) // 6:x + (26 - y) // 6 + 3] = 255
    return ink


def test_a_cells_corner_at_the_edge_goes_and_digits_at_the_edge_stay():
    """What line removal leaves of a cell's border and bottom line (a straight side and its
    arm) goes with corners on and stays without; a straight "1" and a slanted "7" ending a
    tight crop are digits."""
    ink = cell()
    ink[4:32, 56:58] = 255  # the border's remnant, straight down the right edge
    ink[29:32, 46:58] = 255  # and its arm along the bottom
    assert kept(clean_components(ink, 0.06, edge_digits=True), np.s_[4:32, 56:58])
    out = clean_components(ink, 0.06, edge_digits=True, corners=True)
    assert out[4:32, 46:58].max() == 0 and kept(out, np.s_[8:27, 18:25])
    one = cell((30, 42))
    one[8:27, 53:56] = 255  # a straight "1" ending the number at the right edge
    assert kept(clean_components(one, 0.06, edge_digits=True, corners=True), np.s_[8:27, 53:56])
    seven = cell((26, 36))
    seven[8:11, 46:58] = 255  # a 7's bar along the top
    for y in range(11, 27):  # and its stem slanting down to the left
        seven[y, 56 - (y - 11) // 2:58 - (y - 11) // 2] = 255
    out = clean_components(seven, 0.06, edge_digits=True, corners=True)
    assert kept(out, np.s_[8:11, 46:58]) and kept(out, np.s_[20:27, 46:56])


def faint_zero(ink, x, top=15, bottom=45, width=14):
    """A faint 0 (a ring at ink level 40, under the mask) at column ``x``, rising over the
    mask only in three specks of 2 x 2 pixels: a light pen stroke."""
    h = bottom - top
    yy, xx = np.mgrid[:h, :width]
    r = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - width / 2) / (width / 2)) ** 2
    ink[top:bottom, x:x + width][(r <= 1) & (r >= 0.55)] = 40
    for y in (top + 1, top + h // 2, bottom - 3):
        ink[y:y + 2, x + width // 2 - 1 if y != top + h // 2 else x:][:, :2] = 80
    return ink


def test_a_faint_digit_broken_into_specks_stays_and_faint_dust_and_borders_go():
    """With ``faint``, a faint digit beside the number, which the mask sees only as specks,
    joins it; a faint speck of dust and a faint border's remnant at the edge do not."""
    ink = faint_zero(number(), 112)
    ring_pixels = ink == 40
    assert clean_components(ink, 0.06, edge_digits=True)[ring_pixels].max() == 0
    out = clean_components(ink, 0.06, edge_digits=True, faint=0.25)
    assert (out[ring_pixels] == 40).all() and kept(out, np.s_[15:45, 50:54])
    dust = number()
    dust[30:35, 112:117] = 40  # a faint smudge, a tenth of the digits' height
    dust[32, 114] = 80
    assert clean_components(dust, 0.06, edge_digits=True, faint=0.25)[30:35, 112:117].max() == 0
    border = number(w=116)
    border[15:45, 113:115] = 40  # a faint cell border at the right edge, the number's height
    border[17:19, 113:115] = border[40:42, 113:115] = 80
    out = clean_components(border, 0.06, edge_digits=True, faint=0.25)
    assert out[15:45, 113:115].max() == 0 and kept(out, np.s_[15:45, 100:104])


def test_a_faint_shape_never_sets_the_number():
    """A faint shape with more ink than the number, far from it, does not take its place:
    faint components only join a number found without them."""
    ink = np.zeros((60, 200), np.float32)
    ink[15:45, 30:34] = 255  # a "1"
    faint_zero(ink, 120, width=40)
    out = clean_components(ink, 0.06, edge_digits=True, faint=0.25)
    assert kept(out, np.s_[15:45, 30:34]) and out[15:45, 120:160].max() == 0


def test_bold_digits_filling_a_tight_crop_stay_and_a_solid_blob_goes():
    """Two bold touching digits that fill a small crop and touch its edges cover more than
    EDGE_BLOB of it, as a shadow would, but are no solid blob: they stay. A solid dark
    corner of the same size still goes."""
    ink = np.zeros((24, 44), np.float32)
    ink[4:20, 2:8] = 255  # a "1", clear of the edges
    yy, xx = np.mgrid[:24, :16]
    r = ((yy - 11.5) / 12) ** 2 + ((xx - 7.5) / 8) ** 2
    zero = ((r <= 1) & (r >= 0.2)).astype(np.float32) * 255  # a bold 0 as high as the crop
    ink[:, 14:30] = np.maximum(ink[:, 14:30], zero)
    ink[:, 28:44] = np.maximum(ink[:, 28:44], zero)  # and another touching it
    assert (ink[:, 14:] > 64).sum() > 0.25 * ink.size
    out = clean_components(ink, 0.06, edge_digits=True, merged=True, spanning=True)
    assert kept(out, np.s_[:, 14:30]) and kept(out, np.s_[:, 28:44])
    shadow = np.zeros((24, 44), np.float32)
    shadow[4:20, 2:8] = 255
    shadow[:, 28:44] = 255  # a solid block at the right edge: the next cell's dark
    shadow[:, 22:28] = 255
    out = clean_components(shadow, 0.06, edge_digits=True, merged=True, spanning=True)
    assert out[:, 22:].max() == 0 and kept(out, np.s_[4:20, 2:8])
