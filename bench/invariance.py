"""Benchmark what the model is not yet invariant to: every prepared image of a folder changed
one way (narrower or wider, slanted, heavier or lighter strokes, the middle row moved) before
the network reads it.

    python bench/invariance.py RUN_DIR FOLDER... [--half tune|report] [--limit N]
        [--stretch 0.77,0.87,1.15,1.3] [--slant -0.3,-0.15,0.15,0.3] [--weight -0.5,0.5]
        [--waist -0.25,0.25] [--beam-width 10] [--json FILE]

Each image is prepared the six ways model.read prepares it (``model.reading.preprocess``),
then every way is changed the same way and read as model.read reads (the surest way, beam).
A model that had learned the change would read about as well at every value; one that
reads much better at some value than at none (1) has a preference the training data set,
and "any" (right at one value or more) bounds what variety of that kind could buy. Where a
real folder reads best at a value other than 1, the preparation or the training data is off
in that direction. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import report  # noqa: E402
from real import load_folder, prepare_all, read_all  # noqa: E402


def stretch(image: np.ndarray, factor: float) -> np.ndarray:
    """The image resized to ``factor`` times its width, same height (bilinear)."""
    from PIL import Image

    h, w = image.shape
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * factor)), h),
                                                    Image.BILINEAR))


def slant(image: np.ndarray, shear: float) -> np.ndarray:
    """The image sheared: each row shifted by ``shear`` pixels per row above the middle
    (positive leans the tops right), widened so that no ink leaves it."""
    from PIL import Image

    h, w = image.shape
    extra = int(np.ceil(abs(shear) * (h - 1)))
    middle = (h - 1) / 2
    # Output (x, y) samples input (x - shear * (middle - y) - offset, y).
    offset = extra / 2
    data = (1, shear, -shear * middle - offset, 0, 1, 0)
    return np.asarray(Image.fromarray(image).transform((w + extra, h), Image.AFFINE, data,
                                                       resample=Image.BILINEAR))


def weight(image: np.ndarray, amount: float) -> np.ndarray:
    """Strokes made heavier (``amount`` > 0, toward a 3x3 grey dilation) or lighter (< 0,
    toward a grey erosion), as model.training.distort changes a training image's."""
    from scipy import ndimage

    x = image.astype(np.float32)
    other = ndimage.grey_dilation(x, size=3) if amount > 0 else ndimage.grey_erosion(x, size=3)
    return np.clip(x + abs(amount) * (other - x), 0, 255).astype(np.uint8)


def waist(image: np.ndarray, amount: float) -> np.ndarray:
    """The image's middle row moved by ``amount`` of half its height (positive: up, so the
    upper half is squeezed and the lower stretched), the top and bottom rows held, as the
    generator's ``--proportion`` moves a digit's middle (``digits.compose.proportion_field``)."""
    from scipy import ndimage

    from digits.compose import tent

    h, w = image.shape
    # Output row r samples input row r + shift, the shift largest in the middle.
    source = np.arange(h, dtype=np.float32) + amount * (h - 1) / 2 * tent(h)
    coords = np.stack(np.broadcast_arrays(source[:, None], np.arange(w, dtype=np.float32)))
    out = ndimage.map_coordinates(image.astype(np.float32), coords, order=1, mode="nearest")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def unchanged(image: np.ndarray, _value) -> np.ndarray:
    """The image as prepared: the reading every change is measured against."""
    return image


CHANGES = {"stretch": stretch, "slant": slant, "weight": weight, "waist": waist}
NONE = {"stretch": 1.0, "slant": 0.0, "weight": 0.0, "waist": 0.0}


def values(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None


def read_changed(model, net, truths, images, change, value, beam_width):
    """Whether each image reads right (the surest way, beam) with every way changed."""
    changed = [None if ways is None else [None if a is None else change(a, value) for a in ways]
               for ways in images]
    reads, _ = read_all(model, net, changed, None, beam_width, only=("beam",))
    return np.array([t == r for t, r in zip(truths, reads["beam"], strict=True)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folders", type=Path, nargs="+", help="folders with images/ + labels.csv")
    p.add_argument("--half", choices=("tune", "report"), default="tune",
                   help="read this half of each folder (default: tune)")
    p.add_argument("--limit", type=int, help="read this many images per folder (fixed sample)")
    p.add_argument("--stretch", type=values, default=[0.77, 0.87, 1.15, 1.3],
                   help="width factors (default 0.77,0.87,1.15,1.3)")
    p.add_argument("--slant", type=values, default=[-0.3, -0.15, 0.15, 0.3],
                   help="shears, pixels per row (default -0.3,-0.15,0.15,0.3)")
    p.add_argument("--weight", type=values, default=[-0.5, 0.5],
                   help="stroke weight changes (default -0.5,0.5)")
    p.add_argument("--waist", type=values, default=[-0.25, 0.25],
                   help="moves of the middle row, fractions of half the height, + up "
                        "(default -0.25,0.25)")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    for folder in args.folders:
        if not (folder / "labels.csv").is_file():
            p.error(f"{folder} has no labels.csv")

    from model.api import Reader

    model = Reader(args.run, args.beam_width)
    net = model.net
    print(f"model: {model.description}")
    results = {"run": str(args.run), "half": args.half, "folders": {}}
    for folder in args.folders:
        rows = load_folder(folder, args.limit).half(args.half)
        images, _ = prepare_all(rows, net.height, False)

        read = partial(read_changed, model, net, rows.texts, images,
                       beam_width=args.beam_width)
        base = read(unchanged, None)
        entry = {"images": len(rows), "none": float(base.mean()), "changes": {}}
        print(f"\n{folder.name}, {args.half} half, {len(rows)} images: as prepared "
              f"{100 * base.mean():.2f}%")
        for name, change in CHANGES.items():
            chosen = getattr(args, name)
            if not chosen:
                continue
            rights = {v: read(change, v) for v in chosen}
            anyone = np.logical_or.reduce([base, *rights.values()])
            cells = "  ".join(f"{v:+g}: {100 * r.mean():6.2f}%" if name != "stretch"
                              else f"x{v:g}: {100 * r.mean():6.2f}%" for v, r in rights.items())
            print(f"  {name:<8} {cells}  any: {100 * anyone.mean():6.2f}%", flush=True)
            entry["changes"][name] = {"values": {str(v): float(r.mean())
                                                 for v, r in rights.items()},
                                      "any": float(anyone.mean()), "none": NONE[name]}
        results["folders"][folder.name] = entry
    return report(results, "invariance.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
