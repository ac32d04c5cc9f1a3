"""Training images that went through reading's own preparation.

``model.read`` never hands the network a raw image: it prepares it (``model.reading.
preprocess``), and what preparing makes of a scan differs from a generated sequence: the
ink rescaled to a band, strokes thickened, the crop tight, faint strokes cut by the contrast
floor. A network trained only on generated sequences meets that look first at reading time.
This step gives it that look in training: a share of a generated dataset's images is
rendered the way users hand numbers over (``digits.battery``'s renderings: polarity, paper,
a height of 20 to 300 pixels, tight crops and wide margins, JPEG, frames, rules, rotation)
and prepared by ``prepare``, the default way, exactly as ``model.read`` prepares them.

    python -m model.training.prepared SRC OUT [--share 0.5] [--seed 1] [--splits train,val]
        [--workers 2] [--overwrite]

OUT is a dataset like SRC (same labels, same manifest plus a ``prepared`` entry); splits
not named are copied as they are, so the test split stays the generator's own. An image
whose prepared version leaves the network too few time steps for its label keeps its
generated version. The same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from digits.blocks import SPLIT_CODE
from digits.cli import Parser, fail, number, path, progress_bar, sigterm_interrupts
from digits.compose import MIN_WIDTH_PER_DIGIT
from digits.errors import DataError

RENDER_CODE = 11  # part of each image's seed, apart from the battery's and the generator's
TASK = 200  # images per worker task


# Each chosen image is prepared one of these ways, at random: the full preparation
# model.read uses by default, and a light one without line removal and component cleaning,
# so that the network meets both and bench/real.py can tell which reads better.
WAYS = ({}, {"lines": False, "components": False})
# Preparing may erase a digit (a "1" at a tight crop's edge looks like a cell border): an
# image whose ink box came out narrower, for its height, than KEEP of the generated one's
# lost ink, and training on it would teach the network to read digits that are not there.
KEEP = 0.85
INK_LEVEL = 64


def _aspect(image: np.ndarray) -> float:
    rows = np.flatnonzero((image > INK_LEVEL).any(axis=1))
    cols = np.flatnonzero((image > INK_LEVEL).any(axis=0))
    if len(rows) == 0:
        return 0.0
    return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)


def prepare_image(direct: np.ndarray, seed: int, split: str, index: int
                  ) -> tuple[np.ndarray, str]:
    """One generated image (white ink on black, uint8) rendered as a user might hand it
    over and prepared as ``model.read`` prepares it, and how ("full", "light"); the
    generated image and "generated" where preparing lost ink (KEEP) or failed."""
    import dataclasses

    from PIL import Image

    from digits.battery import KINDS, render, rendering_for
    from model.reading.images import ImageError
    from model.reading.preprocess import PrepConfig, prepare

    rng = np.random.default_rng([seed, RENDER_CODE, SPLIT_CODE[split], index])
    rendering = rendering_for(int(rng.integers(len(KINDS) * 1000)), rng)
    data, _ = render(direct, rendering, rng)
    gray = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
    first = int(rng.integers(len(WAYS)))
    for way in (first, 1 - first) if first == 0 else (first,):
        cfg = dataclasses.replace(PrepConfig(height=direct.shape[0]), **WAYS[way])
        try:
            image = prepare(gray, cfg).image
        except (ImageError, ValueError, ArithmeticError, IndexError):
            continue
        if _aspect(image) >= KEEP * _aspect(direct):
            return image, ("full", "light")[way]
    return direct, "generated"


def _task(args) -> list[tuple[int, bytes | None, str]]:
    """Prepare the chosen images of one task: (index, PNG bytes, how) per image, None and
    "generated" where the generated image is kept."""
    from PIL import Image

    from digits.blocks import encode_png

    split_dir, split, seed, rows = args
    out = []
    for index, file, text in rows:
        direct = np.asarray(Image.open(os.path.join(split_dir, file)).convert("L"))
        image, how = prepare_image(direct, seed, split, index)
        if how != "generated" and image.shape[1] < MIN_WIDTH_PER_DIGIT * len(text):
            how = "generated"
        out.append((index, encode_png(image) if how != "generated" else None, how))
    return out


def chosen(count: int, share: float, seed: int, split: str) -> np.ndarray:
    """(count,) bool: the images of a split that are prepared, a fixed draw per seed."""
    rng = np.random.default_rng([seed, RENDER_CODE, SPLIT_CODE[split]])
    return rng.random(count) < share


def _labels(split_dir: Path) -> list[tuple[str, str]]:
    with open(split_dir / "labels.csv", newline="") as f:
        return [(r["file_name"], r["text"]) for r in csv.DictReader(f)]


def prepare_dataset(src: Path, out: Path, share: float, seed: int,
                    splits: tuple[str, ...] = ("train", "val"), workers: int = 2,
                    overwrite: bool = False, log=print) -> dict:
    """Write OUT: SRC with a ``share`` of the images of ``splits`` prepared (module doc),
    atomically (a temporary sibling renamed at the end).

    Returns:
        The manifest written.

    Raises:
        DataError: SRC is not a PNG dataset, a split is unknown, or OUT cannot be written.
    """
    from digits.dataset import dataset_format, read_manifest
    from digits.files import building_dir, check_replaceable, write_json

    manifest = read_manifest(src)
    if dataset_format(manifest) != "png":
        raise DataError(f"{src} is a TFRecord dataset; preparing needs a PNG dataset")
    for split in splits:
        if split not in manifest["splits"]:
            raise DataError(f"{src} has no {split} split (it has "
                            f"{', '.join(manifest['splits'])})")
    if Path(out).resolve() == Path(src).resolve():
        raise DataError("OUT must differ from SRC")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; pass --overwrite to replace it")
    check_replaceable(out, "manifest.json", "a dataset")
    with building_dir(out) as tmp:
        counts = {}
        for split in manifest["splits"]:
            shutil.copytree(src / split, tmp / split, copy_function=_link_or_copy)
            if split in splits:
                counts[split] = _prepare_split(tmp / split, split, share, seed, workers)
        fonts = manifest["source"].get("fonts")
        if fonts:  # the copy's training pool, should it be composed afresh, is the source's
            _link_or_copy(str(src / fonts["file"]), str(tmp / fonts["file"]))
        manifest = {**manifest, "prepared": {
            "share": share, "seed": seed, "splits": counts, "source": str(src),
            "how": "rendered as digits.battery renders, then model.reading.preprocess."
                   "prepare (the default way); too narrow for its label: kept as generated"}}
        write_json(tmp / "manifest.json", manifest)
    log(f"wrote {out}: " + ", ".join(f"{s} {c['prepared']:,} of {c['count']:,} prepared"
                                       for s, c in counts.items()))
    return manifest


def _link_or_copy(a: str, b: str) -> None:
    # The images left as generated are hard links where the filesystem allows: no copy.
    try:
        os.link(a, b)
    except OSError:
        shutil.copy2(a, b)


def _prepare_split(split_dir: Path, split: str, share: float, seed: int,
                   workers: int) -> dict:
    rows = _labels(split_dir)
    picked = np.flatnonzero(chosen(len(rows), share, seed, split))
    tasks = [(str(split_dir), split, seed,
              [(int(i), rows[i][0], rows[i][1]) for i in picked[k:k + TASK]])
             for k in range(0, len(picked), TASK)]
    with progress_bar(len(picked), f"preparing {split}", "img") as bar:
        if workers > 1 and len(tasks) > 1:
            from digits.blocks import quiet_worker

            with multiprocessing.get_context("fork").Pool(workers, quiet_worker) as pool:
                ways = _write(split_dir, rows, pool.imap(_task, tasks), bar)
        else:
            ways = _write(split_dir, rows, map(_task, tasks), bar)
    return {"count": len(rows), "chosen": int(len(picked)),
            "prepared": len(picked) - ways.get("generated", 0), "ways": ways}


def _write(split_dir: Path, rows, results, bar) -> dict[str, int]:
    ways: dict[str, int] = {}
    for part in results:
        for index, png, how in part:
            bar.update()
            ways[how] = ways.get(how, 0) + 1
            if png is None:
                continue
            target = split_dir / rows[index][0]
            target.unlink()  # a hard link to SRC's file: never write through it
            target.write_bytes(png)
    return dict(sorted(ways.items()))


def build_parser() -> Parser:
    p = Parser(prog="python -m model.training.prepared", description=__doc__.splitlines()[0])
    p.add_argument("src", type=path, help="a generated PNG dataset")
    p.add_argument("out", type=path, help="where the dataset with prepared images goes")
    p.add_argument("--share", type=number(float, 0, 1), default=0.5,
                   help="share of each split's images prepared (default 0.5)")
    p.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=1,
                   help="which images, renderings and parameters (default 1)")
    p.add_argument("--splits", default="train,val",
                   help="the splits to prepare, comma-separated (default train,val; the "
                        "test split stays the generator's)")
    p.add_argument("--workers", type=number(int, 1, 64), default=min(2, os.cpu_count() or 1),
                   help="processes preparing images (default: up to 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    splits = tuple(s for s in args.splits.split(",") if s)
    if not splits or any(s not in SPLIT_CODE for s in splits):
        return fail(f"--splits {args.splits!r}: name splits among train, val, test")
    try:
        with sigterm_interrupts():
            prepare_dataset(args.src, args.out, args.share, args.seed, splits, args.workers,
                            args.overwrite, log=lambda m: print(m, file=sys.stderr))
    except DataError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written", 130)
    return 0


if __name__ == "__main__":
    sys.exit(main())
