"""model.decoding.constraints: Constraint, and the constrained search against brute force."""

import itertools
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import without_tensorflow
from model.decoding import ctc
from model.decoding.constraints import Constraint, constrained_decode
from model.decoding.ctc import Reading
from model.decoding.decode import beam_search_decode
from model.decoding.pattern import parse
from model.vocab import BLANK, NUM_CLASSES, VOCAB, encode
from tables import PATTERN_SYNTAX_ERRORS, digit_strings


def test_a_pattern_syntax_error_reaches_the_caller_unchanged():
    # model.decoding.pattern makes each one a clear one-line error (tests/test_pattern.py).
    for pattern, _ in PATTERN_SYNTAX_ERRORS:
        with pytest.raises(ValueError) as direct:
            parse(pattern)
        with pytest.raises(ValueError) as err:
            Constraint(pattern=pattern)
        assert str(err.value) == str(direct.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pattern": r"[^\d]"},
        {"pattern": r"\d{2}", "length": 3},
        {"min_length": 5, "max_length": 3},
        {"pattern": "2+", "allow": "13"},
        {"pattern": "(00)*", "length": 3},
        {"allow": "", "min_length": 1},
        {"pattern": r"[1-9]\d{2,5}", "max_length": 2},
    ],
)
def test_empty_language_is_a_clear_error(kwargs):
    with pytest.raises(ValueError, match=r"^no string can satisfy the constraint \(.+\)$"):
        Constraint(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"length": 3, "min_length": 2},
        {"length": 3, "max_length": 4},
        {"length": -1},
        {"max_length": 2.5},
        {"allow": "1a"},
        {"pattern": 5},
        {"max_length": 10**6},  # Over the automaton size cap, not a hang.
        {"pattern": r"(\d{1000}){1000}"},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Constraint(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "yes", "no"),
    [
        ({}, ["", "0", "0123456789"], ["a", "1 2"]),
        ({"length": 3}, ["000", "123"], ["", "12", "1234"]),
        ({"min_length": 2}, ["12", "1234567"], ["", "1"]),
        ({"min_length": 1, "max_length": 3}, ["1", "999"], ["", "1234"]),
        ({"allow": "0135"}, ["", "0135531"], ["2", "01352"]),
        ({"allow": {"1", "0"}, "length": 2}, ["10", "01"], ["1", "12"]),
        ({"pattern": r"\d{8}", "allow": "012"}, ["20120101"], ["20121231", "2012010"]),
        ({"pattern": r"[1-9]\d*", "max_length": 3}, ["1", "900"], ["0", "09", "1000"]),
        ({"pattern": r"(19|20)\d\d", "min_length": 4}, ["1999", "2024"], ["2124", "199"]),
    ],
)
def test_accepts(kwargs, yes, no):
    constraint = Constraint(**kwargs)
    assert all(constraint.accepts(t) for t in yes)
    assert not any(constraint.accepts(t) for t in no)


def test_constraint_is_a_value():
    assert Constraint(allow={"1", "0"}) == Constraint(allow="10")
    assert Constraint(allow="10").allow == "01"
    assert hash(Constraint(length=3)) == hash(Constraint(length=3))
    assert Constraint(length=8, pattern=r"\d{8}").describe() == r"length 8, pattern '\\d{8}'"
    assert Constraint().describe() == "any digit string"


# ---------------------------------------------------------------------------
# The search.


def random_constraint(rng: random.Random) -> Constraint:
    """A small random constraint that some string satisfies."""
    while True:
        kwargs = {}
        if rng.random() < 0.6:
            kwargs["pattern"] = rng.choice(
                [r"\d*", r"[1-9]\d{0,2}", r"(19|20)\d", r"1?2?3?", r"(12|3)+", r"[^3]{1,3}",
                 r"(0|1)*1", r"[0-4]+5?", r"\d{3}", r"(7|77)\d"]
            )
        kind = rng.choice(["none", "length", "range"])
        if kind == "length":
            kwargs["length"] = rng.randint(0, 4)
        elif kind == "range":
            kwargs["min_length"] = rng.randint(0, 3)
            kwargs["max_length"] = rng.randint(kwargs["min_length"], 4)
        if rng.random() < 0.4:
            kwargs["allow"] = rng.sample(VOCAB, rng.randint(1, 9))
        try:
            return Constraint(**kwargs)
        except ValueError:
            continue


def satisfies(constraint: Constraint, text: str) -> bool:
    """The constraint checked without its automaton."""
    lo = constraint.length if constraint.length is not None else constraint.min_length or 0
    hi = constraint.length if constraint.length is not None else constraint.max_length
    return (
        len(text) >= lo
        and (hi is None or len(text) <= hi)
        and (constraint.allow is None or set(text) <= set(constraint.allow))
        and (constraint.pattern is None or re.fullmatch(constraint.pattern, text) is not None)
    )


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 12),
       beam_width=st.sampled_from([1, 3, 8]), scale=st.sampled_from([1.0, 3.0, 8.0]))
def test_results_satisfy_the_constraint(seed, steps, beam_width, scale):
    rng = np.random.default_rng(seed)
    constraint = random_constraint(random.Random(seed))
    logits = rng.normal(size=(2, steps, NUM_CLASSES)) * scale
    top_k = min(3, beam_width)
    rows = constrained_decode(logits, constraint, beam_width=beam_width, top_k=top_k)
    for row, lp in zip(rows, ctc.log_softmax(logits), strict=True):
        assert len(row) <= top_k
        if constraint.automaton.distance[constraint.automaton.start] > steps:
            assert row == []  # Too few frames for the digits the constraint needs.
        texts = [r.text for r in row]
        assert all(satisfies(constraint, t) for t in texts), (constraint, texts)
        assert len(set(texts)) == len(texts)
        scores = [r.score for r in row]
        assert scores == sorted(scores, reverse=True)
        # A beam score sums only the alignments the beam kept: never above the exact value.
        assert all(r.score <= ctc.sequence_log_prob(lp, r.text) + 1e-9 for r in row)


def brute_force(log_probs: np.ndarray, constraint: Constraint, top_k: int) -> list[Reading]:
    """The top_k valid strings by exact probability, over every string up to T digits."""
    scored = [
        Reading(text, ctc.sequence_log_prob(log_probs, text))
        for n in range(log_probs.shape[0] + 1)
        for text in digit_strings(n)[1]
        if satisfies(constraint, text)
    ]
    scored = [r for r in scored if np.isfinite(r.score)]
    return sorted(scored, key=lambda r: -r.score)[:top_k]


def test_generous_beam_equals_brute_force():
    pyrng = random.Random(0)
    for seed in range(30):
        rng = np.random.default_rng(seed)
        steps = int(rng.integers(1, 5))
        constraint = random_constraint(pyrng)
        log_probs = ctc.log_softmax(rng.normal(size=(steps, NUM_CLASSES)) * 3)
        expected = brute_force(log_probs, constraint, 3)
        # 11**T exceeds the number of prefixes of at most T digits: nothing is pruned.
        (found,) = constrained_decode(log_probs[None], constraint, beam_width=11**steps, top_k=3)
        assert [r.text for r in found] == [r.text for r in expected], (seed, constraint)
        np.testing.assert_allclose([r.score for r in found], [r.score for r in expected],
                                   atol=1e-9)


def test_constrained_is_not_a_filter_over_unconstrained_top_k():
    # The frames spell "1_2_3_" clearly; a four-digit string is far less likely
    # than the three-digit readings, so none is in the unconstrained top 5.
    logits = np.zeros((1, 6, NUM_CLASSES))
    for t, c in enumerate("1_2_3_"):
        logits[0, t, BLANK if c == "_" else encode(c)[0]] = 5.0
    constraint = Constraint(length=4, allow="0123")
    unconstrained = beam_search_decode(logits, beam_width=5, top_paths=5)[0]
    assert not [r for r in unconstrained if constraint.accepts(r.text)]
    (found,) = constrained_decode(logits, constraint, beam_width=5, top_k=2)
    log_probs = ctc.log_softmax(logits[0])
    valid = ["".join(p) for p in itertools.product("0123", repeat=4)]
    expected = sorted(valid, key=lambda t: -ctc.sequence_log_prob(log_probs, t))[:2]
    assert [r.text for r in found] == expected


def test_no_surviving_string_is_an_empty_result():
    logits = np.zeros((3, 3, NUM_CLASSES))
    logits[:, :, encode("1")[0]] = 5.0
    # Five digits cannot fit in three frames; "11" needs a blank between its ones,
    # so two frames cannot hold it; and a zero-length row reads only "".
    assert constrained_decode(logits, Constraint(length=5)) == [[], [], []]
    assert constrained_decode(logits[:, :2], Constraint(pattern="11")) == [[], [], []]
    rows = constrained_decode(logits, Constraint(min_length=1), lengths=[0, 1, 3])
    assert rows[0] == [] and [r.text for r in rows[1] + rows[2]] == ["1", "1"]
    assert constrained_decode(logits, Constraint(), lengths=[0, 0, 0]) == [[Reading("", 0.0)]] * 3


@pytest.mark.parametrize("kwargs", [{"beam_width": 0}, {"top_k": 0}, {"top_k": 11},
                                    {"lengths": [1, 2]}])
def test_bad_search_arguments(kwargs):
    with pytest.raises(ValueError):
        constrained_decode(np.zeros((1, 3, NUM_CLASSES)), Constraint(length=1), **kwargs)


def test_imports_no_tensorflow():
    without_tensorflow("import model.decoding.constraints")
