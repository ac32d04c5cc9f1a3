"""Reading image files: prepare each the ways reading tries, run the model once on all of
them, and keep per image the reading the model is surest of.

``model.read`` (the command), ``model.serve`` and ``bench/real.py`` read through here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digits.errors import DataError


@dataclass
class Result:
    """One image's reading, or its error."""

    path: str
    text: str | None = None
    # The chance the reading is right: calibrated where the run has a calibrator
    # (model.reading.calibration), else the model's probability of the string.
    confidence: float | None = None
    probability: float | None = None  # the model's probability of the string
    sure: bool | None = None  # confidence at or above the reader's min_confidence
    # (text, the model's probability of it), best first, text itself first.
    alternatives: list[tuple[str, float]] | None = None
    error: str | None = None
    unreadable: bool = False  # the error is the image's (ImageError), not the constraint's
    # What the model saw: (height, width) uint8, white ink on black (model.serve shows it).
    image: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"image": self.path, "error": self.error}
        return {"image": self.path, "text": self.text, "confidence": self.confidence,
                "sure": self.sure, "probability": self.probability,
                "alternatives": [{"text": t, "probability": c} for t, c in self.alternatives]}


CONSTRAINT_OPTIONS = ("length", "min_length", "max_length", "pattern", "allow")


def make_constraint(options) -> object | None:
    """The Constraint that ``options`` ask for (an object with the CONSTRAINT_OPTIONS as
    attributes, such as the parsed flags, or a mapping of them, such as an API request's),
    or None when none is given."""
    from model.decoding.constraints import Constraint

    get = options.get if isinstance(options, dict) else lambda k: getattr(options, k)
    given = {k: get(k) for k in CONSTRAINT_OPTIONS}
    if all(v is None for v in given.values()):
        return None
    for name in ("pattern", "allow"):
        if given[name] is not None and not given[name]:
            raise DataError(f"--{name} is empty: leave it out to allow any digit string")
    try:
        return Constraint(**given)
    except ValueError as e:
        raise DataError(str(e)) from None


# Prepared images per model call. Padding to a batch's widest image changes what the network
# reads a little (it was trained on padded batches, but no mask hides the padding), so
# everything that reads a folder (model.read, the benchmarks, calibration) batches alike
# and reads each image the same.
READ_BATCH = 128


def save_steps(debug_dir: Path, path: str, steps: dict) -> None:
    from PIL import Image

    stem = Path(path).stem
    debug_dir.mkdir(parents=True, exist_ok=True)
    for label, image in steps.items():
        Image.fromarray(image).save(debug_dir / f"{stem}.{label}.png")


def prepare_ways(gray, prep, name: str = "image", keep_steps: bool = False,
                 generated: bool = False, first_way_only: bool = False,
                 ways: int | None = None) -> list:
    """The image prepared each way reading tries (``model.reading.preprocess.read_variants``;
    one way for ``generated`` images, or with ``first_way_only``; the first ``ways`` of
    them if given), as ``Prepared``, None where a further way finds no ink. An image that
    looks generated (``model.reading.steps.looks_generated``) counts as ``generated`` unless
    ``prep.generated_look`` is off.

    Raises:
        ImageError: the first way, the default, finds no ink, or a step fails on the
            image: the image's own error.
    """
    from model.reading.images import ImageError
    from model.reading.preprocess import as_generated, read_variants
    from model.reading.preprocess import prepare_ways as prepare_each
    from model.reading.steps import looks_generated

    try:
        if generated or (prep.generated_look and looks_generated(gray)):
            return [as_generated(gray, prep.height, name)]
        variants = read_variants(prep)[:1 if first_way_only else ways]
        return prepare_each(gray, variants, name, keep_steps)
    except (ValueError, ArithmeticError, IndexError, MemoryError) as e:
        # An image no step was made for (a shape no test foresaw): that image's error, so
        # that the other images of a batch, or the server, go on.
        raise ImageError(f"{name} could not be prepared ({type(e).__name__}: {e})") from None


def most_confident(per_way: Sequence[Sequence[list | None]]) -> list[tuple[int, list]]:
    """Per image, the readings of the way whose best reading the model is surest of,
    among the ways that read a digit: an image handed over holds a number, and a way that
    kept only a margin or a line may be surest of reading nothing.

    Args:
        per_way: ``per_way[w][i]``: image i's readings (best first) when prepared the w-th
            way; None or [] where that way gave none.

    Returns:
        ``(w, readings)`` per image; ``(0, [])`` where no way gave a reading; the surest
        empty reading where no way read a digit. Ties go to the earlier way.
    """
    chosen = []
    for i in range(len(per_way[0])):
        best_way, best = 0, []
        for w, readings in enumerate(column[i] for column in per_way):
            if readings and (not best or (bool(readings[0].text), readings[0].score)
                             > (bool(best[0].text), best[0].score)):
                best_way, best = w, readings
        chosen.append((best_way, best))
    return chosen


def run_ways(ways: Sequence[Sequence | None], model, net, decoders: dict,
             batch: int = READ_BATCH,
             progress=None) -> tuple[dict[str, list[list]], list[list]]:
    """Run the model once on every way each image was prepared, and decode every way.

    The prepared images of all ways go through the model together, narrowest first, in
    batches of ``batch``: a single image's ways take one call instead of one per way, and
    images of like widths share a batch, so that little of it is padding.

    Args:
        ways: ``ways[i][w]``: image i prepared the w-th way, (height, width) uint8; None
            where that way, or the whole image (``ways[i]``), gave nothing. Images may be
            prepared different numbers of ways (one for a generated image).
        decoders: name -> ``f(logits, lengths)`` returning readings per row, best first
            (``model.decoding.ctc.decode``, ``model.decoding.constraints.constrained_decode``).
        batch: images per model call.
        progress: called with the number of prepared images each batch read (a progress
            bar's ``update``), or None.

    Returns:
        ``per_way``: name -> ``per_way[name][w][i]``, image i's readings the w-th way (None
        where that way gave nothing); and ``entropies[w][i]``: the (mean, largest) entropy
        of the model's frames there (``calibration.frame_entropies``), or None.
    """
    import numpy as np

    from model.inputs.datasets import pad_images
    from model.reading.calibration import frame_entropies

    count = max((len(each) for each in ways if each), default=0)
    per_way = {name: [[None] * len(ways) for _ in range(count)] for name in decoders}
    entropies: list[list] = [[None] * len(ways) for _ in range(count)]
    pairs = [(i, w) for i, each in enumerate(ways) if each
             for w, image in enumerate(each) if image is not None]
    pairs.sort(key=lambda pair: ways[pair[0]][pair[1]].shape[1])  # stable: ties keep order
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        images = [ways[i][w] for i, w in chunk]
        logits = np.asarray(model(pad_images(images, np.float32), training=False))
        lengths = [net.time_steps(im.shape[1]) for im in images]
        for row, ((i, w), length) in enumerate(zip(chunk, lengths, strict=True)):
            entropies[w][i] = frame_entropies(logits[row], length)
        for name, decode in decoders.items():
            for (i, w), readings in zip(chunk, decode(logits, lengths), strict=True):
                per_way[name][w][i] = readings
        if progress is not None:
            progress(len(chunk))
    return per_way, entropies


def read_ways(ways: Sequence[Sequence | None], model, net, decoders: dict,
              batch: int = READ_BATCH) -> dict[str, list[tuple[int, list]]]:
    """Run the model on every way each image was prepared, once, and keep per image the
    way whose best reading the model is surest of, for each decoder (``run_ways``'s
    arguments).

    Returns:
        name -> ``(w, readings)`` per image, as ``most_confident`` gives it.
    """
    per_way, _ = run_ways(ways, model, net, decoders, batch)
    return {name: most_confident(columns) if columns else [(0, [])] * len(ways)
            for name, columns in per_way.items()}


def agreement(columns: Sequence[Sequence[list | None]], i: int, text: str) -> float:
    """The share of the ways that gave image i a reading whose best reading is ``text``
    (``columns[w][i]``: its readings the w-th way, best first; None or [] where none)."""
    texts = [column[i][0].text for column in columns if column[i]]
    return sum(t == text for t in texts) / len(texts) if texts else 0.0


def chosen_signals(columns: Sequence[Sequence[list | None]], entropies: Sequence[Sequence],
                   chosen: Sequence[tuple[int, list]], ways: Sequence[Sequence | None]):
    """The calibration signals (``calibration.signals``) of each image's kept reading.

    Args:
        columns: ``columns[w][i]``, one decoder's readings per way (``run_ways``).
        entropies: ``run_ways``'s entropies.
        chosen: ``most_confident(columns)``.
        ways: what ``run_ways`` read (``ways[i]``: image i's ways, or None).

    Returns:
        (images, len(SIGNALS)) float64, a row of NaN where an image has no reading.
    """
    import numpy as np

    from model.reading.calibration import SIGNALS, signals

    out = np.full((len(chosen), len(SIGNALS)), np.nan)
    for i, (w, found) in enumerate(chosen):
        if found:
            out[i] = signals([r.score for r in found], found[0].text,
                             agreement(columns, i, found[0].text), *entropies[w][i],
                             ways=len(ways[i]))
    return out


def read_images(paths: Sequence[str | os.PathLike | bytes], model, net, constraint=None,
                top_k: int = 1, beam_width: int = 10, debug_dir: Path | None = None, prep=None,
                names: Sequence[str] | None = None, generated: bool = False,
                calibrator=None, min_confidence: float = 0.0) -> list[Result]:
    """Preprocess each image the ways reading tries, run the model on all of them, and
    keep per image the reading the model is surest of.

    Args:
        paths: image files, their bytes (an upload to model.serve), or images already
            read as (h, w) float32 gray 0..255 (``model.api`` hands arrays over so).
        names: what each Result calls its image (default: the path as given).
        generated: the images look like the training sequences already: only polarity
            and height are fixed (``model.reading.preprocess.as_generated``), not ``prepare``.
        calibrator: turns each reading's signals into its confidence
            (``model.reading.calibration.Calibrator``); None: the model's probability.
        min_confidence: a reading below it is not ``sure`` (still given).

    Returns:
        One Result per path, in order, with the model's input image for the kept reading;
        unreadable images carry their error.
    """
    from model.reading.images import open_gray
    from model.reading.preprocess import PrepConfig

    prep = prep or PrepConfig(height=net.height)
    names = [str(p) for p in paths] if names is None else list(names)
    results = [Result(name) for name in names]
    ready: list[tuple[int, list]] = []
    for i, (source, name) in enumerate(zip(paths, names, strict=True)):
        try:
            gray = source if hasattr(source, "ndim") else open_gray(source, name)
            ways = prepare_ways(gray, prep, name, debug_dir is not None, generated)
        except DataError as e:
            results[i].error = str(e)
            results[i].unreadable = True
            continue
        if debug_dir is not None:
            save_steps(debug_dir, name, ways[0].steps)
        ready.append((i, [w.image if w is not None else None for w in ways]))
    # Two readings at least where the beam holds two, for the margin between the best and
    # the next (the best reading is the same however many are kept).
    paths_kept = min(max(top_k, 2), beam_width)
    if constraint is not None:
        from model.decoding.constraints import constrained_decode

        def decode(logits, lengths):
            return constrained_decode(logits, constraint, lengths, beam_width, paths_kept)
    else:
        from model.decoding.decode import reading_beam

        decode = reading_beam(beam_width, paths_kept)
    read = [ways for _, ways in ready]
    per_way, entropies = run_ways(read, model, net, {"read": decode})
    columns = per_way["read"]
    chosen = most_confident(columns) if columns else [(0, [])] * len(ready)
    found_signals = chosen_signals(columns, entropies, chosen, read)
    for (i, ways), (w, found), x in zip(ready, chosen, found_signals, strict=True):
        results[i].image = ways[w]
        if debug_dir is not None:
            from PIL import Image

            debug_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ways[w]).save(debug_dir / f"{Path(names[i]).stem}.9_read.png")
        if not found:
            needed = int(constraint.automaton.distance[constraint.automaton.start])
            steps = net.time_steps(ways[w].shape[1])
            room = (f"; the image gives {steps} time steps, and {needed} digits need at least "
                    f"{needed}" if needed > steps else "")
            results[i].error = (f"{names[i]}: no reading satisfies the constraint "
                                f"({constraint.describe()}){room}")
            continue
        probability = math.exp(found[0].score)
        confidence = probability if calibrator is None else float(calibrator(x)[0])
        results[i].text = found[0].text
        results[i].probability = float(f"{probability:.4g}")
        results[i].confidence = float(f"{confidence:.4g}")
        results[i].sure = results[i].confidence >= min_confidence
        results[i].alternatives = [(r.text, float(f"{math.exp(r.score):.4g}"))
                                   for r in found[:top_k]]
    return results
