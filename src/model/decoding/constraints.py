"""Constrained CTC decoding: read only digit strings a caller says are possible.

A :class:`Constraint` combines an exact ``length`` or a ``min_length`` /
``max_length`` range, a ``pattern`` (a regular expression over digit strings,
always matched in full, e.g. ``\\d{8}``, ``[1-9]\\d{2,5}``, ``(19|20)\\d\\d``) and
the ``allow``-ed digits. It compiles them into one deterministic automaton:

(:mod:`model.decoding.automaton`); if no string satisfies the constraint, a
``ValueError`` says so.

:func:`constrained_decode` then runs the CTC prefix beam search of
:mod:`model.decoding.ctc` with that automaton, so only prefixes that can still become an
accepted string compete for the beam, and the best accepted strings come back.
Numpy only, like :mod:`model.decoding.ctc`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from model.decoding.automaton import Automaton, compile_automaton
from model.decoding.ctc import Reading, check_beam_args, check_inputs, prefix_beam_search
from model.vocab import VOCAB


@dataclass(frozen=True)
class Constraint:
    """What the digit string must look like; compiled and checked when built.

    Attributes:
        length: Exact number of digits (not with ``min_length``/``max_length``).
        min_length: At least this many digits.
        max_length: At most this many digits.
        pattern: A regular expression the whole string must match: digits,
            ``\\d``, ``.`` (any digit), classes such as ``[0-5]`` or ``[^3]``,
            groups ``( )`` and ``(?: )``, ``|``, the quantifiers
            ``? * + {m} {m,} {m,n}`` and optional ``^``/``$`` anchors.
        allow: The digits that may appear, e.g. ``"0135"`` (any iterable of
            digit characters; stored as a sorted string).
        automaton: The compiled :class:`Automaton` (not an argument).

    Raises:
        ValueError: On negative or conflicting lengths, a non-digit in
            ``allow``, pattern syntax outside the list above, or a constraint
            that no string satisfies (one line saying which).
    """

    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    allow: str | Iterable[str] | None = None
    automaton: Automaton = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("length", "min_length", "max_length"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.length is not None and (self.min_length, self.max_length) != (None, None):
            raise ValueError("give length, or min_length/max_length, not both")
        if self.allow is not None:
            allow = set(self.allow)
            if not allow <= set(VOCAB):
                raise ValueError(f"allow must hold only the digits 0-9, got {self.allow!r}")
            object.__setattr__(self, "allow", "".join(sorted(allow)))
        lo = self.length if self.length is not None else self.min_length or 0
        hi = self.length if self.length is not None else self.max_length
        automaton = compile_automaton(self.pattern, lo, hi, self.allow)
        if automaton is None:
            raise ValueError(f"no string can satisfy the constraint ({self.describe()})")
        object.__setattr__(self, "automaton", automaton)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` satisfies the constraint."""
        return self.automaton.accepts(text)

    def describe(self) -> str:
        """The constraint in words, e.g. ``length 8, pattern '\\d{8}'``."""
        parts = []
        if self.length is not None:
            parts.append(f"length {self.length}")
        if self.min_length is not None:
            parts.append(f"min_length {self.min_length}")
        if self.max_length is not None:
            parts.append(f"max_length {self.max_length}")
        if self.pattern is not None:
            parts.append(f"pattern {self.pattern!r}")
        if self.allow is not None:
            parts.append(f"allow {self.allow!r}")
        return ", ".join(parts) or "any digit string"


def constrained_decode(
    logits: Any,
    constraint: Constraint,
    lengths: Any = None,
    beam_width: int = 10,
    top_k: int = 1,
) -> list[list[Reading]]:
    """CTC prefix beam search that returns only strings satisfying ``constraint``.

    Prefixes that can no longer become an accepted string (by the automaton,
    or because too few frames are left for the digits they still need) are
    never kept, so the beam holds only viable candidates.

    Args:
        logits: ``(batch, T, 11)`` raw model outputs (not probabilities).
        constraint: The :class:`Constraint` to satisfy.
        lengths: ``(batch,)`` valid frames per row, each in ``[0, T]``; defaults to T.
        beam_width: Prefixes kept per frame, ``>= 1``.
        top_k: Readings per row, ``1 <= top_k <= beam_width``.

    Returns:
        Per row, up to ``top_k`` accepted readings, best first, with
        log-probability scores; an empty list where no accepted string
        survived the beam (the caller reports it).

    Raises:
        ValueError: On bad logits, lengths, beam_width or top_k.
    """
    check_beam_args(beam_width, top_k)
    log_probs, seq_len = check_inputs(logits, lengths)
    return [
        prefix_beam_search(lp[:n], beam_width, top_k, automaton=constraint.automaton)
        for lp, n in zip(log_probs, seq_len.tolist(), strict=True)
    ]
