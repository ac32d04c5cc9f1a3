"""model.reading.reader: preparing an image each way, and keeping the surest way's reading."""

import numpy as np
import pytest

import model.reading.reader as reader
from conftest import fake_mnist
from digits.compose import ComposeConfig, compose
from model.decoding.ctc import Reading


def test_the_surest_way_of_preparing_wins():
    per_way = [
        [[Reading("12", -0.5)], [Reading("7", -0.1)], None, [], [Reading("3", -1.0)]],
        [[Reading("13", -0.2)], [Reading("1", -0.1)], [Reading("5", -2.0)], [], None],
    ]
    chosen = reader.most_confident(per_way)
    assert [(w, [r.text for r in found]) for w, found in chosen] == [
        (1, ["13"]), (0, ["7"]), (1, ["5"]), (0, []), (0, ["3"])]


def test_a_scan_is_prepared_each_way_and_generated_images_once():
    from model.reading.images import ImageError
    from model.reading.preprocess import READ_VARIANTS, PrepConfig

    mnist = fake_mnist()
    image = compose(mnist.x_train, mnist.y_train, 1, ComposeConfig(),
                    np.random.default_rng(0)).images[0]
    paper = 235 - image.astype(np.float32) * 0.8
    ways = reader.prepare_ways(paper, PrepConfig())
    assert len(ways) == len(READ_VARIANTS) >= 2
    assert all(w is not None and w.image.shape[0] == 28 for w in ways)
    assert len(reader.prepare_ways(255 - paper, PrepConfig(), generated=True)) == 1
    with pytest.raises(ImageError, match="no ink"):
        reader.prepare_ways(np.full((40, 90), 230, np.float32), PrepConfig())
