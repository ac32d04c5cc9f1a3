"""Decoding: logits (batch, T, 11) in, digit strings with log-probabilities out.

:func:`decode` is the one entry point (greedy or prefix beam search, numpy or TF engine);
:mod:`model.decoding.constraints` reads only the strings a caller allows. Numpy only.
"""

from model.decoding.ctc import Reading, best_texts
from model.decoding.decode import decode

__all__ = ["Reading", "best_texts", "decode"]
