"""CTC decoding and scoring in pure numpy, so a model exported without its TF
graph still reads digits.

The label convention is :mod:`model.vocab`'s: class 0 is the blank, digit ``d``
is class ``d + 1``. Inputs are raw logits ``(batch, T, 11)``; every function
log-softmaxes them first (in float64), so scores are log-probabilities.

* :func:`greedy_decode`: best path (argmax per frame, merge repeats, drop
  blanks), the same strings as ``keras.ops.ctc_decode(strategy="greedy")``.
* :func:`prefix_beam_search`: CTC prefix beam search on one sequence (Graves
  et al. 2006; Maas et al. 2015; Hannun 2017), optionally limited to the
  strings an automaton accepts (see :mod:`model.decoding.constraints`).
* :func:`sequence_log_prob`: the exact ``log p(text)`` by the forward algorithm.

Callers decode through :func:`model.decoding.decode`, which batches these.

Score conventions against ``keras.ops.ctc_decode`` (TensorFlow backend):

* Greedy: Keras returns the *negated* sum over valid frames of the largest
  input value per frame, on whatever it is fed. We return ``log p`` of the best
  frame path (the sum of per-frame maxima of the log-softmax), so our score is
  minus Keras's when Keras is fed log-softmax, as :mod:`model.decoding.decode`'s
  TF engine does.
* Beam: both return the log-probability of the label summed over the frame
  paths that stay within the beam, with the usual sign; Keras computes it in
  float32 after its own softmax, we in float64, so they agree to about 1e-5.
* Beam, which prefixes survive a frame: TF grows the beam one extension at a
  time and can skip the extensions of a prefix evicted earlier in the same
  frame (:mod:`model.decoding.tf_order`). Unconstrained decoding follows that
  order, so that the numpy and TF engines give the same strings;
  ``tf_compatible=False`` keeps the ``beam_width`` most probable of all
  continuations and extensions, the textbook rule, which constrained decoding
  uses (TF has no constrained search to agree with). Neither is always better:
  beam search is a heuristic, and both are exact when the beam never fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from model.decoding.tf_order import select_in_tf_order
from model.vocab import BLANK, NUM_CLASSES, VOCAB, decode_batch, encode

NUM_DIGITS = NUM_CLASSES - 1

@dataclass(frozen=True)
class Reading:
    """One decoded hypothesis.

    Attributes:
        text: The digit string.
        score: Log-probability (``<= 0``). Greedy: ``log p`` of the best frame
            path. Beam: ``log p`` of the string summed over the frame paths
            kept in the beam (exact when the beam never drops a prefix).
    """

    text: str
    score: float


class DigitAutomaton(Protocol):
    """A deterministic automaton over the digits that a beam search can follow.

    Attributes:
        start: The start state.
        transitions: int array ``(S, 10)``; ``transitions[s, d]`` is the state
            after digit ``d``, or -1 where no accepted string continues that way.
        accepting: bool array ``(S,)``; whether a string ending there is accepted.
        distance: int array ``(S,)``; the fewest digits that lead from the state
            to an accepting one.
    """

    start: int
    transitions: np.ndarray
    accepting: np.ndarray
    distance: np.ndarray


def log_softmax(logits: Any) -> np.ndarray:
    """Numerically stable log-softmax over the last axis, in float64.

    Args:
        logits: float array of shape ``(..., C)``.

    Returns:
        float64 array of the same shape.
    """
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def check_inputs(logits: Any, lengths: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Validates a batch of logits and lengths and log-softmaxes the logits.

    Args:
        logits: ``(batch, T, 11)`` raw model outputs (numpy or anything
            ``np.asarray`` takes).
        lengths: ``(batch,)`` valid frames per row, each in ``[0, T]``;
            defaults to T.

    Returns:
        ``(log_probs, lengths)``: float64 ``(batch, T, 11)`` and int ``(batch,)``.

    Raises:
        ValueError: On a bad logits shape or bad lengths.
    """
    log_probs = np.asarray(logits, dtype=np.float64)
    if log_probs.ndim != 3 or log_probs.shape[-1] != NUM_CLASSES:
        raise ValueError(
            f"logits must have shape (batch, T, {NUM_CLASSES}), got {log_probs.shape}"
        )
    batch, steps, _ = log_probs.shape
    if lengths is None:
        seq_len = np.full((batch,), steps, dtype=np.int64)
    else:
        seq_len = np.asarray(lengths).astype(np.int64).reshape(-1)
        if seq_len.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {seq_len.shape}")
        if seq_len.size and (seq_len.min() < 0 or seq_len.max() > steps):
            raise ValueError(f"lengths must lie in [0, {steps}], got {seq_len}")
    return log_softmax(log_probs), seq_len


def greedy_decode(logits: Any, lengths: Any = None) -> list[Reading]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        logits: ``(batch, T, 11)`` raw model outputs.
        lengths: ``(batch,)`` valid frames per row; frames past them are ignored.

    Returns:
        One :class:`Reading` per row; its score is ``log p`` of the best frame
        path (0.0 for a row of length 0, which reads "").

    Raises:
        ValueError: On a bad logits shape or bad lengths.
    """
    log_probs, seq_len = check_inputs(logits, lengths)
    batch, steps, _ = log_probs.shape
    valid = np.arange(steps)[None, :] < seq_len[:, None]
    best = np.argmax(log_probs, axis=-1)  # Ties go to the lowest class, the blank first, as in TF.
    scores = np.where(valid, log_probs.max(axis=-1, initial=-np.inf), 0.0).sum(axis=-1)
    previous = np.concatenate([np.full((batch, 1), BLANK), best[:, :-1]], axis=1)
    keep = valid & (best != BLANK) & (best != previous)
    texts = decode_batch(np.where(keep, best, BLANK).reshape(batch, steps))
    return [Reading(t, float(s)) for t, s in zip(texts, scores, strict=True)]


def check_beam_args(beam_width: int, top_paths: int) -> None:
    """Raises ValueError unless ``beam_width >= 1`` and ``1 <= top_paths <= beam_width``."""
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    if not 1 <= top_paths <= beam_width:
        raise ValueError(f"top_paths must be in [1, beam_width={beam_width}], got {top_paths}")


def prefix_beam_search(
    log_probs: np.ndarray,
    beam_width: int = 10,
    top_paths: int = 1,
    automaton: DigitAutomaton | None = None,
    *,
    tf_compatible: bool = False,
) -> list[Reading]:
    """CTC prefix beam search on one sequence, optionally within an automaton.

    Each beam entry is a label prefix with two log-probabilities: of the frame
    paths so far that spell it and end in a blank (``pb``), and that end in its
    last digit (``pnb``). A frame either continues a prefix (a blank, or its last
    digit again) or extends it by a digit; a repeated digit extends only the
    paths that end in a blank. Continuations and extensions of the same prefix
    are summed, and the ``beam_width`` most probable prefixes survive the frame.

    With an automaton, the entry also holds its state: a prefix is extended only
    by digits the automaton allows, is dropped once the frames left cannot hold
    the digits it still needs, and only accepted prefixes are returned.

    Args:
        log_probs: ``(T, 11)`` log-softmax of one sequence's logits.
        beam_width: Prefixes kept per frame, ``>= 1``.
        top_paths: Readings returned, ``>= 1``.
        automaton: Limits the strings searched; ``None`` searches all.
        tf_compatible: Choose the surviving prefixes the way TF's decoder does
            (:mod:`model.decoding.tf_order`), which gives the same strings as
            ``keras.ops.ctc_decode``; otherwise keep the ``beam_width`` best of
            all continuations and extensions.

    Returns:
        Up to ``top_paths`` readings, best first; empty when no accepted string
        survives the beam. Scores are exact ``log p(text)`` whenever the beam
        never had to drop a prefix.
    """
    steps = log_probs.shape[0]
    if automaton is None:
        transitions = np.zeros((1, NUM_DIGITS), dtype=np.int64)
        accepting = np.ones(1, dtype=bool)
        distance = np.zeros(1, dtype=np.int64)
        start = 0
    else:
        transitions = np.asarray(automaton.transitions)
        accepting = np.asarray(automaton.accepting)
        distance = np.asarray(automaton.distance)
        start = int(automaton.start)
    if distance[start] > steps:
        return []
    digits = np.arange(NUM_DIGITS)
    # The beam, as parallel arrays plus the prefixes themselves.
    prefixes: list[tuple[int, ...]] = [()]
    pb = np.zeros(1)
    pnb = np.full(1, -np.inf)
    last = np.full(1, -1)  # Last digit of each prefix, -1 for the empty one.
    state = np.full(1, start)
    for t in range(steps):
        lp = log_probs[t]
        left = steps - 1 - t  # Frames after this one.
        size = len(prefixes)
        total = np.logaddexp(pb, pnb)
        new_pb = total + lp[BLANK]
        new_pnb = np.where(last >= 0, pnb + lp[last + 1], -np.inf)
        # Extending by the prefix's own last digit needs a blank in between.
        ext = lp[1:][None, :] + np.where(digits[None, :] == last[:, None], pb[:, None],
                                         total[:, None])
        nxt = transitions[state]
        ext[(nxt < 0) | (distance[np.maximum(nxt, 0)] > left)] = -np.inf
        # An extension already in the beam merges into that entry.
        index = {p: i for i, p in enumerate(prefixes)}
        parent = np.array([index.get(p[:-1], -1) if p else -1 for p in prefixes])
        merged = np.flatnonzero(parent >= 0)
        child = np.full((size, NUM_DIGITS), -1)
        child[parent[merged], last[merged]] = merged
        new_pnb[merged] = np.logaddexp(new_pnb[merged], ext[parent[merged], last[merged]])
        kept = np.logaddexp(new_pb, new_pnb)
        kept[distance[state] > left] = -np.inf
        if tf_compatible:
            chosen = select_in_tf_order(kept, ext, child, total, beam_width)
        else:
            scores = np.concatenate([kept, np.where(child < 0, ext, -np.inf).ravel()])
            chosen = np.argsort(-scores, kind="stable")[:beam_width]
            chosen = chosen[np.isfinite(scores[chosen])]
        old = chosen[chosen < size]
        src, digit = np.divmod(chosen[chosen >= size] - size, NUM_DIGITS)
        prefixes = [prefixes[i] for i in old] + [
            prefixes[i] + (d,) for i, d in zip(src.tolist(), digit.tolist(), strict=True)
        ]
        pb = np.concatenate([new_pb[old], np.full(src.size, -np.inf)])
        pnb = np.concatenate([new_pnb[old], ext[src, digit]])
        last = np.concatenate([last[old], digit])
        state = np.concatenate([state[old], nxt[src, digit]])
        if not prefixes:
            return []
    total = np.where(accepting[state], np.logaddexp(pb, pnb), -np.inf)
    order = np.argsort(-total, kind="stable")[:top_paths]
    return [
        Reading("".join(VOCAB[d] for d in prefixes[i]), min(float(total[i]), 0.0))
        for i in order.tolist()
        if np.isfinite(total[i])
    ]


def sequence_log_prob(log_probs: np.ndarray, text: str) -> float:
    """The exact ``log p(text)`` under CTC, by the forward algorithm (Graves et al. 2006).

    Args:
        log_probs: ``(T, 11)`` log-softmax of one sequence's logits.
        text: A digit string.

    Returns:
        The log of the summed probability of every frame path that collapses
        to ``text``; ``-inf`` when none does (e.g. too few frames).
    """
    labels = np.full(2 * len(text) + 1, BLANK)
    labels[1::2] = encode(text)
    steps = log_probs.shape[0]
    if steps == 0:
        return 0.0 if not text else -np.inf
    # A label may skip the blank before it unless it repeats the label before that.
    skip = np.zeros(labels.size, dtype=bool)
    skip[2:] = (labels[2:] != BLANK) & (labels[2:] != labels[:-2])
    alpha = np.full(labels.size, -np.inf)
    alpha[:2] = log_probs[0, labels[:2]]
    for t in range(1, steps):
        prev = alpha.copy()
        prev[1:] = np.logaddexp(prev[1:], alpha[:-1])
        prev[2:] = np.where(skip[2:], np.logaddexp(prev[2:], alpha[:-2]), prev[2:])
        alpha = prev + log_probs[t, labels]
    return float(np.logaddexp.reduce(alpha[-2:]))


def best_texts(readings: Sequence[Sequence[Reading]]) -> list[str]:
    """The best string per row of a :func:`decode` result ("" for an empty row)."""
    return [row[0].text if row else "" for row in readings]
