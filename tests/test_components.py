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
