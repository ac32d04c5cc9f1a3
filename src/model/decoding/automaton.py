"""Compiling a digit-string constraint into a trimmed deterministic automaton.

1. the pattern is parsed by a small parser of the regex syntax digit strings
   need, built into a Thompson NFA and made deterministic by subset
   construction;
2. the product with a digit counter enforces the lengths, and the allowed
   digits prune its transitions;
3. states that cannot reach acceptance are removed, so every transition left
   leads on to some accepted string.

Every size is capped (MAX_STATES here, MAX_REPEAT and MAX_DEPTH in
:mod:`model.decoding.pattern`), so that no pattern can make compiling hang. Numpy only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from model.decoding.pattern import ALL_DIGITS, mask_of, parse
from model.vocab import VOCAB

# Cap on NFA, DFA and product sizes: a digit-string pattern needs a few hundred states at
# most, and subset construction of a pattern that asks for more (".*1.{16}": 2^17 states)
# stops within a fraction of a second.
MAX_STATES = 5_000


@dataclass(frozen=True)
class Automaton:
    """A trimmed deterministic automaton over the digits.

    Every state lies on a path from the start to acceptance, so a prefix that
    reaches a state can always be completed into an accepted string.

    Attributes:
        start: The start state.
        transitions: int64 ``(S, 10)``: the state after digit ``d``, or -1.
        accepting: bool ``(S,)``: whether a string ending in the state is accepted.
        distance: int64 ``(S,)``: the fewest digits from the state to acceptance.
    """

    start: int
    transitions: np.ndarray
    accepting: np.ndarray
    distance: np.ndarray

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is accepted (False for any non-digit character)."""
        state = self.start
        for c in text:
            d = VOCAB.find(c)
            if d < 0:
                return False
            state = int(self.transitions[state, d])
            if state < 0:
                return False
        return bool(self.accepting[state])


def compile_automaton(pattern: str | None, min_length: int = 0, max_length: int | None = None,
                      allow: str | None = None) -> Automaton | None:
    """The automaton of the digit strings that match ``pattern`` in full, have between
    ``min_length`` and ``max_length`` digits and use only the ``allow``-ed digits; None
    when no string does.

    Raises:
        ValueError: pattern syntax outside what :class:`model.decoding.constraints.Constraint`
            lists, or a pattern too large to compile.
    """
    if pattern is None:
        dfa = ([[0] * len(VOCAB)], [True])
    else:
        dfa = _determinise(*_build_nfa(parse(pattern)))
    mask = ALL_DIGITS if allow is None else mask_of(int(c) for c in allow)
    return _trim(*_product(dfa, min_length, max_length, mask))


# ---------------------------------------------------------------------------
# AST -> Thompson NFA -> DFA.


def _build_nfa(ast: tuple) -> tuple[list[list[int]], list[list[tuple[int, int]]], int, int]:
    """Thompson construction: one start and one accepting state per fragment.

    Returns:
        ``(eps, edges, start, accept)``: per state its epsilon successors and
        its ``(digit_mask, successor)`` edges.
    """
    eps: list[list[int]] = []
    edges: list[list[tuple[int, int]]] = []

    def new() -> int:
        if len(eps) >= MAX_STATES:
            raise ValueError(f"pattern too large: over {MAX_STATES} automaton states")
        eps.append([])
        edges.append([])
        return len(eps) - 1

    def build(node: tuple) -> tuple[int, int]:
        kind = node[0]
        if kind == "set":
            s, e = new(), new()
            if node[1]:
                edges[s].append((node[1], e))
            return s, e
        if kind == "cat":
            s = e = new()
            for item in node[1]:
                a, b = build(item)
                eps[e].append(a)
                e = b
            return s, e
        if kind == "alt":
            s, e = new(), new()
            for branch in node[1]:
                a, b = build(branch)
                eps[s].append(a)
                eps[b].append(e)
            return s, e
        _, body, lo, hi = node
        s = e = new()
        for _ in range(lo):
            a, b = build(body)
            eps[e].append(a)
            e = b
        if hi is None:  # Kleene star on one more copy.
            a, b = build(body)
            end = new()
            eps[e] += [a, end]
            eps[b] += [a, end]
            return s, end
        end = new()
        for _ in range(hi - lo):  # Optional copies, each may stop the repetition.
            a, b = build(body)
            eps[e] += [a, end]
            e = b
        eps[e].append(end)
        return s, end

    if _nfa_size(ast) > MAX_STATES:
        raise ValueError(f"pattern too large: over {MAX_STATES} automaton states")
    start, accept = build(ast)
    return eps, edges, start, accept


def _nfa_size(node: tuple) -> int:
    """How many states :func:`_build_nfa` makes for ``node`` (checked before building)."""
    kind = node[0]
    if kind == "set":
        return 2
    if kind in ("cat", "alt"):
        return 2 + sum(_nfa_size(item) for item in node[1])
    _, body, lo, hi = node
    return 2 + _nfa_size(body) * (lo + 1 if hi is None else hi)


def _determinise(
    eps: list[list[int]], edges: list[list[tuple[int, int]]], start: int, accept: int
) -> tuple[list[list[int]], list[bool]]:
    """Subset construction. Returns ``(transitions, accepting)``, -1 for no state."""

    def closure(states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        todo = list(seen)
        while todo:
            for t in eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    first = closure([start])
    ids = {first: 0}
    order = [first]
    transitions: list[list[int]] = []
    for current in order:  # Grows while it is walked.
        row = []
        for d in range(len(VOCAB)):
            bit = 1 << d
            target = closure(t for s in current for mask, t in edges[s] if mask & bit)
            if not target:
                row.append(-1)
                continue
            if target not in ids:
                if len(order) >= MAX_STATES:
                    raise ValueError(f"pattern too large: over {MAX_STATES} automaton states")
                ids[target] = len(order)
                order.append(target)
            row.append(ids[target])
        transitions.append(row)
    return transitions, [accept in s for s in order]


# ---------------------------------------------------------------------------
# Product with the length counter and the allowed digits; trimming.


def _product(
    dfa: tuple[list[list[int]], list[bool]], lo: int, hi: int | None, mask: int
) -> tuple[list[list[int]], list[bool]]:
    """The DFA times a digit counter: lengths in ``[lo, hi]``, digits in ``mask``.

    The counter runs to ``hi``; without an upper bound it saturates at ``lo``,
    where all that matters is that the string is long enough.
    """
    transitions, accepting = dfa
    cap = lo if hi is None else hi
    if cap >= MAX_STATES:
        raise ValueError(f"constraint too large: lengths up to {cap} digits")
    ids = {(0, 0): 0}
    order = [(0, 0)]
    rows: list[list[int]] = []
    for q, n in order:
        row = []
        m = n + 1 if hi is not None else min(n + 1, cap)
        for d in range(len(VOCAB)):
            r = transitions[q][d]
            if r < 0 or not mask >> d & 1 or m > cap:
                row.append(-1)
                continue
            if (r, m) not in ids:
                if len(order) >= MAX_STATES:
                    raise ValueError(
                        f"constraint too large: over {MAX_STATES} automaton states"
                    )
                ids[(r, m)] = len(order)
                order.append((r, m))
            row.append(ids[(r, m)])
        rows.append(row)
    return rows, [accepting[q] and n >= lo for q, n in order]


def _trim(transitions: list[list[int]], accepting: list[bool]) -> Automaton | None:
    """Keeps the states that can reach acceptance; None when the start cannot.

    Every state here is reachable from the start (``_product`` builds only
    those), so what is left lies on a path to acceptance.
    """
    size = len(transitions)
    incoming: list[list[int]] = [[] for _ in range(size)]
    for s, row in enumerate(transitions):
        for t in row:
            if t >= 0:
                incoming[t].append(s)
    # Breadth-first from the accepting states backwards: distances in digits.
    distance = [-1] * size
    queue = deque(s for s in range(size) if accepting[s])
    for s in queue:
        distance[s] = 0
    while queue:
        s = queue.popleft()
        for p in incoming[s]:
            if distance[p] < 0:
                distance[p] = distance[s] + 1
                queue.append(p)
    if distance[0] < 0:
        return None
    keep = [s for s in range(size) if distance[s] >= 0]
    new_id = {s: i for i, s in enumerate(keep)}
    table = np.array(
        [[new_id.get(t, -1) for t in transitions[s]] for s in keep], dtype=np.int64
    ).reshape(len(keep), len(VOCAB))
    return Automaton(
        start=0,
        transitions=table,
        accepting=np.array([accepting[s] for s in keep], dtype=bool),
        distance=np.array([distance[s] for s in keep], dtype=np.int64),
    )
