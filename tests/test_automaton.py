"""model.decoding.automaton: a compiled pattern accepts what re.fullmatch accepts, trimmed."""

import re

import numpy as np
import pytest

from model.decoding.automaton import Automaton, compile_automaton
from model.vocab import VOCAB
from tables import digit_strings

PATTERNS = [
    r"\d{8}",
    r"[1-9]\d{2,5}",
    r"(19|20)\d\d",
    r"^0[1-9]$",
    r"\d*",
    r"1?2?3?",
    r"(12|3)+",
    r"[^3]{2}",
    r"(?:0|1)*1",
    r"\d{,3}",
    r"\d{2,}",
    r"(1|)+2",
    r"",
    r"()1{0}",
    r"(0*1*)*2",
    r"[0-35-7]\d?",
    r".{3}5",
    r"(1(2(3)?)?)?",
    r"((0|1){2}|9)*",
    r"1*?2+?3??",
    r"[\d][^0]",
    r"0|1|2{2,3}|(34)*",
]


def automaton_accepts(auto: Automaton, digits: np.ndarray) -> np.ndarray:
    """Runs the automaton on many strings at once (-1 stays -1 through a sink row)."""
    table = np.vstack([auto.transitions, np.full((1, len(VOCAB)), -1)])
    state = np.full(len(digits), auto.start)
    for column in digits.T:
        state = table[state, column]
    return (state >= 0) & auto.accepting[state]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_matches_like_re_fullmatch(pattern):
    auto = compile_automaton(pattern)
    full = re.compile(pattern).fullmatch
    for length in range(6):
        digits, texts = digit_strings(length)
        expected = np.array([full(t) is not None for t in texts])
        np.testing.assert_array_equal(automaton_accepts(auto, digits), expected)


@pytest.mark.parametrize(("pattern", "min_length", "max_length", "allow"), [
    (None, 0, None, None),
    (None, 4, 4, None),
    (r"[1-9]\d{2,5}", 0, None, None),
    ("(12|3)+", 0, 6, "123"),
])
def test_automaton_is_trimmed(pattern, min_length, max_length, allow):
    auto = compile_automaton(pattern, min_length, max_length, allow)
    # Every state leads on to acceptance; distance 0 exactly at accepting states;
    # and each step to a successor shortens the distance by at most one.
    assert (auto.distance >= 0).all()
    np.testing.assert_array_equal(auto.distance == 0, auto.accepting)
    rows, digits = np.nonzero(auto.transitions >= 0)
    assert (auto.distance[rows] <= auto.distance[auto.transitions[rows, digits]] + 1).all()
    shortest = next(n for n in range(7) if any(map(auto.accepts, digit_strings(n)[1])))
    assert auto.distance[auto.start] == shortest
