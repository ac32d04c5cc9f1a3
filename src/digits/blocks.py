"""Seeded blocks of sequences: what both dataset formats (``digits.dataset``'s PNG folders
and ``digits.shards``' TFRecord shards) are made of, so that they hold the same images and
labels for the same seed.

Where the digits come from:
    train  MNIST's training digits except every tenth one (index % 10 != 9)
    val    every tenth training digit (index % 10 == 9): digits the model never trains on
    test   MNIST's test digits (x_test), whose writers are disjoint from the training writers

and, where a dataset is made with handwriting fonts (``digits.fonts``), their digits join the
train pool only.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from digits.compose import Chunk, ComposeConfig, compose
from digits.sources import MnistDigits

SPLIT_CODE = {"train": 0, "val": 1, "test": 2}  # Part of each block's seed.
BLOCK = 100  # Sequences composed together: small enough for the CPU cache, large enough
# that numpy's per-call overhead vanishes. Each block has its own seed, so the bytes do not
# depend on how blocks are shared among workers.

POOL_RULES = {"train": "x_train except index % 10 == 9", "val": "x_train index % 10 == 9",
              "test": "x_test"}


def split_pools(mnist: MnistDigits, extra: tuple[np.ndarray, np.ndarray] | None = None,
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The digit pool of each split: train/val from x_train, test from x_test only; ``extra``
    digits (images, labels), such as a font pool's, join the train pool after MNIST's."""
    val = np.arange(len(mnist.x_train)) % 10 == 9
    train = (mnist.x_train[~val], mnist.y_train[~val])
    if extra is not None:
        train = (np.concatenate([train[0], extra[0]]), np.concatenate([train[1], extra[1]]))
    return {
        "train": train,
        "val": (mnist.x_train[val], mnist.y_train[val]),
        "test": (mnist.x_test, mnist.y_test),
    }


def compose_block(pool: tuple[np.ndarray, np.ndarray], split: str, block: int, n: int,
                  cfg: ComposeConfig, seed: int) -> Chunk:
    """Compose block number ``block`` of a split: the same bytes for the same arguments."""
    rng = np.random.default_rng([seed, SPLIT_CODE[split], block])
    return compose(pool[0], pool[1], n, cfg, rng)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: np.ndarray) -> bytes:
    """8-bit grayscale PNG bytes of a (h, w) uint8 image.

    Written directly with zlib because for images this small Pillow's per-image set-up
    costs as much as the compression itself; tests check that Pillow reads these files
    back bit for bit.
    """
    h, w = image.shape
    rows = np.zeros((h, w + 1), np.uint8)  # each row starts with filter type 0 (none)
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _png_chunk(b"IEND", b""))


# Set in the parent before the worker pool forks, so the digit pools are shared, not pickled.
POOLS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


@contextmanager
def shared_pools(mnist: MnistDigits, extra: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> Iterator[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Sets :data:`POOLS` to ``mnist``'s split pools (``split_pools``) for the workers forked
    inside the block, and empties it after."""
    POOLS.clear()
    POOLS.update(split_pools(mnist, extra))
    try:
        yield POOLS
    finally:
        POOLS.clear()


def quiet_worker() -> None:
    """A worker process's initializer: Ctrl-C and SIGTERM are the parent's to handle (it
    stops the pool and removes what was half-written); a worker just ends, without a
    traceback of its own."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
