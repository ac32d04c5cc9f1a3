"""Edit distance, alignment hits, the evaluate() summary and its table, error kinds."""

import itertools
import random

import pytest

from model.evaluation.metrics import (
    ERROR_KINDS,
    _alignment,
    alignment_hits,
    edit_distance,
    error_kind,
    error_summary,
    evaluate,
    format_table,
)


def _reference_distance(a: str, b: str) -> int:
    """Textbook O(nm) Levenshtein, to check the vectorised one against."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("", "", 0),
        ("", "123", 3),
        ("123", "", 3),
        ("123", "123", 0),
        ("12345", "1245", 1),
        ("111", "11", 1),
        ("1245", "12345", 1),
        ("123", "321", 2),
        ("0000", "1111", 4),
        ("90210", "9021", 1),
        ("31415", "14159", 2),
    ],
)
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d
    assert edit_distance(b, a) == d


def test_edit_distance_matches_reference_implementation():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choices("012", k=rng.randint(0, 8)))
        b = "".join(rng.choices("012", k=rng.randint(0, 8)))
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)


@pytest.mark.parametrize(
    ("ref", "hyp", "hits"),
    [
        ("", "", []),
        ("", "12", []),
        ("123", "123", [True, True, True]),
        ("123", "", [False, False, False]),
        ("123", "193", [True, False, True]),  # substitution
        ("12345", "1245", [True, True, False, True, True]),  # deletion of 3
        ("123", "1293", [True, True, True]),  # insertion
        ("111", "11", [False, True, True]),  # the backtrace deletes the first 1
        # Two substitutions and delete-1/insert-1 both cost 2: substitution wins the tie.
        ("12", "21", [False, False]),
        ("123", "231", [False, True, True]),  # here the deletion path is strictly cheaper
        ("55", "66", [False, False]),
    ],
)
def test_alignment_hits(ref, hyp, hits):
    assert alignment_hits(ref, hyp) == hits


def test_alignment_hits_consistent_with_distance():
    # Unmatched reference characters can never exceed the edit distance.
    for ref, hyp in itertools.product(["", "1", "10", "101", "0110"], repeat=2):
        hits = alignment_hits(ref, hyp)
        assert len(hits) == len(ref)
        assert hits.count(False) <= edit_distance(ref, hyp)


def test_evaluate_hand_made_example():
    refs = ["12", "345", "00", "7"]
    hyps = ["12", "35", "01", ""]
    r = evaluate(refs, hyps)
    assert r["count"] == 4
    assert r["exact"] == pytest.approx(0.25)
    # distances 0 + 1 + 1 + 1 over 2 + 3 + 2 + 1 reference characters
    assert r["cer"] == pytest.approx(3 / 8)
    assert list(r["per_length"]) == ["1", "2", "3"]
    assert r["per_length"] == {
        "1": {"count": 1, "exact": 0.0},
        "2": {"count": 2, "exact": 0.5},
        "3": {"count": 1, "exact": 0.0},
    }
    pd = r["per_digit"]
    assert list(pd) == list("0123456789")
    assert pd["0"] == {"count": 2, "accuracy": 0.5}
    assert pd["1"] == {"count": 1, "accuracy": 1.0}
    assert pd["2"] == {"count": 1, "accuracy": 1.0}
    assert pd["3"] == {"count": 1, "accuracy": 1.0}
    assert pd["4"] == {"count": 1, "accuracy": 0.0}
    assert pd["5"] == {"count": 1, "accuracy": 1.0}
    assert pd["7"] == {"count": 1, "accuracy": 0.0}
    assert pd["9"] == {"count": 0, "accuracy": 0.0}


def test_evaluate_edge_cases():
    empty = evaluate([], [])
    assert (empty["count"], empty["exact"], empty["cer"]) == (0, 0.0, 0.0)
    assert empty["per_length"] == {}
    # Empty references: denominator max(1, 0) = 1, so cer is the inserted count.
    assert evaluate([""], [""])["cer"] == 0.0
    assert evaluate([""], ["12"])["cer"] == 2.0
    assert evaluate(["10"], ["10"])["per_length"] == {"2": {"count": 1, "exact": 1.0}}
    with pytest.raises(ValueError):
        evaluate(["1"], [])


def test_per_length_sorted_numerically():
    r = evaluate(["1234567890", "1", "12"], ["1234567890", "1", "12"])
    assert list(r["per_length"]) == ["1", "2", "10"]


def test_format_table():
    greedy = evaluate(["12", "345", "00", "7"], ["12", "35", "01", ""])
    beam = evaluate(["12", "345", "00", "7"], ["12", "345", "00", "1"])
    text = format_table({"greedy": greedy, "beam": beam})
    lines = text.splitlines()
    assert lines[0].split() == ["greedy", "beam"]
    by_label = {}
    for line in lines[2:]:
        label, cells = line[: line.index("  ")], line.split()[-2:]
        by_label[label.strip()] = cells
    assert by_label["exact accuracy (%)"] == ["25.00", "75.00"]
    assert by_label["CER (%)"] == ["37.50", "12.50"]
    assert by_label["exact, length 1"] == ["0.00", "0.00"]
    assert by_label["exact, length 2"] == ["50.00", "100.00"]
    assert by_label["exact, length 3"] == ["0.00", "100.00"]
    assert by_label["digit 0"] == ["50.00", "100.00"]
    assert by_label["digit 4"] == ["0.00", "100.00"]
    assert by_label["digit 9"] == ["-", "-"]
    assert [k for k in by_label if k.startswith("digit")] == [f"digit {d}" for d in range(10)]
    # Columns are aligned: every row has the same width up to trailing space.
    assert len({len(line) for line in lines}) == 1


def test_alignment_is_an_optimal_edit_script():
    """Each character of both strings appears once, in order, and the script's cost (one
    per gap or unequal pair) is the edit distance."""
    rng = random.Random(1)
    for _ in range(300):
        a = "".join(rng.choices("012", k=rng.randint(0, 7)))
        b = "".join(rng.choices("012", k=rng.randint(0, 7)))
        pairs = _alignment(a, b)
        assert [i for i, _ in pairs if i is not None] == list(range(len(a)))
        assert [j for _, j in pairs if j is not None] == list(range(len(b)))
        cost = sum(i is None or j is None or a[i] != b[j] for i, j in pairs)
        assert cost == edit_distance(a, b), (a, b, pairs)


@pytest.mark.parametrize(
    ("ref", "hyp", "kind"),
    [
        ("123", "123", None),
        ("123", "173", "substituted"),
        ("12", "21", "substituted"),
        ("18658", "8658", "dropped first"),
        ("11", "1", "dropped first"),  # a repeated first digit counts as the first
        ("51907", "5190", "dropped last"),
        ("12345", "1245", "dropped inside"),
        ("12345", "245", "shorter"),  # two digits lost
        ("12345", "1249", "shorter"),  # one lost and one misread
        ("7", "", "shorter"),
        ("123", "1123", "longer"),
        ("", "1", "longer"),
    ],
)
def test_error_kind(ref, hyp, kind):
    assert error_kind(ref, hyp) == kind
    assert kind is None or kind in ERROR_KINDS


def test_error_summary_counts_kinds_and_confusions():
    refs = ["11", "12", "17", "104", "2", "40", "40"]
    hyps = ["71", "12", "77", "04", "8", "60", "60"]
    s = error_summary(refs, hyps, top=3)
    assert s["misread"] == 6
    assert s["kinds"] == {"substituted": 5, "dropped first": 1, "dropped inside": 0,
                          "dropped last": 0, "shorter": 0, "longer": 0}
    # 1>7 twice, 4>6 twice, 2>8 once; ties broken by the digits.
    assert s["confusions"] == [["1", "7", 2], ["4", "6", 2], ["2", "8", 1]]
    # A dropped digit is no confusion; a longer reading's unequal pairs are.
    assert error_summary(["104", "13"], ["04", "183"])["confusions"] == []
    assert error_summary(["13"], ["83"])["confusions"] == [["1", "8", 1]]
    empty = error_summary([], [])
    assert empty["misread"] == 0 and empty["confusions"] == []
    with pytest.raises(ValueError):
        error_summary(["1"], [])
