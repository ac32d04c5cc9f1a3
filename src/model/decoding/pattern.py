"""Parsing the digit-string patterns of a constraint (``--pattern``) into a small AST.

The syntax is the part of regular expressions that digit strings need: digits, ``\\d``,
``.`` (any digit), classes such as ``[0-5]`` or ``[^3]``, groups ``( )`` and ``(?: )``,
``|``, the quantifiers ``? * + {m} {m,} {m,n}`` and optional ``^``/``$`` anchors. Nodes
are tuples: ``("set", mask)`` (a 10-bit digit mask), ``("cat", items)``, ``("alt",
branches)``, ``("rep", node, min, max or None)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from model.vocab import VOCAB

ALL_DIGITS = (1 << len(VOCAB)) - 1  # Digit sets are 10-bit masks: bit d is digit d.
MAX_REPEAT = 1000  # Larger {m,n} counts would build NFAs far beyond any digit string.
MAX_DEPTH = 50  # Nested groups; deeper would only exhaust Python's recursion.


def parse(pattern: str) -> tuple:
    """The AST of ``pattern``.

    Raises:
        ValueError: syntax outside the list above, or counts or nesting beyond the caps.
    """
    return _Parser(pattern).parse()


def mask_of(digits: Iterable[int]) -> int:
    """The digit mask of ``digits``."""
    out = 0
    for d in digits:
        out |= 1 << d
    return out


class _Parser:
    """Recursive-descent parser for the digit-pattern subset of Python's ``re``."""

    def __init__(self, pattern: str):
        if not isinstance(pattern, str):
            raise ValueError(f"pattern must be a string, got {type(pattern).__name__}")
        self.text = pattern
        self.pos = 0
        self.depth = 0

    def fail(self, what: str, pos: int | None = None) -> ValueError:
        at = self.pos if pos is None else pos
        return ValueError(f"pattern {self.text!r}, position {at}: {what}")

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def parse(self) -> tuple:
        end = len(self.text)
        if self.text.startswith("^"):
            self.pos = 1
        if self.text.endswith("$") and not self.text.endswith("\\$") and end > self.pos:
            end -= 1
        self.end = end
        node = self.alternation()
        if self.pos < self.end:
            raise self.fail("unbalanced parenthesis ')'")
        return node

    def alternation(self) -> tuple:
        branches = [self.sequence()]
        while self.peek() == "|" and self.pos < self.end:
            self.pos += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def sequence(self) -> tuple:
        items = []
        while self.pos < self.end and self.peek() not in "|)":
            items.append(self.repeat())
        return items[0] if len(items) == 1 else ("cat", tuple(items))

    def repeat(self) -> tuple:
        node = self.atom()
        quantified = False
        while self.pos < self.end and self.peek() in "?*+{":
            start = self.pos
            if quantified:
                if self.peek() == "?":  # Lazy: the same strings match in full.
                    self.pos += 1
                    if self.pos < self.end and self.peek() in "?*+{":
                        raise self.fail("multiple repeat")
                    break
                if self.peek() == "+":
                    raise self.fail("possessive quantifiers are not supported")
                raise self.fail("multiple repeat")
            lo, hi = self.quantifier()
            if hi is not None and lo > hi:
                raise self.fail(f"min repeat {lo} greater than max repeat {hi}", start)
            if max(lo, hi or 0) > MAX_REPEAT:
                raise self.fail(f"repeat counts above {MAX_REPEAT} are not supported", start)
            node = ("rep", node, lo, hi)
            quantified = True
        return node

    def quantifier(self) -> tuple[int, int | None]:
        c = self.peek()
        self.pos += 1
        if c in "?*+":
            return {"?": (0, 1), "*": (0, None), "+": (1, None)}[c]
        close = self.text.find("}", self.pos, self.end)
        body = self.text[self.pos:close] if close >= 0 else ""
        lo_text, comma, hi_text = body.partition(",")
        numbers = all(s.isascii() and s.isdigit() for s in (lo_text, hi_text) if s)
        if close < 0 or not numbers or not (lo_text or comma):
            raise self.fail("bad repetition: expected {m}, {m,}, {,n} or {m,n}", self.pos - 1)
        self.pos = close + 1
        lo = int(lo_text) if lo_text else 0
        if not comma:
            return lo, lo
        return lo, int(hi_text) if hi_text else None

    def atom(self) -> tuple:
        c = self.peek()
        if c in "0123456789":
            self.pos += 1
            return ("set", 1 << int(c))
        if c == ".":
            self.pos += 1
            return ("set", ALL_DIGITS)
        if c == "\\":
            return ("set", self.escape())
        if c == "[":
            return ("set", self.char_class())
        if c == "(":
            return self.group()
        if c in "?*+{":
            raise self.fail("nothing to repeat")
        if c in "^$":
            raise self.fail("anchors ^ and $ are only supported at the start and end")
        raise self.fail(f"{c!r} is not supported: patterns describe strings of the digits 0-9")

    def escape(self) -> int:
        start = self.pos
        c = self.peek(1)
        self.pos += 2
        if c == "d":
            return ALL_DIGITS
        if c == "":
            raise self.fail("pattern ends with a backslash", start)
        if c in "123456789":
            raise self.fail("backreferences are not supported", start)
        raise self.fail(f"the escape \\{c} is not supported (only \\d)", start)

    def char_class(self) -> int:
        start = self.pos
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        mask = 0
        first = True
        while True:
            c = self.peek()
            if c == "" or self.pos >= self.end and c != "]":
                raise self.fail("unterminated character class", start)
            if c == "]" and not first:
                self.pos += 1
                break
            first = False
            if c == "\\":
                mask |= self.escape()
            elif c in "0123456789":
                self.pos += 1
                if self.peek() == "-" and self.peek(1) not in ("]", ""):
                    hi = self.peek(1)
                    if hi not in "0123456789":
                        raise self.fail(f"bad character range {c}-{hi}", self.pos - 1)
                    if hi < c:
                        raise self.fail(f"bad character range {c}-{hi}", self.pos - 1)
                    self.pos += 2
                    mask |= mask_of(range(int(c), int(hi) + 1))
                else:
                    mask |= 1 << int(c)
            else:
                raise self.fail(
                    f"{c!r} in a character class is not supported: only digits, ranges and \\d"
                )
        return ALL_DIGITS & ~mask if negate else mask

    def group(self) -> tuple:
        start = self.pos
        self.pos += 1
        if self.peek() == "?":
            kind = self.text[self.pos:self.pos + 3]
            if kind.startswith("?:"):
                self.pos += 2
            elif kind.startswith(("?=", "?!", "?<=", "?<!")):
                raise self.fail("lookarounds are not supported", start)
            elif kind.startswith("?P"):
                raise self.fail("named groups are not supported: use ( ) or (?: )", start)
            else:
                raise self.fail(f"the group syntax ({kind}... is not supported", start)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"groups nested over {MAX_DEPTH} deep are not supported", start)
        node = self.alternation()
        self.depth -= 1
        if self.peek() != ")" or self.pos >= self.end:
            raise self.fail("missing ), unterminated group", start)
        self.pos += 1
        return node
