"""Opening user images: every way a file can be wrong is one ImageError, and fuzzing agrees."""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digits.errors import DataError
from model.reading.images import MAX_PIXELS, ImageError, open_gray


def encoded(fmt: str, mode: str = "L", size=(60, 28), **save) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3 if mode == "RGB" else 1), np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if mode != "RGB" else pixels, mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def png_with_header(width: int, height: int, pixels: bytes = b"") -> bytes:
    """A PNG whose IHDR claims any size; IDAT holds ``pixels`` (raw rows), zlib-packed."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt,mode", [("PNG", "L"), ("JPEG", "RGB"), ("BMP", "RGB"),
                                      ("TIFF", "L"), ("PNG", "RGB")])
def test_common_formats_read_as_gray(fmt, mode, tmp_path):
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(encoded(fmt, mode))
    gray = open_gray(path)
    assert gray.shape == (28, 60) and gray.dtype == np.float32
    assert 0 <= gray.min() and gray.max() <= 255
    assert np.array_equal(open_gray(path.read_bytes()), gray)


def test_transparent_pixels_become_paper():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:8, 4:6] = (0, 0, 0, 255)  # black ink on a transparent canvas
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    gray = open_gray(buf.getvalue())
    assert gray[0, 0] == 255 and gray[4, 4] == 0


def test_sixteen_bit_images_are_scaled():
    buf = io.BytesIO()
    Image.fromarray(np.array([[0, 1000], [40000, 65535]], np.uint16)).save(buf, format="PNG")
    gray = open_gray(buf.getvalue())
    assert gray.min() == 0 and gray.max() == 255


def bomb() -> bytes:
    """A real decompression bomb: 10,000 x 10,000 grey pixels in about 100 kB."""
    z = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * 10_000
    data = b"".join(z.compress(row) for _ in range(10_000)) + z.flush()
    return png_with_header(10_000, 10_000, data)


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_text("plain text, not an image"), "not an image"),
    (lambda p: p.write_bytes(b""), "not an image"),
    (lambda p: p.write_bytes(encoded("PNG")[:60]), "corrupt or truncated"),
    (lambda p: p.write_bytes(encoded("JPEG", "RGB")[:300]), "corrupt or truncated"),
    (lambda p: p.write_bytes(png_with_header(8000, 8000)), "megapixel"),
    (lambda p: p.write_bytes(bomb()), "megapixel"),
    (lambda p: p.write_bytes(png_with_header(0, 5)), "pixels|not an image|corrupt"),
    (lambda p: None, "cannot read"),
])
def test_bad_files_are_one_image_error(make, message, tmp_path):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError, match=message) as info:
        open_gray(path)
    assert "\n" not in str(info.value) and isinstance(info.value, DataError)


def test_the_pixel_limit_is_fifty_megapixels():
    assert MAX_PIXELS == 50_000_000


def _mutations():
    seeds = [encoded("PNG"), encoded("JPEG", "RGB"), encoded("BMP", "RGB")]
    return st.tuples(st.sampled_from(seeds),
                     st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                              max_size=12),
                     st.integers(0, 10_000))


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_raise_only_image_errors(data):
    try:
        open_gray(data)
    except ImageError:
        pass


@settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_fuzz_mutated_images_raise_only_image_errors(case):
    seed, flips, cut = case
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    try:
        gray = open_gray(bytes(data[:max(cut, 8)]))
    except ImageError:
        return
    assert gray.ndim == 2 and gray.size > 0
