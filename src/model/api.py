"""Reading handwritten numbers from Python: :class:`Reader`.

    from model import Reader

    reader = Reader()                          # the shipped model; Reader("runs/x") for another
    reading = reader.read("photo.jpg")         # .text, .confidence, .sure, .alternatives
    readings = reader.read([path, pil_image, array], pattern=r"\\d{4}")

``read`` takes a path (``str`` or ``pathlib.Path``), an image file's bytes, a PIL image, or
a numpy array (H x W or H x W x C, uint8, or float in [0, 1]), or a list of them: one in,
one :class:`Reading` out; a list in, a list out, in order, read as one batch. Each image is
read as ``python -m model.read`` reads it (the same preparation, decoding and constraints);
``model.read``, ``model.serve`` and ``bench/real.py`` read through a Reader too.

Importing this module imports no TensorFlow; building a Reader from a run does (to load
its model). ``Reader.from_onnx`` reads through an exported ONNX or LiteRT model with numpy
and onnxruntime alone.

Errors a caller can cause raise :class:`digits.errors.DataError` (a bad constraint, no such
run) or its subclass :class:`model.reading.images.ImageError` (an image that cannot be
read), with the messages the command line prints.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import DataError


@dataclass(frozen=True)
class Reading:
    """One image's digit string.

    Attributes:
        text: the digit string.
        confidence: the chance that ``text`` is right (0..1), calibrated where the run has a
            calibrator (``python -m model.calibrate``), else the model's probability.
        sure: ``confidence`` is at least the ``min_confidence`` asked for.
        probability: the model's probability of ``text``.
        alternatives: ``(text, probability)`` pairs, best first, ``text`` itself first;
            ``top_k`` of them (fewer where fewer strings are possible).
        image: what the model saw: (height, width) uint8, white ink on black.
    """

    text: str
    confidence: float
    sure: bool
    probability: float
    alternatives: list[tuple[str, float]]
    image: np.ndarray = field(repr=False, compare=False)


class Reader:
    """A trained model, loaded once, that reads images of handwritten numbers.

    Args:
        run: a finished run directory; None for the shipped model (``models/mnist-crnn``),
            ``"latest"`` for the newest finished run under ``runs/``.
        beam_width: the prefix beam width reading uses by default (1 to 100).
        min_confidence: readings below this confidence are marked not ``sure`` by default
            (0 to 1; 0: every reading is sure).

    Attributes:
        run: the run directory read from (or the export, for ``from_onnx``).
        description: which model this is and what it was trained on, in one line.
        calibrator: the run's ``model.reading.calibration.Calibrator``, or None.

    Raises:
        DataError: no such run, it is not a finished run this toolkit wrote, or its
            calibration.json is damaged; a bad ``beam_width`` or ``min_confidence``.
    """

    def __init__(self, run: str | os.PathLike | None = None, beam_width: int = 10,
                 min_confidence: float = 0.0):
        from model.reading.calibration import load
        from model.runs import choose_run, describe_run, load_run

        _check_beam(beam_width, 1)
        self.min_confidence = check_confidence(min_confidence)
        self.run = choose_run(run)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.keras_model, self.net, config = load_run(self.run)
        self.calibrator = load(self.run)
        self._model = traced(self.keras_model)
        self.description = describe_run(self.run, config) + (
            "" if self.calibrator else "; confidence not calibrated (python -m "
                                       "model.calibrate RUN fits it)")
        self.beam_width = beam_width

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, beam_width: int = 10,
                  threads: int | None = None, min_confidence: float = 0.0) -> Reader:
        """A Reader over an exported model (``python -m model.export``: ONNX or LiteRT, with
        the JSON written beside it), run without TensorFlow.

        Raises:
            DataError: no such export, a bad JSON beside it, or no runtime for its format.
        """
        from model.deploy.runtime import load_exported
        from model.reading.calibration import Calibrator

        _check_beam(beam_width, 1)
        exported = load_exported(path, threads)
        reader = cls.__new__(cls)
        reader.min_confidence = check_confidence(min_confidence)
        calibration = exported.meta.get("calibration")
        reader.calibrator = (None if calibration is None else
                             Calibrator.from_dict(calibration, f"{path}'s calibration"))
        reader.run = Path(path)
        reader._model = _ExportedLogits(exported)
        reader.net = reader._model
        run = exported.meta.get("run", {})
        reader.description = (f"{path} ({exported.meta['format']} export of "
                              f"{run.get('path', 'a run') if isinstance(run, dict) else run})")
        reader.beam_width = beam_width
        return reader

    def __call__(self, x, training: bool = False):
        """The model's logits (batch, T, 11) for a padded batch (batch, height, W, 1)."""
        return self._model(x, training=False)

    def __repr__(self) -> str:
        return f"Reader({self.description})"

    def results(self, sources, constraint=None, top_k: int = 1,
                beam_width: int | None = None, debug_dir: Path | None = None,
                names=None, generated: bool = False,
                min_confidence: float | None = None) -> list:
        """``model.reading.reader.Result`` per source (a path, bytes or a gray array), each
        with its reading or its error: what the command line and the server report, image by
        image, where ``read`` raises."""
        from model.reading.reader import read_images

        return read_images(sources, self, self.net, constraint, top_k,
                           self.beam_width if beam_width is None else beam_width, debug_dir,
                           names=names, generated=generated, calibrator=self.calibrator,
                           min_confidence=(self.min_confidence if min_confidence is None
                                           else min_confidence))

    def read(self, images, *, length: int | None = None, min_length: int | None = None,
             max_length: int | None = None, pattern: str | None = None,
             allow: str | None = None, top_k: int = 1, beam_width: int | None = None,
             as_generated: bool = False,
             min_confidence: float | None = None) -> Reading | list[Reading]:
        """Read one image or a list of images.

        Args:
            images: a path, bytes, a PIL image or a numpy array; or a list of them.
            length, min_length, max_length, pattern, allow: as ``model.read``'s constraint
                flags: only strings that satisfy them are read.
            top_k: alternatives per image, 1 to ``beam_width``.
            beam_width: the prefix beam width (default: the Reader's).
            as_generated: read every image as the generator's output: only polarity, wide
                margins and height are fixed (an image of light strokes on a flat dark
                ground is read so without it).
            min_confidence: readings below it are not ``sure`` (default: the Reader's).

        Returns:
            A Reading, or a list of them for a list of images.

        Raises:
            DataError: a bad constraint, ``top_k``, ``beam_width`` or ``min_confidence``; or
                no string allowed by the constraint fits an image.
            ImageError: an image that cannot be read (its position in a list is named).
        """
        from model.reading.reader import make_constraint

        width = self.beam_width if beam_width is None else beam_width
        _check_beam(width, top_k)
        if min_confidence is not None:
            check_confidence(min_confidence)
        constraint = make_constraint({"length": length, "min_length": min_length,
                                      "max_length": max_length, "pattern": pattern,
                                      "allow": allow})
        single = not isinstance(images, list | tuple)
        batch = [images] if single else list(images)
        sources, names = [], []
        for i, image in enumerate(batch):
            source, name = _source(image, i if not single else None)
            sources.append(source)
            names.append(name)
        results = self.results(sources, constraint, top_k, width, names=names,
                               generated=as_generated, min_confidence=min_confidence)
        readings = []
        for result in results:
            if result.error is not None:
                from model.reading.images import ImageError

                if result.unreadable:
                    raise ImageError(result.error)
                raise DataError(result.error)  # no string the constraint allows fits
            readings.append(Reading(result.text, result.confidence, result.sure,
                                    result.probability, list(result.alternatives),
                                    result.image))
        return readings[0] if single else readings


def traced(model):
    """The model's call traced once as a TensorFlow graph for any batch and width: an eager
    Keras call of this small network costs a few hundred milliseconds of Python per batch
    (the GRU steps one by one), the graph a few (bench/hostile.py, bench/infer.py)."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, model.input_shape[1], None, 1), tf.float32)
    graph = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda x, training=False: graph(x)


class _ExportedLogits:
    """An exported model as read_images calls a Keras one: ``model(x)`` and ``net``."""

    def __init__(self, exported):
        self.exported = exported
        self.height = exported.height

    def __call__(self, x, training: bool = False):
        if self.exported.width is not None:  # re-pad to the export's fixed width
            return self.exported.logits(self.exported.pad([im[:, :, 0] for im in x]))
        return self.exported.logits(np.asarray(x, np.float32))

    def time_steps(self, width: int) -> int:
        return self.exported.time_steps(width)


def _check_beam(beam_width: Any, top_k: Any) -> None:
    from model.decoding.decode import MAX_BEAM

    for name, value in (("beam_width", beam_width), ("top_k", top_k)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise DataError(f"{name} must be a whole number, got {value!r}")
    if not 1 <= beam_width <= MAX_BEAM or not 1 <= top_k <= beam_width:
        raise DataError(f"top_k must be at least 1 and at most beam_width, and beam_width "
                        f"from 1 to {MAX_BEAM}; got top_k {top_k}, beam_width {beam_width}")


def check_confidence(value: Any) -> float:
    """``value`` as a confidence threshold.

    Raises:
        DataError: not a number from 0 to 1.
    """
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and math.isfinite(value) and 0 <= value <= 1)
    if not ok:
        raise DataError(f"min_confidence must be a number from 0 to 1, got {value!r}")
    return float(value)


def _source(image, index: int | None) -> tuple[Any, str]:
    """What read_images takes for one image (a path, bytes, or a gray float32 array), and
    what error messages call it."""
    from model.reading.images import ImageError

    where = "image" if index is None else f"image {index}"
    if isinstance(image, str | os.PathLike):
        return image, str(image)
    if isinstance(image, bytes | bytearray):
        return bytes(image), where
    if isinstance(image, np.ndarray):
        return gray_from_array(image, where), where
    from PIL import Image

    if isinstance(image, Image.Image):
        from model.reading.images import gray_from_pil

        return gray_from_pil(image, where), where
    raise ImageError(f"{where}: expected a path, bytes, a PIL image or a numpy array, got "
                     f"{type(image).__name__}")


def gray_from_array(array: np.ndarray, name: str = "image") -> np.ndarray:
    """An H x W or H x W x C (C: 1, 3 or 4) array, uint8 or float in [0, 1], as (H, W)
    float32 gray 0..255, as ``model.reading.images.open_gray`` returns a file.

    Raises:
        ImageError: another shape, dtype or value range, or no pixels.
    """
    from model.reading.images import ImageError, gray_from_pil

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: expected an H x W or H x W x 3 (or 4) array, got shape "
                         f"{array.shape}")
    if array.size == 0:
        raise ImageError(f"{name} has no pixels ({array.shape})")
    if array.dtype == np.uint8:
        pixels = array
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ImageError(f"{name}: a float array must hold values in [0, 1]")
        pixels = np.rint(array * 255).astype(np.uint8)
    else:
        raise ImageError(f"{name}: expected uint8, or float in [0, 1], got {array.dtype}")
    from PIL import Image

    mode = "L" if pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    return gray_from_pil(Image.fromarray(np.ascontiguousarray(pixels), mode), name)


__all__ = ["Reader", "Reading", "gray_from_array"]
