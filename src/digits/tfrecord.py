"""TFRecord files without TensorFlow: the record framing and the few tf.train.Example fields
this toolkit stores.

Importing TensorFlow costs seconds, and the generator's workers only need to append bytes to
a file, so both the framing and the protobuf encoding are written here directly; the tests
check that ``tf.data.TFRecordDataset`` and ``tf.io.parse_single_example`` read them back.

A TFRecord file is a sequence of records, each::

    uint64 length of data, little-endian
    uint32 masked CRC-32C of those 8 length bytes
    data   (here: a serialized tf.train.Example)
    uint32 masked CRC-32C of data

One record per sequence, an Example with three features::

    image  bytes_list: the 8-bit grayscale PNG (digits.blocks.encode_png)
    text   bytes_list: the label, an ASCII digit string ("007")
    width  int64_list: the image width in pixels, so readers need not decode the PNG
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # length (8) + its CRC (4)
_FOOTER = 4


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C: rotated and offset so that CRCs of CRCs stay well spread."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord record holding ``data``."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length)) + data
            + struct.pack("<I", masked_crc32c(data)))


# ----------------------------------------------------------------- protobuf, minimal


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(name: str, feature: bytes) -> bytes:
    # Features.feature is map<string, Feature>: each entry is a message {1: key, 2: value}.
    return _field(1, _field(1, name.encode()) + _field(2, feature))


def encode_example(png: bytes, text: str, width: int) -> bytes:
    """A serialized tf.train.Example with the ``image``, ``text`` and ``width`` features.

    The features are always written in this order, so the same inputs give the same bytes.
    """
    image = _field(1, _field(1, png))  # Feature.bytes_list (1) {value (1)}
    label = _field(1, _field(1, text.encode("ascii")))
    size = _field(3, _field(1, _varint(width)))  # Feature.int64_list (3) {packed value (1)}
    features = _feature("image", image) + _feature("text", label) + _feature("width", size)
    return _field(1, features)  # Example.features (1)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a protobuf message; values of unknown types skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            value = 0
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _messages(data: bytes, number: int) -> Iterator[bytes]:
    """The length-delimited values of field ``number``: embedded messages, bytes, strings."""
    for n, wire, value in _fields(data):
        if n == number and wire == 2:
            yield value


def _feature_value(feature: bytes) -> bytes | int | None:
    """The first value of a Feature's bytes_list (field 1) or int64_list (field 3)."""
    for kind, wire, values in _fields(feature):
        if wire != 2 or kind not in (1, 3):
            continue
        for number, wire, value in _fields(values):
            if number != 1:
                continue
            if kind == 1 and wire == 2:
                return value
            if kind == 3:  # packed (wire 2) or not (wire 0)
                return _read_varint(value, 0)[0] if wire == 2 else value
    return None


def decode_example(data: bytes) -> tuple[bytes, str, int]:
    """(png, text, width) of an Example written by :func:`encode_example`.

    Raises:
        ValueError: the bytes are not such an Example.
    """
    found: dict[bytes, bytes | int | None] = {}
    for features in _messages(data, 1):
        for entry in _messages(features, 1):
            keys, values = list(_messages(entry, 1)), list(_messages(entry, 2))
            if keys and values:
                found[keys[0]] = _feature_value(values[0])
    png, text, width = found.get(b"image"), found.get(b"text"), found.get(b"width")
    if not isinstance(png, bytes) or not isinstance(text, bytes) or not isinstance(width, int):
        raise ValueError("not an Example with image, text and width features")
    return png, text.decode("ascii", "replace"), width


# ----------------------------------------------------------------- reading files


class CorruptRecord(ValueError):
    """A record whose length, checksum or contents are wrong, at ``offset`` in its file."""

    def __init__(self, offset: int, reason: str):
        super().__init__(f"{reason} at byte {offset}")
        self.offset = offset


def read_records(path: str | Path) -> Iterator[bytes]:
    """The data of every record in a TFRecord file, checked as TensorFlow checks them.

    Raises:
        CorruptRecord: at the first truncated record or failed checksum.
    """
    for offset, data in _records(path):
        if data is None:
            raise CorruptRecord(offset, "checksum mismatch or truncated record")
        yield data


def _records(path) -> Iterator[tuple[int, bytes | None]]:
    """(offset, data) per record; data None for a record that fails its data checksum or is
    cut short. A record whose length field fails its checksum ends the file: nothing after
    it can be located."""
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(_HEADER)
            if not header:
                return
            if len(header) < _HEADER:
                yield offset, None
                return
            length, crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != crc:
                yield offset, None
                return
            body = f.read(length + _FOOTER)
            if len(body) < length + _FOOTER:
                yield offset, None
                return
            data = body[:length]
            ok = struct.unpack("<I", body[length:])[0] == masked_crc32c(data)
            yield offset, data if ok else None
            offset += _HEADER + length + _FOOTER


@dataclass
class Scan:
    """What can be read of a damaged TFRecord file.

    Attributes:
        readable: (offset of the data, length) of every record that passes its checksums and
            holds an Example with an image, a digit-string text and a width.
        bad: records seen that fail (a record whose length field is damaged ends the scan:
            the records after it cannot be located, and are not counted here).
    """

    readable: list[tuple[int, int]]
    bad: int


def scan(path: str | Path) -> Scan:
    """Check every record of a file; never raises for damaged contents."""
    readable, bad = [], 0
    for offset, data in _records(path):
        try:
            if data is None:
                raise ValueError
            png, text, _ = decode_example(data)
            if not png.startswith(b"\x89PNG") or not text.isascii() or not text.isdigit():
                raise ValueError
        except ValueError:
            bad += 1
            continue
        readable.append((offset + _HEADER, len(data)))
    return Scan(readable, bad)


def read_at(path: str | Path, spans: list[tuple[int, int]]) -> Iterator[bytes]:
    """The record data at the given (offset, length) spans of a file, as found by :func:`scan`."""
    with open(path, "rb") as f:
        for offset, length in spans:
            f.seek(offset)
            yield f.read(length)
