"""Tables that more than one test module runs through its own code, kept in one place."""

import functools
import itertools

import numpy as np

from model.vocab import VOCAB

# CTC collapse: a frame path ('_' is the blank, a digit its own class) and the string it
# reads. Repeats merge unless a blank separates them; blanks drop out.
COLLAPSE = [
    ("1_1", "11"),
    ("11_1", "11"),  # the blank keeps the repeat
    ("11", "1"),  # no blank between the repeats: they merge
    ("111", "1"),
    ("10_0", "100"),
    ("1_00_0", "100"),
    ("1_0_0_1", "1001"),
    ("110__0011", "1001"),
    ("_110__0011_", "1001"),
    ("__1_0_0_1__", "1001"),
    ("_1001_", "101"),  # the 00 without a blank merges
    ("___1001___", "101"),
    ("0", "0"),
    ("7", "7"),
    ("____", ""),
    ("", ""),
]

# Arguments model.decoding.decode refuses (ValueError) for logits of 2 rows of 3 frames.
BAD_DECODE_ARGS = [
    {"method": "beam_search"},
    {"method": "Greedy"},
    {"method": "beam", "beam_width": 0},
    {"method": "beam", "beam_width": 3, "top_paths": 4},
    {"method": "beam", "top_paths": 0},
    {"method": "greedy", "top_paths": 2},
    {"lengths": [3]},  # one length for two rows
    {"lengths": [3, 4]},  # longer than the 3 frames
    {"lengths": [4, 1]},
    {"lengths": [-1, 1]},
]

# Patterns outside the digit-string syntax (model.decoding.pattern) and a piece of the
# one-line error each must raise.
PATTERN_SYNTAX_ERRORS = [
    ("a", "'a' is not supported"),
    (r"\w", r"\w is not supported"),
    (r"\D", r"\D is not supported"),
    (r"\.", r"\. is not supported"),
    (r"(1)\1", "backreferences"),
    ("(?=1)1", "lookarounds"),
    ("(?<!1)2", "lookarounds"),
    ("(?P<year>1)", "named groups"),
    ("(?i)1", "group syntax"),
    ("1**", "multiple repeat"),
    ("1{2}{3}", "multiple repeat"),
    ("1*+", "possessive"),
    ("*1", "nothing to repeat"),
    ("1|+", "nothing to repeat"),
    ("1{3,2}", "min repeat 3 greater than max repeat 2"),
    ("1{ 2}", "bad repetition"),
    ("1{2", "bad repetition"),
    ("1{2000}", "above 1000"),
    ("[a1]", "'a' in a character class"),
    ("[1-]", "'-' in a character class"),
    ("[5-3]", "bad character range 5-3"),
    ("[12", "unterminated character class"),
    ("(1", "missing )"),
    ("1)", "unbalanced parenthesis"),
    ("1|^2", "anchors"),
    ("1$2", "anchors"),
    ("1 2", "' ' is not supported"),
    ("\\", "backslash"),
    ("(" * 60 + "1" + ")" * 60, "nested"),
]


@functools.cache
def digit_strings(length: int) -> tuple[np.ndarray, list[str]]:
    """Every digit string of one length: as a (10**length, length) array and as text."""
    digits = np.array(list(itertools.product(range(10), repeat=length)), dtype=np.int64)
    digits = digits.reshape(10**length, length)
    return digits, ["".join(VOCAB[d] for d in row) for row in digits.tolist()]
