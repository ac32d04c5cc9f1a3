"""The one way the project turns logits into digit strings: :func:`decode`.

Evaluation, reading, the exported runtime and the server all call :func:`decode`
(constrained reading calls :func:`model.decoding.constraints.constrained_decode`,
which runs the same search within an automaton). Two engines compute it and read
the same strings:

* ``"numpy"`` (default): :mod:`model.decoding.ctc`, needs no TensorFlow, so an
  exported model reads digits without it.
* ``"tf"``: ``keras.ops.ctc_decode``, used by evaluation, which has TensorFlow
  loaded anyway: its beam search is compiled, about 10x faster on a batch of 2,000
  sequences than the numpy search, and the numpy engine stays its tested twin.

Notes on ``keras.ops.ctc_decode`` (TensorFlow backend):

* Greedy returns, per row, the *negative* sum over valid frames of the largest
  input value per frame. It does not normalise its input, so that number is a
  path probability only when the input is log-softmax; we feed log-softmax and
  flip the sign, giving ``log p(best path)``.
* Beam search normalises its input itself (softmax per frame) and returns the
  sequence log-probability (summed over alignments, within the beam) with the
  usual sign. Feeding log-softmax changes nothing there, but keeps both
  strategies on the same input.
* Decoded ids come back dense, shape ``(top_paths, batch, T)``, padded with -1.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from model.decoding.ctc import (
    Reading,
    check_beam_args,
    check_inputs,
    greedy_decode,
    prefix_beam_search,
)
from model.vocab import BLANK, decode_batch

METHODS = ("greedy", "beam")
ENGINES = ("numpy", "tf")
MAX_BEAM = 100  # the widest beam a user may ask for: a wider one only costs time on 11 classes


def decode(
    logits: Any,
    lengths: Any = None,
    method: str = "greedy",
    beam_width: int = 10,
    top_paths: int = 1,
    engine: str = "numpy",
) -> list[list[Reading]]:
    """Decodes a batch of CTC logits into digit strings.

    Args:
        logits: Raw model outputs (not softmax probabilities), numpy array or
            tensor of shape ``(batch, T, 11)``; class 0 is the blank.
        lengths: Valid time steps per row, shape ``(batch,)``, each in
            ``[0, T]``; frames past a row's length are ignored. Defaults to T.
        method: ``"greedy"`` (best path) or ``"beam"`` (CTC prefix beam search).
        beam_width: Beam width for ``"beam"``, ``>= 1``.
        top_paths: Readings per row, ``1 <= top_paths <= beam_width``; 1 for greedy.
        engine: ``"numpy"`` or ``"tf"`` (``keras.ops.ctc_decode``); same strings.

    Returns:
        Per row, a list of :class:`Reading`, best first. A row of length 0 reads
        only ``Reading("", 0.0)``; the numpy beam search returns fewer than
        ``top_paths`` readings where fewer strings have a nonzero probability.

    Raises:
        ValueError: On a bad method, engine, beam_width, top_paths, logits shape
            or lengths.
    """
    check_decode_args(method, beam_width, top_paths)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "tf":
        return _decode_tf(logits, lengths, method, beam_width, top_paths)
    if method == "greedy":
        return [[r] for r in greedy_decode(logits, lengths)]
    return beam_search_decode(logits, lengths, beam_width, top_paths)


def reading_engine() -> str:
    """The engine reading decodes with: ``"tf"`` when TensorFlow is loaded already (a Keras
    model is reading: its compiled beam search costs a third of the numpy one's time per
    image, the strings the same), else ``"numpy"`` (an exported model, no TensorFlow)."""
    return "tf" if "tensorflow" in sys.modules else "numpy"


def reading_beam(beam_width: int = 10, top_paths: int = 1):
    """The beam search reading decodes with (``reading_engine``), as ``f(logits, lengths)``
    returning readings per row, best first: ``model.reading.reader.run_ways``'s decoder."""
    engine = reading_engine()
    return lambda logits, lengths: decode(logits, lengths, "beam", beam_width, top_paths,
                                          engine)


def check_decode_args(method: str, beam_width: int, top_paths: int) -> None:
    """Raises ValueError for an unknown method, bad beam arguments, or greedy with
    ``top_paths != 1``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_beam_args(beam_width, top_paths)
    if method == "greedy" and top_paths != 1:
        raise ValueError(f"greedy decoding yields exactly one path, got top_paths={top_paths}")


def beam_search_decode(
    logits: Any,
    lengths: Any = None,
    beam_width: int = 10,
    top_paths: int = 1,
    tf_compatible: bool = True,
) -> list[list[Reading]]:
    """CTC prefix beam search over a batch.

    Args:
        logits: ``(batch, T, 11)`` raw model outputs.
        lengths: ``(batch,)`` valid frames per row; frames past them are ignored.
        beam_width: Prefixes kept per frame, ``>= 1``.
        top_paths: Readings returned per row, ``1 <= top_paths <= beam_width``.
        tf_compatible: True keeps the prefixes TF's decoder keeps, so the
            strings equal ``keras.ops.ctc_decode``'s; False keeps the
            ``beam_width`` most probable each frame (see :func:`prefix_beam_search`).

    Returns:
        Per row, up to ``top_paths`` readings, best first: fewer only where
        fewer strings have a nonzero probability (a row of length 0 has just
        ``Reading("", 0.0)``), where TF would raise an error.

    Raises:
        ValueError: On bad logits, lengths, beam_width or top_paths.
    """
    check_beam_args(beam_width, top_paths)
    log_probs, seq_len = check_inputs(logits, lengths)
    return [
        prefix_beam_search(lp[:n], beam_width, top_paths, tf_compatible=tf_compatible)
        for lp, n in zip(log_probs, seq_len.tolist(), strict=True)
    ]



def _decode_tf(logits: Any, lengths: Any, method: str, beam_width: int,
               top_paths: int) -> list[list[Reading]]:
    """:func:`decode` by ``keras.ops.ctc_decode``, on log-softmax in float32."""
    import keras

    if lengths is not None:
        lengths = keras.ops.convert_to_numpy(lengths)
    log_probs, seq_len = check_inputs(keras.ops.convert_to_numpy(logits), lengths)
    log_probs, seq_len = log_probs.astype(np.float32), seq_len.astype(np.int32)
    batch = log_probs.shape[0]
    # TF rejects empty rows in two ways: greedy fails on T == 0 and beam search
    # fails on a zero-length row when top_paths > 1 ("Less leaves in the beam
    # search than requested"). Such a row has exactly one reading, "" with
    # probability 1, so decode only the other rows with TF.
    active = np.flatnonzero(seq_len > 0)
    rows: list[list[Reading]] = [[Reading("", 0.0)] for _ in range(batch)]
    if active.size == 0:
        return rows
    decoded, scores = keras.ops.ctc_decode(
        log_probs[active],
        sequence_lengths=seq_len[active],
        strategy="greedy" if method == "greedy" else "beam_search",
        beam_width=beam_width,
        top_paths=top_paths,
        mask_index=BLANK,
    )
    decoded = keras.ops.convert_to_numpy(decoded)  # (top_paths, active, T), -1 padded
    scores = keras.ops.convert_to_numpy(scores).astype(np.float64)  # (active, top_paths)
    if method == "greedy":
        scores = -scores  # TF reports the negated best-path sum.
    # Clip float rounding (e.g. a tiny positive value from TF's own normalisation).
    scores = np.minimum(scores, 0.0)
    texts = decode_batch(decoded.reshape(-1, decoded.shape[-1]))  # path-major order
    n = active.size
    for b, row in enumerate(active.tolist()):
        rows[row] = [Reading(texts[p * n + b], float(scores[b, p])) for p in range(top_paths)]
    return rows
