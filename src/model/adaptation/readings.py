"""How a model reads a folder's prepared images, as ``model.read`` reads them, and which
readings are sure enough to train on.

Every image is prepared the ways reading tries (``model.reading.folder.prepare_folder_ways``);
each way is read with a beam search and the way the model is surest of gives the reading
(``model.reading.reader.most_confident``), exactly as ``model.read`` does. Kept beside it:
how many of the ways read the same string. A reading that survives different preparations
of the image, and that the model gives a high probability, is a pseudo-label; the share of
ways that agree, over the folder, is the model's agreement with itself, which the guard
compares before and after adapting (labels are never needed for either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Readings:
    """One model's readings of a folder.

    Attributes:
        texts: (n,) the reading kept per image ("" where no way gave one).
        confidence: (n,) its probability.
        way: (n,) the way it came from.
        agree: (n,) the share of the ways that gave a reading which read ``texts``.
    """

    texts: list[str]
    confidence: np.ndarray
    way: np.ndarray
    agree: np.ndarray

    def agreement(self) -> float:
        """The model's agreement with itself: the mean share of ways reading alike."""
        return float(self.agree.mean()) if len(self.agree) else 0.0

    def summary(self) -> dict:
        return {"agreement": round(self.agreement(), 6),
                "unanimous": round(float((self.agree == 1).mean()), 6),
                "mean_confidence": round(float(self.confidence.mean()), 6)}


def read_prepared(model, net, ways: list[list], beam_width: int = 10,
                  desc: str = "reading") -> Readings:
    """Read every prepared way of every image (``ways[i][w]``: (height, width) uint8 or
    None), with a progress bar, keeping per image the surest way as ``model.read`` does.

    Args:
        model: a callable from a padded batch (batch, height, W, 1) float32 to logits
            (batch, T, 11), e.g. ``model.api.traced(keras_model)``.
    """
    from digits.cli import progress_bar
    from model.decoding.decode import reading_beam
    from model.reading.reader import agreement, most_confident, run_ways

    # Every way of every image in one run_ways call, as model.read reads a folder: the
    # same batches, so the same readings.
    total = sum(image is not None for each in ways if each for image in each)
    with progress_bar(total, desc, "img") as bar:
        per_way = run_ways(ways, model, net, {"beam": reading_beam(beam_width)},
                           progress=bar.update)[0]["beam"]
    chosen = most_confident(per_way) if per_way else []
    texts, confidence, way, agree = [], [], [], []
    for i, (w, best) in enumerate(chosen):
        text = best[0].text if best else ""
        texts.append(text)
        confidence.append(math.exp(best[0].score) if best else 0.0)
        way.append(w)
        agree.append(agreement(per_way, i, text) if best else 0.0)
    return Readings(texts, np.array(confidence), np.array(way, int), np.array(agree))


def pseudo_mask(readings: Readings, min_confidence: float, min_agree: float) -> np.ndarray:
    """(n,) bool: the readings sure enough to train on: a digit string, read with at least
    ``min_confidence`` probability, and read alike by at least ``min_agree`` of the ways."""
    texts = np.array([bool(t) for t in readings.texts])
    return (texts & (readings.confidence >= min_confidence)
            & (readings.agree >= min_agree - 1e-9))


def length_prior(readings: Readings, mask: np.ndarray) -> dict | None:
    """The lengths of the sure readings: how many digits the folder's numbers have
    (``--min-length``/``--max-length`` for ``model.read``), or None without any."""
    lengths = [len(t) for t, m in zip(readings.texts, mask, strict=True) if m]
    if not lengths:
        return None
    counts = np.bincount(lengths)
    return {"min_length": int(min(lengths)), "max_length": int(max(lengths)),
            "counts": {str(k): int(v) for k, v in enumerate(counts) if v}}
