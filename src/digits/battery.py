"""A renderings battery: labelled images of digit sequences rendered the way users hand
numbers over (a scan, a phone photo, a screenshot), made from MNIST's test digits, each with
the clean composed image it was rendered from.

    python -m digits.battery --out DIR [--count N] [--seed S] [--source ...] [--mnist PATH]
        [--split test|val] [--overwrite]

Each sequence (1 to 6 digits, ``ComposeConfig``'s default augmentation, 28 pixels high, white
ink on black: the generator's test split; ``--split val``: its validation digits, for
fitting apart from measuring) is saved as is under ``direct/`` and rendered one
way under ``images/``: a polarity (``white``: white on black as is, ``inverted``: black on
white, ``paper``: dark ink on a grey paper tone with grain), a height drawn from 20 to 300
pixels, and none, one or two of ``tight`` (cropped to the ink), ``margins`` (wide paper
margins), ``jpeg`` (low quality), ``frame`` (a box around the number), ``rule`` (a line under
or through its foot) and ``rotate`` (a few degrees). The rendering of image ``i`` is fixed by
``i`` (round robin over POLARITIES and EXTRAS), its parameters by the seed and ``i``.

The folder::

    DIR/images/00000.png|.jpg   rendered (grayscale)
    DIR/labels.csv              file_name,text: a labelled folder (model.reading.folder)
    DIR/renderings.csv          file_name,rendering,height (the number's height in pixels,
                                before margins, frame, rule and rotation)
    DIR/direct/00000.png        the composed image each was rendered from
    DIR/direct/labels.csv       file_name,text: direct/ is a labelled folder too
    DIR/battery.json            the settings, seed, source and count

(no manifest.json: the folder is a labelled folder, not a generated dataset). Reading
``images/`` through ``model.read``'s preparation and ``direct/`` as generated images
(``--as-generated``) tells what the preparation costs per rendering: ``bench/battery.py``.
The same seed and source give the same bytes. Pillow and numpy only; no TensorFlow.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.cli import Parser, fail, number, path, progress_bar, sigterm_interrupts
from digits.compose import DIGIT_SIZE, ComposeConfig
from digits.errors import DataError

SCHEMA_VERSION = 1
MARKER = "battery.json"  # what makes a folder a battery that --overwrite may replace
DEFAULT_SEED = 4321  # apart from the generator's 1234, so the battery is not its test split
DEFAULT_COUNT = 600  # 33 renderings x ~18: enough to tell a rendering that fails
MAX_COUNT = 100_000  # file names have five digits
RENDER_CODE = 7  # part of each image's rendering seed, apart from blocks.SPLIT_CODE's 0..2
BLOCK = 100  # sequences composed per call, as digits.blocks composes them
SPLITS = ("test", "val")  # digit pools a battery may draw from (render_battery)

# The composition: the generator's defaults (augmented, 28 high, white on black) at the
# lengths of numbers on forms and registers.
COMPOSE = ComposeConfig(min_length=1, max_length=6)

POLARITIES = ("white", "inverted", "paper")
# The other renderings of an image, by its index modulo len(EXTRAS); len(EXTRAS) = 11 is
# prime to len(POLARITIES), so 33 images in a row cover every polarity x extras pair. Tight
# crops are never rotated (the turned canvas's corners would leave the edges blank) nor
# given margins (the opposite), and a frame or rule is rotated at most with itself.
EXTRAS = (
    (), ("tight",), ("margins",), ("jpeg",), ("frame",), ("rule",), ("rotate",),
    ("tight", "jpeg"), ("margins", "rotate"), ("frame", "jpeg"), ("rule", "rotate"),
)
KINDS = POLARITIES + ("tight", "margins", "jpeg", "frame", "rule", "rotate")

HEIGHT = (20, 300)  # number height in pixels: a small screenshot to a close phone photo
PAPER = (170, 245)  # paper grey level: a dim photo of beige paper to a white scan
INK = (0, 90)  # ink grey level on paper: black marker to a faded blue biro
GRAIN = (2.0, 6.0)  # std of the paper's pixel noise, grey levels: scanner and sensor grain
INK_THRESHOLD = 64  # a direct pixel above this is ink (its noise stays far below)
CORE_THRESHOLD = 128  # ... and above this a stroke's core: where a tight crop cuts
TIGHT_CUT = (0, 1)  # pixels cut past the ink box on each side, at the direct image's scale
MARGIN = (0.5, 2.0)  # paper on each side, in number heights: a photo of a mostly empty cell
JPEG_QUALITY = (15, 40)  # a messaging app's or a web form's recompression
FRAME_GAP = (2.0, 5.0)  # a frame's distance from the ink, in direct-image pixels
LINE = (0.01, 0.04)  # frame and rule thickness in number heights (at least 1 pixel)
RULE_AT = (-0.12, 0.15)  # rule below the ink's foot, in number heights (negative: through)
ROTATION = (3.0, 6.0)  # degrees, either way: a photo taken not quite square


@dataclass(frozen=True)
class Rendering:
    """One image's rendering: a polarity, extras from EXTRAS, the number's height."""

    polarity: str
    extras: tuple[str, ...]
    height: int

    @property
    def name(self) -> str:
        """``paper+jpeg+rotate``: what renderings.csv records."""
        return "+".join((self.polarity, *self.extras))


def rendering_for(index: int, rng: np.random.Generator) -> Rendering:
    """Image ``index``'s rendering: kinds by round robin, the height (log-uniform over
    HEIGHT, so sizes near MNIST's are as common as large ones) from ``rng``."""
    height = int(round(np.exp(rng.uniform(np.log(HEIGHT[0]), np.log(HEIGHT[1])))))
    return Rendering(POLARITIES[index % len(POLARITIES)], EXTRAS[index % len(EXTRAS)],
                     min(max(height, HEIGHT[0]), HEIGHT[1]))


def _ink_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels above ``threshold``, bottom/right exclusive;
    the whole image when none is."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if len(rows) == 0:
        return 0, ink.shape[0], 0, ink.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _resize(ink: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    image = Image.fromarray(np.clip(ink, 0, 255).astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.LANCZOS), np.float32)


def _thickness(height: int, rng: np.random.Generator) -> int:
    return max(1, round(height * rng.uniform(*LINE)))


def _frame(ink: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """A rectangle around the ink, FRAME_GAP from it, with a little paper outside."""
    gap = max(2, round(rng.uniform(*FRAME_GAP) * height / DIGIT_SIZE))
    line = _thickness(height, rng)
    outside = round(rng.uniform(0, gap))
    top, bottom, left, right = _ink_box(ink)
    body = ink[top:bottom, left:right]
    pad = gap + line + outside
    out = np.zeros((body.shape[0] + 2 * pad, body.shape[1] + 2 * pad), np.float32)
    out[pad:pad + body.shape[0], pad:pad + body.shape[1]] = body
    a, b = outside, out.shape[0] - outside  # the frame's outer edge, rows
    c, d = outside, out.shape[1] - outside  # ... columns
    out[a:a + line, c:d] = out[b - line:b, c:d] = 255
    out[a:b, c:c + line] = out[a:b, d - line:d] = 255
    return out


def _rule(ink: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """A horizontal line across the whole image, under or through the ink's foot."""
    line = _thickness(height, rng)
    _, bottom, _, _ = _ink_box(ink)
    at = bottom + round(rng.uniform(*RULE_AT) * height)
    below = max(0, at + line + round(rng.uniform(0.05, 0.2) * height) - ink.shape[0])
    out = np.pad(ink, ((0, below), (0, 0)))
    out[at:at + line] = 255
    return out


def _margins(ink: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    top, bottom, left, right = (round(m * height) for m in rng.uniform(*MARGIN, 4))
    return np.pad(ink, ((top, bottom), (left, right)))


def _rotate(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    degrees = rng.uniform(*ROTATION) * rng.choice((-1, 1))
    image = Image.fromarray(np.clip(ink, 0, 255).astype(np.float32), mode="F")
    return np.asarray(image.rotate(degrees, Image.BILINEAR, expand=True, fillcolor=0.0),
                      np.float32)


def render(direct: np.ndarray, rendering: Rendering, rng: np.random.Generator
           ) -> tuple[bytes, str]:
    """Render a composed image (white ink on black, uint8) as ``rendering`` says.

    Works in ink space (255: ink, 0: paper) until the polarity is applied, so that
    padding, frames, rules and rotation all add paper or ink alike whatever the polarity.

    Returns:
        The encoded image and its file suffix: ".png" (8-bit grayscale) or ".jpg".
    """
    from PIL import Image

    from digits.blocks import encode_png

    ink = direct.astype(np.float32)
    extras = rendering.extras
    if "tight" in extras:
        top, bottom, left, right = _ink_box(direct, CORE_THRESHOLD)
        cut = rng.integers(TIGHT_CUT[0], TIGHT_CUT[1] + 1, 4)
        top, left = top + cut[0], left + cut[2]
        bottom, right = max(top + 1, bottom - cut[1]), max(left + 1, right - cut[3])
        ink = ink[top:bottom, left:right]
    h = rendering.height
    ink = _resize(ink, h)
    if "frame" in extras:
        ink = _frame(ink, h, rng)
    if "rule" in extras:
        ink = _rule(ink, h, rng)
    if "margins" in extras:
        ink = _margins(ink, h, rng)
    if "rotate" in extras:
        ink = _rotate(ink, rng)
    weight = np.clip(ink, 0, 255) / 255
    if rendering.polarity == "white":
        gray = 255 * weight
    elif rendering.polarity == "inverted":
        gray = 255 * (1 - weight)
    else:
        paper, dark = rng.uniform(*PAPER), rng.uniform(*INK)
        gray = paper + (dark - paper) * weight
        gray = gray + rng.normal(0, rng.uniform(*GRAIN), gray.shape)
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    if "jpeg" in extras:
        buffer = io.BytesIO()
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue(), ".jpg"
    return encode_png(gray), ".png"


def direct_folder(root: str | os.PathLike) -> Path:
    """The labelled folder of a battery's direct (composed, unrendered) images."""
    return Path(root) / "direct"


def read_renderings(root: str | os.PathLike) -> dict[str, str]:
    """file_name (as labels.csv names it) -> rendering name, from renderings.csv."""
    with open(Path(root) / "renderings.csv", newline="") as f:
        return {row["file_name"]: row["rendering"] for row in csv.DictReader(f)}


def _write_csv(file: Path, header: list[str], rows) -> None:
    with open(file, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def render_battery(out: Path, count: int, seed: int = DEFAULT_SEED, source: str = "auto",
                   mnist_path: str | None = None, overwrite: bool = False, mnist=None,
                   progress=lambda n: None, split: str = "test") -> dict:
    """Write a battery of ``count`` images at ``out``, atomically (built in a temporary
    sibling, renamed at the end; removed on any error or interruption).

    Args:
        source, mnist_path: the MNIST source, as the generator's ``--source``/``--mnist``.
        mnist: already loaded digits (``digits.sources.MnistDigits``), instead of loading.
        overwrite: replace ``out`` if it is a battery (or empty).
        split: the digit pool (``digits.blocks.split_pools``): ``test`` for measuring;
            ``val``, digits no model of this toolkit trains on either, for fitting what is
            fitted after training (``model.calibrate``) apart from what is measured.

    Returns:
        The settings, as written to battery.json.

    Raises:
        DataError: a bad count, an ``out`` that may not be replaced, unreadable MNIST.
    """
    from digits.blocks import compose_block, encode_png, split_pools
    from digits.files import building_dir, write_json
    from digits.sequence_generator import check_writable
    from digits.sources import load_mnist

    out = Path(out)
    if not 1 <= count <= MAX_COUNT:
        raise DataError(f"--count must be from 1 to {MAX_COUNT:,}, got {count}")
    if split not in SPLITS:
        raise DataError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    check_writable(out, overwrite, MARKER)
    if mnist is None:
        mnist = load_mnist(source, mnist_path)
    pool = split_pools(mnist)[split]
    with building_dir(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "direct").mkdir()
        labels, renderings, direct_labels = [], [], []
        tally: dict[str, int] = {}
        for block in range(-(-count // BLOCK)):
            chunk = compose_block(pool, split, block, min(BLOCK, count - BLOCK * block),
                                  COMPOSE, seed)
            for image, text in zip(chunk.images, chunk.texts, strict=True):
                i = len(labels)
                rng = np.random.default_rng([seed, RENDER_CODE, i])
                rendering = rendering_for(i, rng)
                data, suffix = render(image, rendering, rng)
                name = f"images/{i:05d}{suffix}"
                (tmp / name).write_bytes(data)
                (tmp / "direct" / f"{i:05d}.png").write_bytes(encode_png(image))
                labels.append((name, text))
                direct_labels.append((f"{i:05d}.png", text))
                renderings.append((name, rendering.name, rendering.height))
                tally[rendering.name] = tally.get(rendering.name, 0) + 1
                progress(1)
        _write_csv(tmp / "labels.csv", ["file_name", "text"], labels)
        _write_csv(tmp / "direct" / "labels.csv", ["file_name", "text"], direct_labels)
        _write_csv(tmp / "renderings.csv", ["file_name", "rendering", "height"], renderings)
        settings = {
            "schema_version": SCHEMA_VERSION,
            "what": f"renderings battery: MNIST {split} digits composed (direct/) and "
                    "rendered as users hand numbers over (images/)",
            "count": count,
            "seed": seed,
            "compose": COMPOSE.to_dict(),
            "split": split,
            "polarities": list(POLARITIES),
            "extras": ["+".join(e) for e in EXTRAS],
            "ranges": {k: list(v) for k, v in (
                ("height", HEIGHT), ("paper", PAPER), ("ink", INK), ("grain", GRAIN),
                ("tight_cut", TIGHT_CUT), ("margin", MARGIN), ("jpeg_quality", JPEG_QUALITY),
                ("frame_gap", FRAME_GAP), ("line", LINE), ("rule_at", RULE_AT),
                ("rotation", ROTATION))},
            "renderings": dict(sorted(tally.items())),
            "source": {"name": mnist.source, "origin": mnist.origin, "sha256": mnist.sha256,
                       "reason": mnist.reason,
                       "writer_disjoint_test": mnist.writer_disjoint_test,
                       f"{split}_digits": int(len(pool[1]))},
        }
        write_json(tmp / MARKER, settings)
    return settings


def build_parser() -> Parser:
    from digits.sources import SOURCES

    p = Parser(prog="python -m digits.battery",
               description="Write a renderings battery: MNIST test sequences rendered as "
                           "users hand numbers over, with the composed image of each.")
    p.add_argument("--out", type=path, required=True, help="the battery's directory")
    p.add_argument("--count", type=number(int, 1, MAX_COUNT), default=DEFAULT_COUNT,
                   help=f"images (default {DEFAULT_COUNT}; 1 to {MAX_COUNT:,})")
    p.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=DEFAULT_SEED,
                   help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--source", default="auto", choices=SOURCES,
                   help="MNIST source, as the generator's (default auto)")
    p.add_argument("--mnist", metavar="PATH",
                   help="a local MNIST: Keras-layout .npz, or a folder of the 4 IDX files")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="the digits: test (default, for measuring) or val (for fitting, "
                        "e.g. a calibrator, apart from the test digits)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing battery")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        with sigterm_interrupts():
            from digits.sequence_generator import check_writable
            from digits.sources import load_mnist

            check_writable(args.out, args.overwrite, MARKER)  # before loading MNIST
            mnist = load_mnist(args.source, args.mnist)
            print(f"MNIST: {mnist.source} ({mnist.reason})", file=sys.stderr)
            with progress_bar(args.count, "rendering", "img") as bar:
                render_battery(args.out, args.count, args.seed, overwrite=args.overwrite,
                               mnist=mnist, progress=bar.update, split=args.split)
    except DataError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write {e.filename or args.out}: {e.strerror or e}", 1)
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written", 130)
    print(f"wrote {args.out} ({args.count:,} images, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
