"""digits.cli: the parser every command uses, and the one range check for numeric flags."""

import argparse
import math

import pytest

from digits.cli import Parser, describe_range, number


@pytest.mark.parametrize("kind,low,high,text,value", [
    (int, 1, 64, "1", 1), (int, 1, 64, "64", 64), (float, 0, 1, "0.5", 0.5),
    (float, 0, 1, "1e-3", 0.001), (int, 0, None, "99999999999", 99999999999),
])
def test_values_in_range_are_read(kind, low, high, text, value):
    assert number(kind, low, high)(text) == value


def test_minus_zero_is_zero():
    # numpy's samplers read uniform(0.0, -0.0) as an empty range and raise.
    assert math.copysign(1, number(float, 0, 1)("-0")) == 1


@pytest.mark.parametrize("kind,text,message", [
    (int, "65", "65 is out of range: from 1 to 64"), (int, "0", "0 is out of range"),
    (int, "1.5", "expected a whole number"), (int, "", "expected a whole number"),
    (float, "nan", "expected a finite number"), (float, "inf", "expected a finite number"),
    (float, "1e309", "expected a finite number"), (float, "x", "expected a number"),
    (int, "99999999999999999999", "99999999999999999999 is out of range"),
])
def test_values_outside_are_one_line_usage_errors(kind, text, message, capsys):
    p = Parser(prog="cmd")
    p.add_argument("--n", type=number(kind, 1, 64))
    with pytest.raises(SystemExit) as stopped:
        p.parse_args(["--n", text])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument --n: {message}" in err


def test_ranges_read_as_words():
    assert describe_range(1, 10_000) == "from 1 to 10,000"
    assert describe_range(0.01, None) == "at least 0.01"
    assert describe_range(None, 9) == "at most 9"
    with pytest.raises(argparse.ArgumentTypeError, match="at least 0"):
        number(int, 0)("-1")
