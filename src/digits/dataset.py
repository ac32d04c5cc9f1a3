"""The on-disk dataset format: writing it atomically and reading it back.

Layout (the contract the trainer reads)::

    OUT/{train,val,test}/images/000000.png   8-bit grayscale, white ink on black
    OUT/{train,val,test}/labels.csv          header file_name,text; text is the digit string
    OUT/manifest.json                        schema and generator versions, seed, every
                                             parameter, the source and its checksum, counts
                                             per split, sha256 of each labels.csv

or, with ``format="tfrecord"``, sharded TFRecord files instead of the PNG folders
(``digits.shards``): the same images and labels for the same seed.

Where the digits come from:
    train  MNIST's training digits except every tenth one (index % 10 != 9)
    val    every tenth training digit (index % 10 == 9): digits the model never trains on
    test   MNIST's test digits (x_test), whose writers are disjoint from the training writers
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

from digits import __version__, blocks
from digits.compose import ComposeConfig
from digits.errors import DataError
from digits.files import building_dir, check_replaceable, write_json
from digits.fonts import FontDigits, save_pool
from digits.sources import MnistDigits, sha256_file

SCHEMA_VERSION = 1  # PNG datasets: still written as version 1, so every release reads them.
SHARDED_SCHEMA_VERSION = 2  # Adds "format" and, per split, the list of TFRecord shards.
FORMATS = ("png", "tfrecord")
SPLITS = ("train", "val", "test")
TASK_BLOCKS = 5  # Blocks per worker task: a few hundred PNGs amortise the hand-off.


@dataclass(frozen=True)
class Counts:
    train: int = 20_000  # ~25 uses of each embedded training digit per epoch: enough to train on.
    val: int = 2_000  # Enough to see a 0.5% change in exact accuracy.
    test: int = 2_000  # The same 2,000 the benchmarks report.

    def items(self):
        return ((s, getattr(self, s)) for s in SPLITS)


def _encode_task(args) -> tuple[list[str], list[bytes]]:
    """Compose and PNG-encode TASK_BLOCKS blocks of a split: the CPU-bound part."""
    split, first_block, count, cfg, seed = args
    texts, pngs = [], []
    block = first_block
    done = first_block * blocks.BLOCK
    end = min(count, (first_block + TASK_BLOCKS) * blocks.BLOCK)
    while done < end:
        n = min(blocks.BLOCK, end - done)
        chunk = blocks.compose_block(blocks.POOLS[split], split, block, n, cfg, seed)
        pngs.extend(blocks.encode_png(image) for image in chunk.images)
        texts.extend(chunk.texts)
        done += n
        block += 1
    return texts, pngs


def _write_files(images_dir: str, first: int, digits: int, pngs: list[bytes]) -> None:
    for i, data in enumerate(pngs, start=first):
        fd = os.open(os.path.join(images_dir, f"{i:0{digits}d}.png"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _name_digits(count: int) -> int:
    return max(6, len(str(max(count - 1, 0))))


def write_split(root: Path, split: str, count: int, cfg: ComposeConfig, seed: int,
                workers: int, progress) -> str:
    """Write one split's images and labels.csv under root; returns the labels' sha256."""
    images_dir = root / split / "images"
    images_dir.mkdir(parents=True)
    digits = _name_digits(count)
    blocks_needed = -(-count // blocks.BLOCK)
    tasks = [(split, b, count, cfg, seed) for b in range(0, blocks_needed, TASK_BLOCKS)]
    texts: list[str] = []

    def collect(parts):
        # One process writes every file: two writers in one directory contend on the
        # filesystem and write slower than one, while composing and encoding scale.
        for part_texts, pngs in parts:
            _write_files(str(images_dir), len(texts), digits, pngs)
            texts.extend(part_texts)
            progress(len(part_texts))

    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(workers, blocks.quiet_worker) as pool:
            collect(pool.imap(_encode_task, tasks))
    else:
        collect(map(_encode_task, tasks))
    labels = root / split / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file_name", "text"])
        for i, text in enumerate(texts):
            w.writerow([f"images/{i:0{digits}d}.png", text])
    return sha256_file(labels)


def write_dataset(out: Path, mnist: MnistDigits, cfg: ComposeConfig, counts: Counts, seed: int,
                  workers: int = 1, overwrite: bool = False, progress=lambda n: None,
                  fmt: str = "png", shard_size: int | None = None,
                  fonts: FontDigits | None = None) -> dict:
    """Generate a whole dataset at ``out``, atomically.

    Everything is built in a temporary sibling directory that is renamed to ``out`` at the
    end; on any error or interruption it is removed, so ``out`` either holds a complete
    dataset or is untouched.

    Args:
        fmt: "png" (a folder of PNGs and labels.csv per split) or "tfrecord" (shards of
            ``shard_size`` records, digits.shards.SHARD_SIZE by default).
        fonts: digits rendered from handwriting fonts (``digits.fonts``) to join the train
            pool, stored beside the manifest so that training reloads the same pool.

    Returns:
        The manifest, as written to ``out/manifest.json``.
    """
    out = Path(out)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if shard_size is not None and shard_size < 1:
        raise DataError(f"the shard size must be at least 1, got {shard_size}")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; pass --overwrite to replace it")
    check_replaceable(out, "manifest.json", "a dataset")
    with building_dir(out) as tmp:
        extra = None if fonts is None else (fonts.x, fonts.y)
        with blocks.shared_pools(mnist, extra) as pools:
            digits = {s: int(len(p[1])) for s, p in pools.items()}
            for split, count in counts.items():
                if count and not digits[split]:
                    raise DataError(f"the MNIST source has no digits for the {split} split "
                                    f"({blocks.POOL_RULES[split]}); it needs at least 10 "
                                    "training and 1 test digit")
            if fmt == "tfrecord":
                from digits.shards import SHARD_SIZE, write_sharded_splits

                splits = write_sharded_splits(tmp, counts, cfg, seed, workers,
                                              shard_size or SHARD_SIZE, progress)
                header = {"schema_version": SHARDED_SCHEMA_VERSION, "format": fmt,
                          "record": {"image": "bytes: 8-bit grayscale PNG, white ink on black",
                                     "text": "bytes: the label, an ASCII digit string",
                                     "width": "int64: the image width in pixels"}}
            else:
                splits = {}
                for split, count in counts.items():
                    sha = write_split(tmp, split, count, cfg, seed, workers, progress)
                    splits[split] = {"count": count, "labels_sha256": sha}
                header = {"schema_version": SCHEMA_VERSION}
        manifest = {
            **header,
            "generator_version": __version__,
            "seed": seed,
            "compose": cfg.to_dict(),
            "splits": splits,
            "source": {
                "name": mnist.source,
                "origin": mnist.origin,
                "sha256": mnist.sha256,
                "reason": mnist.reason,
                "writer_disjoint_test": mnist.writer_disjoint_test,
                "digits": digits,
                "pools": "; ".join(f"{k}: {v}" for k, v in blocks.POOL_RULES.items()),
            },
        }
        if fonts is not None:
            manifest["source"]["fonts"] = save_pool(fonts, tmp)
        write_json(tmp / "manifest.json", manifest)
    return manifest


# ---------------------------------------------------------------------------- reading


def read_manifest(root: str | os.PathLike) -> dict:
    """The manifest of a dataset directory, checked for the schema this code reads."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{root} has no manifest.json; is it a dataset made by "
                        "python -m digits.sequence_generator?")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is not valid JSON: {e}") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version not in (SCHEMA_VERSION, SHARDED_SCHEMA_VERSION):
        raise DataError(f"{path} has schema version {version!r}; this toolkit reads "
                        f"versions {SCHEMA_VERSION} and {SHARDED_SCHEMA_VERSION}")
    if dataset_format(manifest) not in FORMATS:
        raise DataError(f"{path}: unknown format {manifest['format']!r}; this toolkit reads "
                        f"{', '.join(FORMATS)}")
    _check_fields(manifest, path)
    return manifest


def _check_fields(manifest: dict, path: Path) -> None:
    """The fields the trainer reads have the types the generator writes."""
    try:
        cfg = ComposeConfig(**manifest["compose"])
        sizes = (cfg.height, cfg.min_length, cfg.max_length)
        counts = [manifest["splits"][s]["count"] for s in SPLITS]
    except (KeyError, TypeError) as e:
        raise DataError(f"{path} lacks a field this toolkit reads or has one of the wrong "
                        f"type ({type(e).__name__}: {e}); regenerate the dataset") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes) \
            or not all(isinstance(n, int) and n >= 0 for n in counts):
        raise DataError(f"{path}: compose height and lengths must be positive whole numbers "
                        "and split counts whole numbers; regenerate the dataset")


def dataset_format(manifest: dict) -> str:
    """The dataset's format, "png" or "tfrecord" (version 1 manifests have none: PNG)."""
    return manifest.get("format", "png")


def read_labels(split_dir: str | os.PathLike) -> tuple[list[str], list[str]]:
    """File paths (absolute) and digit strings of a split, checked.

    Raises:
        DataError: no labels.csv, a wrong header, a non-digit label, or a missing image.
    """
    split_dir = Path(split_dir)
    path = split_dir / "labels.csv"
    if not path.is_file():
        raise DataError(f"{path} is missing")
    files, texts, seen = [], [], set()
    # Lexically, not through links: a folder of links to images elsewhere is fine, a name
    # that climbs out of the folder or is absolute is not.
    root = os.path.normpath(split_dir) + os.sep
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["file_name", "text"]:
            raise DataError(f"{path}: the header must be file_name,text, not {header}")
        for line, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise DataError(f"{path}:{line}: expected 2 fields, found {len(row)}")
            name, text = row
            if not text.isascii() or not text.isdigit():
                raise DataError(f"{path}:{line}: label {text!r} is not a digit string")
            image = split_dir / name
            if not os.path.normpath(os.path.join(split_dir, name)).startswith(root):
                raise DataError(f"{path}:{line}: image {name!r} lies outside {split_dir}")
            if name in seen:
                raise DataError(f"{path}:{line}: image {name} is listed twice")
            seen.add(name)
            if not image.is_file():
                raise DataError(f"{path}:{line}: image {name} is missing")
            files.append(str(image))
            texts.append(text)
    if not files:
        raise DataError(f"{path} lists no images")
    return files, texts
