"""TFRecord framing and Examples written without TensorFlow, read back by TensorFlow."""

import numpy as np
import pytest
import tensorflow as tf

from digits.blocks import encode_png
from digits.tfrecord import (
    CorruptRecord,
    decode_example,
    encode_example,
    frame,
    masked_crc32c,
    read_records,
    scan,
)


def write(path, records):
    with open(path, "wb") as f:
        for r in records:
            f.write(frame(r))
    return path


def examples(n=3):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, w), dtype=np.uint8) for w in (60, 200, 1)[:n]]
    texts = ["007", "1234567890" * 3, "5"][:n]
    return images, texts, [encode_example(encode_png(im), t, im.shape[1])
                           for im, t in zip(images, texts, strict=True)]


@pytest.mark.parametrize("data,crc", [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),  # the CRC-32C check value
])
def test_crc32c_is_castagnoli_and_masked_as_tensorflow_does(data, crc):
    import google_crc32c

    assert google_crc32c.value(data) == crc
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert masked_crc32c(data) == (rotated + 0xA282EAD8) & 0xFFFFFFFF


def test_tensorflow_reads_the_records_and_examples(tmp_path):
    images, texts, records = examples()
    path = write(tmp_path / "a.tfrecord", records)
    read = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert read == records
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "text": tf.io.FixedLenFeature([], tf.string),
            "width": tf.io.FixedLenFeature([], tf.int64)}
    for record, image, text in zip(read, images, texts, strict=True):
        ex = tf.io.parse_single_example(record, spec)
        assert ex["text"].numpy().decode() == text
        assert int(ex["width"]) == image.shape[1]
        np.testing.assert_array_equal(tf.io.decode_png(ex["image"])[:, :, 0].numpy(), image)
        proto = tf.train.Example.FromString(record)  # the protobuf library agrees too
        assert proto.features.feature["width"].int64_list.value == [image.shape[1]]
        # ...and its own serialization parses with ours
        assert decode_example(proto.SerializeToString())[1:] == (text, image.shape[1])


def test_examples_round_trip_and_are_deterministic():
    images, texts, records = examples()
    assert records == examples()[2]
    for record, image, text in zip(records, images, texts, strict=True):
        png, t, w = decode_example(record)
        assert (png, t, w) == (encode_png(image), text, image.shape[1])
    with pytest.raises(ValueError):
        decode_example(b"\x0a\x05hello")


def test_a_flipped_byte_and_a_cut_are_found(tmp_path):
    _, _, records = examples()
    good = write(tmp_path / "g.tfrecord", records).read_bytes()
    assert list(read_records(tmp_path / "g.tfrecord")) == records

    flipped = bytearray(good)
    flipped[20] ^= 1  # inside the first record's data
    (tmp_path / "f.tfrecord").write_bytes(bytes(flipped))
    with pytest.raises(CorruptRecord, match="byte 0"):
        list(read_records(tmp_path / "f.tfrecord"))
    found = scan(tmp_path / "f.tfrecord")
    assert found.bad == 1 and len(found.readable) == 2  # the records after it are kept

    (tmp_path / "t.tfrecord").write_bytes(good[:-10])
    found = scan(tmp_path / "t.tfrecord")
    assert found.bad == 1 and len(found.readable) == 2
    with pytest.raises(tf.errors.DataLossError):  # TensorFlow agrees that it is damaged
        list(tf.data.TFRecordDataset(str(tmp_path / "t.tfrecord")))
