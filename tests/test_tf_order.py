"""model.decoding.tf_order: the numpy beam search keeps the prefixes TF's beam search keeps."""

import numpy as np

from conftest import keras_decode
from model.decoding.decode import beam_search_decode
from model.vocab import BLANK, NUM_CLASSES, encode


def test_tf_order_skips_the_extensions_of_an_evicted_prefix():
    # The convention difference documented in model.decoding.tf_order, on two
    # frames and a beam of 2. After frame 0 the beam is "" (0.6) and "5" (0.4).
    # Frame 1 is "0" (0.5) or "9" (0.1) or another digit but "5"; continuing
    # either prefix is unlikely. TF extends "" first: "0" evicts "5", then
    # re-rating "5" as an extension of "" marks it dead, so "50" (p = 0.2) is
    # never tried and "9" (p = 0.06) takes the second place.
    probs = np.full((1, 2, NUM_CLASSES), 1e-9)
    probs[0, 0, [BLANK, encode("5")[0]]] = [0.6, 0.4]
    probs[0, 1, 1:] = 0.4 / 7
    probs[0, 1, [BLANK, *encode("059")]] = [1e-3, 0.5, 1e-6, 0.1]
    logits = np.log(probs)
    texts, _ = keras_decode(logits, np.array([2]), "beam_search", 2, 2)
    assert [path[0] for path in texts] == ["0", "9"]
    (row,) = beam_search_decode(logits, beam_width=2, top_paths=2)
    assert [r.text for r in row] == ["0", "9"]
    (row,) = beam_search_decode(logits, beam_width=2, top_paths=2, tf_compatible=False)
    assert [r.text for r in row] == ["0", "50"]
    np.testing.assert_allclose([r.score for r in row], np.log([0.3, 0.2]), atol=2e-3)
