"""Labelled folders of real images: what fine-tuning trains on and evaluation scores.

A labelled folder is::

    DIR/images/...        the images, any format model.reading.images reads
    DIR/labels.csv        header file_name,text; file_name relative to DIR, text the digits

(the layout of one split of a generated PNG dataset, without manifest.json). Every image
goes through ``model.reading.preprocess.prepare``, as ``model.read`` does, and the prepared images
are written as PNGs to a scratch directory, so that the trainer and the evaluator read
them as a PNG ``model.inputs.datasets.Split``: training sees exactly what reading sees.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.cli import DATA_DIR
from digits.errors import DataError
from model.inputs.datasets import Split, steps_needed, too_narrow
from model.network import NetConfig

HOLDOUT_SALT = "icr-holdout"  # salts the validation hash inside fine-tuning
# Salts the tune/report split (``half``): every setting is chosen on a folder's tune half and
# figures are reported on its report half (docs/benchmarks.md, "Measuring on real folders").
HALF_SALT = "tune-report"
HALVES = ("tune", "report")


@dataclass
class Folder:
    """The rows of a labelled folder's labels.csv.

    Attributes:
        root: the folder.
        names: file_name as written in labels.csv (relative to root).
        files: the image paths.
        texts: the digit strings.
    """

    root: Path
    names: list[str]
    files: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, keep) -> Folder:
        """The rows at the given indices, or where a boolean mask is true."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else keep
        return Folder(self.root, [self.names[i] for i in idx], [self.files[i] for i in idx],
                      [self.texts[i] for i in idx])

    def half(self, which: str) -> Folder:
        """The rows of the tune or report half (``half``)."""
        if which not in HALVES:
            raise ValueError(f"a half is one of {HALVES}, not {which!r}")
        return self.subset(np.array([half(n) == which for n in self.names], bool))


def find_folder(name_or_path: str) -> Path | None:
    """The labelled folder a dataset argument names, or None when it names a generated
    dataset (a directory with manifest.json) or nothing.

    A directory without manifest.json counts as a labelled folder when it holds labels.csv
    or an images/ folder, so that a missing labels.csv is reported as such.
    """
    path = Path(name_or_path)
    candidates = [path] if path.is_absolute() or len(path.parts) > 1 else [DATA_DIR / path, path]
    for c in candidates:
        if (c / "manifest.json").is_file():
            return None
        if (c / "labels.csv").exists() or (c / "images").is_dir():
            return c
    return None


def read_folder(root: Path) -> Folder:
    """Read and check a labelled folder's labels.csv.

    Raises:
        DataError: no labels.csv, a header other than file_name,text, a row without two
            fields, a label that is not a digit string, or a listed image that is missing.
    """
    from digits.dataset import read_labels

    root = Path(root)
    files, texts = read_labels(root)
    names = [os.path.relpath(f, root) for f in files]
    return Folder(root, names, files, texts)


def in_holdout(name: str, fraction: float, salt: str = HOLDOUT_SALT) -> bool:
    """Whether a file_name falls in the held-out part: a stable hash of the name (sha256,
    salted) below ``fraction`` of its range. The same name always lands on the same side,
    whatever the folder's order or its other images, so adding images to a folder never
    moves old ones between training and validation."""
    digest = hashlib.sha256(f"{salt}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2.0**64


def half(name: str) -> str:
    """The half of its folder a file_name belongs to, "tune" or "report": a stable hash
    of the name alone (``in_holdout`` with HALF_SALT), so it never depends on the folder's
    order or its other images, and is salted apart from fine-tuning's validation hold-out."""
    return "report" if in_holdout(name, 0.5, HALF_SALT) else "tune"


def holdout_mask(folder: Folder, fraction: float) -> np.ndarray:
    """(n,) bool: the images held out for validation."""
    return np.array([in_holdout(n, fraction) for n in folder.names], bool)


@dataclass
class Prepared:
    """A folder's images after ``prepare``, as a PNG Split, and what could not be used.

    Attributes:
        split: the prepared images (PNGs in a scratch directory) and their labels.
        names: file_name of each image of the split, in order.
        unreadable: {file_name: reason} for images that could not be read or prepared.
    """

    split: Split
    names: list[str]
    unreadable: dict[str, str]


@dataclass
class FolderWays:
    """A folder's images, each prepared the ways reading tries.

    Attributes:
        ways: per readable image, its prepared ways ((height, width) uint8, white ink on
            black; None where a further way finds no ink), the default way first.
        rows: the folder row of each entry of ``ways``.
        unreadable: {file_name: reason} for images that could not be read or prepared.
    """

    ways: list[list]
    rows: list[int]
    unreadable: dict[str, str]


def prepare_folder_ways(folder: Folder, height: int, skip_unreadable: bool = False,
                        log=print, first_way_only: bool = False,
                        generated: bool = False, prep=None,
                        ways: int | None = None) -> FolderWays:
    """Prepare every image of a folder as ``model.read`` prepares it
    (``model.reading.reader.prepare_ways``): the one way a labelled folder's images are
    prepared, for evaluation, fine-tuning and bench/real.py alike.

    Args:
        first_way_only: only the default way (fine-tuning trains on one image each).
        generated: the images look like the training sequences: polarity and height only
            (``model.read --as-generated``).
        skip_unreadable: leave out images that cannot be read or hold no ink (and list
            them) instead of failing.
        prep: the PrepConfig to start from (default: PrepConfig's, at ``height``); ways:
            only the first this many ways (bench/real.py measures both).

    Raises:
        DataError: an image cannot be read or prepared (it is named), unless skipped; or
            no image is left.
    """
    from digits.cli import progress_bar
    from model.reading.images import ImageError, open_gray
    from model.reading.preprocess import PrepConfig
    from model.reading.reader import prepare_ways

    prep = prep or PrepConfig(height=height)
    out = FolderWays([], [], {})
    with progress_bar(len(folder), "preparing images", "img") as bar:
        for i, (name, path) in enumerate(zip(folder.names, folder.files, strict=True)):
            bar.update()
            try:
                prepared = prepare_ways(open_gray(path), prep, path, generated=generated,
                                        first_way_only=first_way_only, ways=ways)
            except ImageError as e:
                if not skip_unreadable:
                    raise DataError(f"{e} (--skip-corrupt leaves such images out)") from None
                out.unreadable[name] = str(e)
                continue
            out.ways.append([w.image if w is not None else None for w in prepared])
            out.rows.append(i)
    if out.unreadable:
        first = next(iter(out.unreadable.values()))
        log(f"left out {len(out.unreadable)} image{'s' * (len(out.unreadable) > 1)} that "
            f"could not be read or hold no ink (first: {first})")
    if not out.ways:
        raise DataError(f"{folder.root}: no image could be read")
    return out


def prepare_folder(folder: Folder, height: int, out_dir: Path, skip_unreadable: bool = False,
                   log=print) -> Prepared:
    """Prepare every image of a folder the default way (``prepare_folder_ways``) for a
    model ``height`` pixels high and write it as a PNG in ``out_dir``, so that the trainer
    reads the folder as a PNG Split.

    Raises:
        DataError: as ``prepare_folder_ways``.
    """
    from PIL import Image

    prepared = prepare_folder_ways(folder, height, skip_unreadable, log, first_way_only=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    files, widths = [], []
    for (image,), i in zip(prepared.ways, prepared.rows, strict=True):
        out = out_dir / f"{i:06d}.png"
        Image.fromarray(image).save(out, compress_level=1)
        files.append(str(out))
        widths.append(image.shape[1])
    texts = [folder.texts[i] for i in prepared.rows]
    names = [folder.names[i] for i in prepared.rows]
    return Prepared(Split(files, texts, np.array(widths, np.int32)), names,
                    prepared.unreadable)


def drop_too_narrow(prepared: Prepared, net: NetConfig, log=print) -> tuple[Prepared, dict]:
    """Leave out the images too narrow for their label: CTC cannot emit a label from fewer
    time steps than ``model.inputs.datasets.steps_needed`` (a digit each, plus a blank between equal
    neighbours), and training on one would make the loss infinite.

    Returns:
        The rest, and {file_name: "label 'NN' needs N time steps, the image gives M"}.
    """
    split = prepared.split
    bad = set(too_narrow(split, net).tolist())
    if not bad:
        return prepared, {}
    dropped = {}
    for i in sorted(bad):
        text = split.texts[i]
        dropped[prepared.names[i]] = (f"label {text!r} needs {steps_needed(text)} time steps, "
                                      f"the prepared image gives "
                                      f"{net.time_steps(int(split.widths[i]))}")
    keep = [i for i in range(len(split)) if i not in bad]
    name, why = next(iter(dropped.items()))
    log(f"left out {len(bad)} image{'s' * (len(bad) > 1)} too narrow for their labels once "
        f"prepared (first: {name}: {why})")
    rest = Split([split.files[i] for i in keep], [split.texts[i] for i in keep],
                 split.widths[keep])
    return Prepared(rest, [prepared.names[i] for i in keep], prepared.unreadable), dropped
