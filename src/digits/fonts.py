"""Digits drawn from handwriting fonts, to join MNIST's training pool.

MNIST's writers are American Census Bureau employees and high-school students; the glyphs
that real registers and forms misread most (1s with a long flag, crossed or hooked 7s,
flat-topped 3s, looped 2s, 9s with a straight stem) are rare among them. Handwriting fonts are
digitised from many more hands and school models, so a share of the training pool drawn from
them widens the glyphs the model sees. The composer then treats a font's digit as any MNIST
digit (size, slant, stroke width, elastic displacement, blur), so no two instances are alike.

Each digit is rendered as MNIST's digits were normalised: the glyph's ink fitted into a 20x20
box (aspect kept), anti-aliased, and placed in a 28x28 image by its centre of mass, white ink on
black. Only the training pool gains font digits: validation and test stay MNIST's, so their
figures compare with every earlier model's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DataError

SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
FONT_FILE = "font_digits.npz"  # The rendered pool, beside a dataset's manifest.
RENDER_SIZE = 96  # Font size in pixels: large enough that the 20-pixel fit averages strokes.
BOX = 20  # MNIST's digits fill a 20x20 box inside the 28x28 image.
SIZE = 28
# A thicker outline for part of the instances: thin hairline fonts (a 100 weight) would vanish
# at 20 pixels, and real pens are thicker than most fonts' strokes. Pixels at RENDER_SIZE.
MAX_STROKE = 4
ASPECT = 0.2  # Width changed by up to this fraction: hands write narrower and wider than fonts.
# A private-use code point that handwriting fonts leave undrawn: what a font draws for it is
# its missing-glyph box, which a digit it lacks would look like.
MISSING = "\U0010fffd"


@dataclass(frozen=True, eq=False)
class FontDigits:
    """Digits rendered from fonts.

    Attributes:
        x: (N, 28, 28) uint8 images, white ink on black, as MNIST's.
        y: (N,) uint8 labels 0..9.
        families: the font families drawn from, sorted.
        sha256: hex sha256 of x and y, so a dataset can check the pool it reloads.
    """

    x: np.ndarray
    y: np.ndarray
    families: tuple[str, ...]
    sha256: str


def family_of(path: Path) -> str:
    """A font file's family: its name before the subset ("caveat-latin-400-normal" is
    "caveat"), so that the weights of one family count as one hand."""
    return path.stem.split("-latin")[0]


def find_fonts(folder: str | Path) -> dict[str, list[Path]]:
    """The font files under ``folder`` (any depth), grouped by family, sorted.

    Raises:
        DataError: the folder is missing or holds no font file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"no font folder at {folder}")
    families: dict[str, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in SUFFIXES and p.is_file():
            families.setdefault(family_of(p), []).append(p)
    if not families:
        raise DataError(f"{folder} holds no font file ({', '.join(SUFFIXES)})")
    return families


def _load(path: Path):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), RENDER_SIZE)
    except OSError as e:
        raise DataError(f"cannot read the font {path}: {e}") from None


def _draw(font, text: str, stroke: int):
    from PIL import Image, ImageDraw

    side = 3 * RENDER_SIZE
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((RENDER_SIZE // 2, RENDER_SIZE // 2), text, font=font,
                                fill=255, stroke_width=stroke, stroke_fill=255)
    return canvas


def render_digit(font, digit: int, stroke: int, aspect: float,
                 missing: bytes) -> np.ndarray | None:
    """One digit in MNIST's layout, or None where the font draws nothing for it or only its
    missing-glyph box (``missing``: that box's bytes as ``_draw`` draws it at this stroke)."""
    from PIL import Image

    canvas = _draw(font, str(digit), stroke)
    box = canvas.getbbox()
    if box is None or canvas.tobytes() == missing:
        return None
    glyph = canvas.crop(box)
    w, h = glyph.size
    w = max(1, round(w * aspect))
    scale = BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    glyph = np.asarray(glyph.resize(size, Image.Resampling.LANCZOS), np.float64)
    out = np.zeros((SIZE, SIZE))
    total = glyph.sum()
    if total <= 0:
        return None
    # Centre of mass at the image's centre, as MNIST placed its digits.
    rows, cols = np.indices(glyph.shape)
    top = int(round(SIZE / 2 - (rows * glyph).sum() / total))
    left = int(round(SIZE / 2 - (cols * glyph).sum() / total))
    top = min(max(top, 0), SIZE - glyph.shape[0])
    left = min(max(left, 0), SIZE - glyph.shape[1])
    out[top:top + glyph.shape[0], left:left + glyph.shape[1]] = glyph
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_pool(folder: str | Path, count: int, seed: int) -> FontDigits:
    """About ``count`` digits (rounded up to the same number per family and class), each
    family and digit class drawn equally often, each instance with its own weight file,
    stroke and width.

    Raises:
        DataError: no fonts, an unreadable font, or a family that draws no digits.
    """
    families = find_fonts(folder)
    if count < 1:
        raise DataError(f"the font pool needs at least one digit, got {count}")
    rng = np.random.default_rng(seed)
    per = math.ceil(count / (len(families) * 10))
    fonts = {p: _load(p) for paths in families.values() for p in paths}
    missing: dict[tuple[Path, int], bytes] = {}  # each file's missing-glyph box, per stroke
    images, labels = [], []
    for name, paths in families.items():
        for digit in range(10):
            made = 0
            for _ in range(4 * per):  # a weight file may lack a glyph; others stand in
                if made == per:
                    break
                path = paths[rng.integers(len(paths))]
                stroke = int(rng.integers(0, MAX_STROKE + 1))
                aspect = float(rng.uniform(1 - ASPECT, 1 + ASPECT))
                if (path, stroke) not in missing:
                    missing[path, stroke] = _draw(fonts[path], MISSING, stroke).tobytes()
                image = render_digit(fonts[path], digit, stroke, aspect, missing[path, stroke])
                if image is not None:
                    images.append(image)
                    labels.append(digit)
                    made += 1
            if made < per:
                raise DataError(f"the font family {name!r} draws no digit {digit}")
    x = np.stack(images)
    y = np.asarray(labels, np.uint8)
    return FontDigits(x, y, tuple(families), pool_sha256(x, y))


def pool_sha256(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x, np.uint8).tobytes())
    h.update(np.ascontiguousarray(y, np.uint8).tobytes())
    return h.hexdigest()


def save_pool(pool: FontDigits, directory: Path) -> dict:
    """Write the pool beside a dataset's manifest; returns the manifest's record of it."""
    np.savez_compressed(directory / FONT_FILE, x=pool.x, y=pool.y)
    return {"file": FONT_FILE, "digits": int(len(pool.y)), "families": list(pool.families),
            "sha256": pool.sha256}


def load_pool(directory: str | Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's font digits, checked against its manifest's record.

    Raises:
        DataError: the file is gone, unreadable or not what the dataset was made with.
    """
    path = Path(directory) / record["file"]
    try:
        with np.load(path) as f:
            x, y = f["x"], f["y"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"cannot read the dataset's font digits {path}: {e}") from None
    if pool_sha256(x, y) != record["sha256"]:
        raise DataError(f"{path} differs from the font digits the dataset was made with "
                        "(sha256); regenerate the dataset")
    return x, y
