"""How TF's CTC beam search chooses which prefixes survive a frame, in numpy.

``keras.ops.ctc_decode(strategy="beam_search")`` (``tf.nn.ctc_beam_search_decoder``)
does not keep the ``beam_width`` most probable of all continuations and extensions,
as the textbook search does, and the two can keep different prefixes. The numpy
decoder follows TF's rule for unconstrained decoding so that both engines behind
:func:`model.decoding.decode` read the same strings.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

NUM_DIGITS = 10


def select_in_tf_order(
    kept: np.ndarray, ext: np.ndarray, child: np.ndarray, total: np.ndarray, beam_width: int
) -> np.ndarray:
    """Picks the surviving prefixes of one frame the way TF's beam search does.

    TF's decoder (``tf.nn.ctc_beam_search_decoder``, behind
    ``keras.ops.ctc_decode``) first re-enters every prefix of the beam with its
    new probability, then walks the old prefixes from most to least probable
    and their digits in order, pushing each new extension that beats the
    lowest entry and evicting that entry. When it meets a child that was in
    the beam but has been evicted meanwhile, it rates the child as a new
    extension (its continuation mass forgotten); if that does not get the child
    back in, it marks it dead, and a dead prefix whose turn comes later is not
    extended in this frame. The textbook search would still extend it, so the
    two can keep different prefixes, and TF may miss a more probable one.

    Args:
        kept: ``(K,)`` new log-probability of each prefix of the beam.
        ext: ``(K, 10)`` log-probability of each one-digit extension (-inf where
            not allowed), counting only the frame paths through its parent.
        child: ``(K, 10)`` index of the extension in the beam, or -1.
        total: ``(K,)`` log-probability of each prefix before this frame.
        beam_width: Entries kept.

    Returns:
        Chosen indices: ``i < K`` keeps prefix ``i``; ``K + 10 * k + d`` is
        prefix ``k`` extended by digit ``d``.
    """
    size = kept.size
    heap = [(s, i) for i, s in enumerate(kept.tolist())]  # Lowest entry first.
    heapq.heapify(heap)
    # Plain lists: this loop runs per frame and numpy scalars are slow here.
    alive = [True] * size
    dead = [False] * size
    children = child.tolist()
    old_total = total.tolist()
    for k in np.argsort(-total, kind="stable").tolist():
        if dead[k] or old_total[k] == -math.inf:
            continue
        if len(heap) == beam_width and old_total[k] <= heap[0][0]:
            continue  # No extension can beat the lowest entry.
        for d, (score, j) in enumerate(zip(ext[k].tolist(), children[k], strict=True)):
            if j >= 0 and alive[j]:
                continue  # Already in the beam, its extension mass included.
            if score > -math.inf and (len(heap) < beam_width or score > heap[0][0]):
                key = size + NUM_DIGITS * k + d
                if len(heap) < beam_width:
                    heapq.heappush(heap, (score, key))
                else:
                    _, dropped = heapq.heapreplace(heap, (score, key))
                    if dropped < size:
                        alive[dropped] = False
            elif j >= 0:
                dead[j] = True
    return np.array(sorted(key for score, key in heap if score > -math.inf), dtype=np.int64)

