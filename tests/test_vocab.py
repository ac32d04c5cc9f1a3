"""The label convention: blank 0, digit d -> d + 1, zero padding, CTC collapse."""

import numpy as np
import pytest

from model import vocab
from model.vocab import BLANK, NUM_CLASSES, VOCAB, collapse, decode_batch, decode_ids, encode
from tables import COLLAPSE


def test_constants_match_keras_defaults():
    assert (VOCAB, BLANK, NUM_CLASSES) == ("0123456789", 0, 11)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("", []),
        ("0", [1]),
        ("9", [10]),
        ("07", [1, 8]),
        ("007", [1, 1, 8]),
        ("1001", [2, 1, 1, 2]),
        ("0123456789", list(range(1, 11))),
    ],
)
def test_encode_decode_round_trip(text, ids):
    assert encode(text) == ids
    assert decode_ids(ids) == text
    assert decode_batch(np.array([ids + [0, -1]], dtype=np.int32).reshape(1, -1)) == [text]


@pytest.mark.parametrize("bad", ["12a", " 1", "1.0", "-1", "²", "١"])
def test_encode_rejects_non_digits(bad):
    with pytest.raises(ValueError):
        encode(bad)


def test_decode_ids_skips_blank_and_padding():
    assert decode_ids([1, 8, 0, -1]) == "07"
    assert decode_ids(np.array([-1, -1])) == ""
    with pytest.raises(ValueError):
        decode_ids([11])


def test_encode_batch_pads_with_zero():
    out = vocab.encode_batch(["07", "", "123"])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[1, 8, 0], [0, 0, 0], [2, 3, 4]])
    wide = vocab.encode_batch(["5"], max_len=4)
    np.testing.assert_array_equal(wide, [[6, 0, 0, 0]])
    assert vocab.encode_batch([]).shape == (0, 0)
    with pytest.raises(ValueError):
        vocab.encode_batch(["123"], max_len=2)


def test_decode_batch_rows():
    ids = np.array([[1, 8, -1, -1], [0, 0, 0, 0], [2, 0, 2, 10]])
    assert decode_batch(ids) == ["07", "", "119"]
    with pytest.raises(ValueError):
        decode_batch(np.array([[11]]))


def _path(s: str) -> list[int]:
    """Frame path written as a string: '_' is blank, digits are their own class."""
    return [BLANK if c == "_" else encode(c)[0] for c in s]


@pytest.mark.parametrize(("path", "text"), COLLAPSE)
def test_collapse(path, text):
    assert decode_ids(collapse(_path(path))) == text


def test_collapse_literal_ids():
    assert collapse([2, 2, 0, 2]) == [2, 2]
    assert collapse([2, 2, 2]) == [2]
    assert collapse(np.array([0, 3, 3, 0, 0, 3, 4])) == [3, 3, 4]
