"""Accuracy metrics for digit-string recognition (numpy / pure Python, no TF).

:func:`evaluate` summarises one decoder's outputs against references;
:func:`format_table` puts several such summaries side by side; :func:`error_summary` says
what the misread rows got wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model.vocab import VOCAB


def _distance_matrix(a: str, b: str) -> np.ndarray:
    """Levenshtein DP table ``D`` of shape ``(len(a)+1, len(b)+1)``.

    ``D[i, j]`` is the edit distance between ``a[:i]`` and ``b[:j]``. Each row
    is computed with numpy: substitutions/deletions are elementwise, and the
    left-to-right insertion chain ``D[i, j] = min(t[j], D[i, j-1] + 1)`` is the
    running minimum of ``t[j] - j``, shifted back by ``j``.
    """
    m = len(b)
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(m + 1)
    table = np.empty((len(a) + 1, m + 1), dtype=np.int64)
    table[0] = offsets
    for i, ch in enumerate(a, start=1):
        prev = table[i - 1]
        t = np.empty(m + 1, dtype=np.int64)
        t[0] = i
        t[1:] = np.minimum(prev[:-1] + (bb != ord(ch)), prev[1:] + 1)
        table[i] = np.minimum.accumulate(t - offsets) + offsets
    return table


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions).

    Args:
        a: First string.
        b: Second string.

    Returns:
        The minimum number of edits turning ``a`` into ``b``.
    """
    return int(_distance_matrix(a, b)[-1, -1])


def _alignment(ref: str, hyp: str) -> list[tuple[int | None, int | None]]:
    """One optimal alignment of ``ref`` and ``hyp``, as (ref index, hyp index) pairs in
    order, None for the missing side of a deletion or an insertion.

    The alignment is recovered by backtracking the Levenshtein table from the end; where
    several moves are optimal the order of preference is match, substitution, deletion (of
    a reference character), insertion, so the result is deterministic.
    """
    table = _distance_matrix(ref, hyp)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = len(ref), len(hyp)
    while i > 0 or j > 0:
        here = table[i, j]
        if i > 0 and j > 0 and table[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]) == here:
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i > 0 and table[i - 1, j] + 1 == here:
            i -= 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    return pairs[::-1]


def alignment_hits(ref: str, hyp: str) -> list[bool]:
    """Which reference characters one optimal alignment (``_alignment``) matches exactly.

    Args:
        ref: Reference string, length ``n``.
        hyp: Hypothesis string.

    Returns:
        ``n`` booleans: True where ``ref[i]`` is aligned to an equal character.
    """
    hits = [False] * len(ref)
    for i, j in _alignment(ref, hyp):
        if i is not None and j is not None and ref[i] == hyp[j]:
            hits[i] = True
    return hits


# How a misreading differs from the truth, coarsely (``error_kind``): what a change to the
# reading path or the training should move. A single dropped digit is told by where it
# stood, since digits lost at a crop's edge and inside a number have different causes.
ERROR_KINDS = ("substituted", "dropped first", "dropped inside", "dropped last", "shorter",
               "longer")


def error_kind(ref: str, hyp: str) -> str | None:
    """The ERROR_KINDS entry for reading ``hyp`` where ``ref`` is written (None when equal).

    Same length: "substituted". One digit fewer and the rest read right: "dropped first",
    "dropped last" or "dropped inside" by where it stood (a repeated digit at the start,
    as "1" for "11", counts as the first). Otherwise, and for an empty reading, "shorter" or
    "longer".
    """
    if ref == hyp:
        return None
    if len(ref) == len(hyp):
        return "substituted"
    if hyp and len(hyp) == len(ref) - 1:
        if ref[1:] == hyp:
            return "dropped first"
        if ref[:-1] == hyp:
            return "dropped last"
        if any(ref[:k] + ref[k + 1:] == hyp for k in range(1, len(ref) - 1)):
            return "dropped inside"
    return "shorter" if len(hyp) < len(ref) else "longer"


def error_summary(refs: Sequence[str], hyps: Sequence[str], top: int = 5) -> dict:
    """What the misread rows got wrong: how many of each ERROR_KINDS, and the digits most
    often read as another (substitutions of one optimal alignment, in every misread row).

    Returns:
        {"misread": count, "kinds": {kind: count} for every kind, "confusions": up to
        ``top`` [truth digit, read digit, count], most frequent first (ties by digits)}.

    Raises:
        ValueError: If ``refs`` and ``hyps`` differ in length.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    kinds = dict.fromkeys(ERROR_KINDS, 0)
    swaps: dict[tuple[str, str], int] = {}
    for ref, hyp in zip(refs, hyps, strict=True):
        kind = error_kind(ref, hyp)
        if kind is None:
            continue
        kinds[kind] += 1
        for i, j in _alignment(ref, hyp):
            if i is not None and j is not None and ref[i] != hyp[j]:
                swaps[ref[i], hyp[j]] = swaps.get((ref[i], hyp[j]), 0) + 1
    ranked = sorted(swaps.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {"misread": sum(kinds.values()), "kinds": kinds,
            "confusions": [[a, b, n] for (a, b), n in ranked]}


def evaluate(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """Scores hypotheses against references.

    Args:
        refs: ``n`` reference strings.
        hyps: ``n`` hypothesis strings, in the same order.

    Returns:
        A JSON-friendly dict:

        * ``"count"``: ``n``.
        * ``"exact"``: fraction of rows with ``hyp == ref`` (0.0 when ``n == 0``).
        * ``"cer"``: character error rate, ``sum(edit distances) /
          max(1, total reference length)``; the ``max`` keeps empty input (or
          only empty references) from dividing by zero, in which case it is the
          raw number of inserted characters.
        * ``"per_length"``: ``{str(L): {"count", "exact"}}`` for each reference
          length ``L`` present, in increasing ``L``.
        * ``"per_digit"``: ``{d: {"count", "accuracy"}}`` for each of ``"0".."9"``:
          occurrences of ``d`` in the references and the fraction of them
          matched per :func:`alignment_hits` (0.0 when the count is 0).

    Raises:
        ValueError: If ``refs`` and ``hyps`` differ in length.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    n = len(refs)
    exact = 0
    total_dist = 0
    total_ref = 0
    by_len: dict[int, list[int]] = {}  # L -> [count, exact]
    digit_count = dict.fromkeys(VOCAB, 0)
    digit_hits = dict.fromkeys(VOCAB, 0)
    for ref, hyp in zip(refs, hyps, strict=True):
        same = ref == hyp
        exact += same
        total_ref += len(ref)
        stats = by_len.setdefault(len(ref), [0, 0])
        stats[0] += 1
        stats[1] += same
        # Equal strings need no DP; most rows are exact for a decent model.
        hits = [True] * len(ref) if same else alignment_hits(ref, hyp)
        if not same:
            total_dist += edit_distance(ref, hyp)
        for ch, hit in zip(ref, hits, strict=True):
            if ch in digit_count:
                digit_count[ch] += 1
                digit_hits[ch] += hit
    return {
        "count": n,
        "exact": exact / n if n else 0.0,
        "cer": total_dist / max(1, total_ref),
        "per_length": {
            str(length): {"count": c, "exact": e / c}
            for length, (c, e) in sorted(by_len.items())
        },
        "per_digit": {
            d: {
                "count": digit_count[d],
                "accuracy": digit_hits[d] / digit_count[d] if digit_count[d] else 0.0,
            }
            for d in VOCAB
        },
    }


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}"


def format_table(results: Mapping[str, Mapping]) -> str:
    """Side-by-side plain-text table of several :func:`evaluate` results.

    Args:
        results: Decoder name -> :func:`evaluate` output, e.g.
            ``{"greedy": ..., "beam": ...}``; one column each, in that order.

    Returns:
        A monospace table: exact accuracy (%), CER (%), exact accuracy per
        reference length, then per-digit accuracy. Cells with no data (a length
        or digit absent from that result) show ``-``. Percentages have 2 decimals.
    """
    names = list(results)
    rows: list[list[str]] = [["", *names]]
    rows.append(["exact accuracy (%)", *(_pct(r["exact"]) for r in results.values())])
    rows.append(["CER (%)", *(_pct(r["cer"]) for r in results.values())])
    lengths = sorted({int(k) for r in results.values() for k in r["per_length"]})
    for length in lengths:
        cells = []
        for r in results.values():
            entry = r["per_length"].get(str(length))
            cells.append(_pct(entry["exact"]) if entry else "-")
        rows.append([f"exact, length {length}", *cells])
    for d in VOCAB:
        cells = []
        for r in results.values():
            entry = r["per_digit"].get(d)
            cells.append(_pct(entry["accuracy"]) if entry and entry["count"] else "-")
        rows.append([f"digit {d}", *cells])

    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        label = row[0].ljust(widths[0])
        cells = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([label, *cells]).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
