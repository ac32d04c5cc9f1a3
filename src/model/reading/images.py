"""Opening a user's image files safely: anything wrong is one ``ImageError`` line.

Pillow reads PNG, JPEG, BMP, TIFF, GIF and WebP. Its own failures come as several exception
types and a warning (decompression bombs); here they all become ``ImageError``, a
``DataError``, so a command can report the file and go on with the next one.
"""

from __future__ import annotations

import io
import os
import struct
import warnings

import numpy as np

from digits.errors import DataError

MAX_PIXELS = 50_000_000  # 50 megapixels: a 7,000 x 7,000 scan; larger is refused unread.
# Larger images are brought down to this many pixels on their long side as they are read
# (a whole-number box reduction): a handwritten number never needs more, and every later
# step then costs a bounded time whatever the file held.
WORK_SIDE = 1600


class ImageError(DataError):
    """An image that cannot be read: not an image, corrupt, empty or too large."""


def open_gray(source: str | os.PathLike | bytes, name: str | None = None) -> np.ndarray:
    """Read an image file (path or bytes) as grayscale.

    Transparent pixels become white paper, and the EXIF orientation of photos is applied.
    Only the first frame of a multi-page file is read.

    Args:
        source: a path, or the file's bytes.
        name: what error messages call the image (default: the path, or "image").

    Returns:
        (height, width) float32 in 0..255.

    Raises:
        ImageError: the file is missing, not an image, truncated or corrupt, has no pixels,
            or has more than MAX_PIXELS pixels (checked from the header, before decoding).

    An image over WORK_SIDE pixels on its long side comes back reduced to at most that.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb check, at open
    if name is None:
        name = "image" if isinstance(source, bytes) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as e:
        raise ImageError(f"cannot read {name}: {e.strerror or e}") from None
    with stream, warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises at twice that; here both refuse.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(stream) as im:
                width, height = im.size
                _check_size(width, height, name)  # from the header, before decoding
                im.seek(0)
                factor = -(-max(width, height) // WORK_SIDE)
                if factor > 1 and im.format == "JPEG":
                    # JPEG decodes at 1/2, 1/4 or 1/8 scale directly: less time and memory.
                    im.draft(im.mode, (width // factor, height // factor))
                gray = gray_from_pil(ImageOps.exif_transpose(im), name)
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"{name} is not an image Pillow can read") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageError(f"{name} looks like a decompression bomb (over "
                             f"{MAX_PIXELS // 1_000_000} megapixels once decoded)") from None
        except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError,
                EOFError, MemoryError, ZeroDivisionError, struct.error) as e:
            # Corrupt or truncated files surface as any of these from Pillow's decoders.
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ImageError(f"{name} is corrupt or truncated ({detail})") from None
    return gray


def gray_from_pil(im, name: str = "image") -> np.ndarray:
    """A Pillow image of any mode as (h, w) float32 gray 0..255, brought down to WORK_SIDE
    pixels on its long side (what ``open_gray`` returns for a file).

    Raises:
        ImageError: no pixels, or more than MAX_PIXELS.
    """
    width, height = im.size
    _check_size(width, height, name)
    factor = -(-max(width, height) // WORK_SIDE)
    if factor > 1:
        im = im.reduce(factor)
    return _to_gray(im)


def _check_size(width: int, height: int, name: str) -> None:
    if width == 0 or height == 0:
        raise ImageError(f"{name} has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} is {width}x{height} pixels, over the "
                         f"{MAX_PIXELS // 1_000_000} megapixel limit")


def _to_gray(im) -> np.ndarray:
    """A Pillow image of any mode as (h, w) float32 0..255, alpha composited on white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return ((a - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(a)).astype(np.float32)
    if "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(paper, rgba)
    return np.asarray(im.convert("L"), dtype=np.float32)
