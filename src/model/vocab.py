"""The label convention shared by the model, the CTC loss and the decoder.

Convention (the one ``keras.losses.CTC`` and ``keras.ops.ctc_decode`` assume by
default, so nothing has to be remapped between them):

* class 0 is the CTC blank;
* digit ``d`` is class ``d + 1`` (so ``"0"`` is class 1 and ``"9"`` is class 10);
* label batches are padded with 0, which the Keras CTC loss treats as padding;
* decoded batches from ``ctc_decode`` are padded with -1, which is ignored here too.

The model therefore has ``NUM_CLASSES = 11`` outputs per frame. This module is
numpy-only on purpose: data pipelines and metrics use it without pulling in TF.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

VOCAB = "0123456789"
BLANK = 0
NUM_CLASSES = len(VOCAB) + 1

_CHAR_TO_ID = {c: i + 1 for i, c in enumerate(VOCAB)}
# Byte code for every class id, so whole batches are turned into text with one
# numpy lookup; blank/padding map to NUL and are stripped afterwards.
_ID_TO_BYTE = np.frombuffer(b"\0" + VOCAB.encode("ascii"), dtype=np.uint8)


def encode(text: str) -> list[int]:
    """Maps a digit string to class ids.

    Args:
        text: A string of ASCII digits, possibly empty.

    Returns:
        One class id per character, e.g. ``"07" -> [1, 8]``.

    Raises:
        ValueError: If ``text`` holds anything but ``0-9`` (Unicode digits such
            as ``"²"`` included, which ``str.isdigit`` would accept).
    """
    try:
        return [_CHAR_TO_ID[c] for c in text]
    except KeyError as err:
        raise ValueError(f"not a digit string: {text!r}") from err


def encode_batch(texts: Sequence[str], max_len: int | None = None) -> np.ndarray:
    """Encodes strings into a zero-padded label matrix for ``keras.losses.CTC``.

    Args:
        texts: ``n`` digit strings.
        max_len: Width of the result; defaults to the longest string.

    Returns:
        int32 array of shape ``(n, max_len)``, padded with ``BLANK`` (0).

    Raises:
        ValueError: On a non-digit character, or a string longer than ``max_len``.
    """
    encoded = [encode(t) for t in texts]
    longest = max((len(e) for e in encoded), default=0)
    width = longest if max_len is None else max_len
    if width < longest:
        raise ValueError(f"a string of length {longest} does not fit max_len={max_len}")
    out = np.full((len(encoded), width), BLANK, dtype=np.int32)
    for row, ids in zip(out, encoded, strict=True):
        row[: len(ids)] = ids
    return out


def decode_ids(ids: Iterable[int]) -> str:
    """Turns class ids back into a string, skipping blanks and -1 padding.

    This does not collapse repeats: use :func:`collapse` for frame-level paths.

    Args:
        ids: Class ids, e.g. a label row or a row of ``ctc_decode`` output.

    Returns:
        The digit string, e.g. ``[1, 8, 0, -1] -> "07"``.

    Raises:
        ValueError: If an id is ``>= NUM_CLASSES``.
    """
    out = []
    for i in ids:
        i = int(i)
        if i >= NUM_CLASSES:
            raise ValueError(f"class id {i} out of range (NUM_CLASSES={NUM_CLASSES})")
        if i > BLANK:
            out.append(VOCAB[i - 1])
    return "".join(out)


def decode_batch(ids: np.ndarray) -> list[str]:
    """Vectorised :func:`decode_ids` over the rows of a matrix.

    Args:
        ids: Integer array of shape ``(n, T)``; values ``<= 0`` are skipped.

    Returns:
        ``n`` strings.

    Raises:
        ValueError: If an id is ``>= NUM_CLASSES``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"expected a 2-D id matrix, got shape {ids.shape}")
    if ids.size and ids.max() >= NUM_CLASSES:
        raise ValueError(f"class id {ids.max()} out of range (NUM_CLASSES={NUM_CLASSES})")
    codes = _ID_TO_BYTE[np.maximum(ids, BLANK)]
    # One bytes object per row is much cheaper than a Python loop over ids.
    return [row.tobytes().replace(b"\0", b"").decode("ascii") for row in codes]


def collapse(path: Iterable[int]) -> list[int]:
    """CTC collapse of a frame-level path: merge repeats, then drop blanks.

    The order matters: a blank between two equal symbols keeps them apart, so
    ``[2, 2, 0, 2] -> [2, 2]`` ("11") while ``[2, 2, 2] -> [2]`` ("1").

    Args:
        path: Class id per frame, shape ``(T,)``.

    Returns:
        The label sequence the path spells.
    """
    out: list[int] = []
    prev = None
    for c in path:
        c = int(c)
        if c != prev and c != BLANK:
            out.append(c)
        prev = c
    return out
