"""model.training.augment: variants keep the prepared look, are seeded, and stay readable by CTC."""

import numpy as np
import tensorflow as tf

from model.inputs.datasets import Split, make_dataset, steps_needed
from model.network import NetConfig
from model.reading.preprocess import PrepConfig, fit_height
from model.training.augment import augment_image, make_augment
from model.vocab import decode_batch


def prepared_image(width: int = 60) -> np.ndarray:
    ink = np.zeros((40, width), np.float32)
    ink[5:35, 4:10] = ink[5:35, 20:26] = ink[5:10, 30:50] = 255
    return fit_height(ink, PrepConfig())


def test_a_variant_keeps_the_prepared_look():
    def ink_rows(im):
        rows = np.flatnonzero(im.max(axis=1) > 32)
        return rows[-1] - rows[0] + 1

    image = prepared_image()
    variants = [augment_image(image, np.random.default_rng(s)) for s in range(8)]
    for v in variants:
        assert v.dtype == np.uint8 and v.shape[0] == 28 and v.max() == 255
        assert abs(ink_rows(v) - ink_rows(image)) <= 3  # scaled back as prepare scales ink
    assert len({v.shape[1] for v in variants}) > 1  # widths vary
    again = augment_image(image, np.random.default_rng(3))
    np.testing.assert_array_equal(again, variants[3])


def test_augmenting_in_tf_data_keeps_labels_and_enough_time_steps(tmp_path):
    from PIL import Image

    # The third image is wide only through its blank columns: any variant is cropped to its
    # narrow ink, too narrow for "1111", and must give way to the original.
    narrow_ink = np.zeros((28, 40), np.uint8)
    narrow_ink[4:24, 2:8] = 255
    images = [prepared_image(30), prepared_image(40), narrow_ink]
    files, texts = [], ["11", "7", "1111"]
    for i, image in enumerate(images):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(files[-1])
    net = NetConfig()
    split = Split(files, texts, np.array([im.shape[1] for im in images], np.int32))
    ds = make_dataset(split, 3, 28, widths=True, augment=make_augment(net, seed=0))
    seen = set()
    for _ in range(3):  # a new variant every epoch
        x, y, w = next(iter(ds))
        assert x.dtype == tf.float32 and x.shape[1] == 28
        assert decode_batch(y.numpy()) == texts
        for text, width in zip(texts, w.numpy(), strict=True):
            assert net.time_steps(int(width)) >= steps_needed(text)
        assert w[2] == 40
        np.testing.assert_array_equal(x[2, :, :40, 0], narrow_ink)
        seen.add(tuple(w.numpy()[:2]))
    assert len(seen) > 1
