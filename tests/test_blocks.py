"""digits.blocks: the digit pools of each split, seeded blocks of sequences, the PNG encoder."""

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

import digits.blocks as blocks
from digits.blocks import compose_block
from digits.compose import ComposeConfig
from digits.dataset import Counts, read_labels, write_dataset


def test_val_digits_are_disjoint_from_train_digits(mnist):
    x = mnist.x_train.copy()
    ids = np.arange(len(x))
    x[:, 0, 0], x[:, 0, 1] = ids % 256, ids // 256  # a unique id in the corner
    pools = blocks.split_pools(dataclasses.replace(mnist, x_train=x))
    ids = {s: set((p[0][:, 0, 0].astype(int) + 256 * p[0][:, 0, 1].astype(int)).tolist())
           for s, p in pools.items() if s != "test"}
    assert not ids["train"] & ids["val"]
    assert ids["train"] | ids["val"] == set(range(len(x)))
    assert len(ids["val"]) == len(x) // 10


def test_pngs_on_disk_rebuild_exactly_without_augmentation(tmp_path, mnist):
    cfg = ComposeConfig(augment=False, min_length=1, max_length=4)
    out = tmp_path / "d"
    write_dataset(out, mnist, cfg, Counts(150, 0, 0), seed=3)
    files, texts = read_labels(out / "train")
    pool = blocks.split_pools(mnist)["train"]
    expected = compose_block(pool, "train", 1, 50, cfg, seed=3)  # images 100..149
    for i in range(50):
        image = np.asarray(Image.open(files[100 + i]))
        idx = expected.indices[i]
        assert np.array_equal(image, np.concatenate(list(pool[0][idx]), axis=1))
        assert texts[100 + i] == "".join(str(d) for d in pool[1][idx])


@pytest.mark.parametrize("shape", [(28, 140), (16, 1), (40, 333)])
def test_png_encoder_round_trips_through_pillow(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(blocks.encode_png(image)))
    assert decoded.mode == "L" and np.array_equal(np.asarray(decoded), image)
