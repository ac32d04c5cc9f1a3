"""model.reading.reader: preparing an image each way, and keeping the surest way's reading."""

from pathlib import Path

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


def test_a_way_that_reads_a_digit_wins_over_a_surer_empty_reading():
    """A way that kept only a scan's margin can be surest of reading nothing; the image
    holds a number, so a way that reads one wins; nothing only when no way reads a digit."""
    per_way = [
        [[Reading("", -0.05)], [Reading("", -0.3)]],
        [[Reading("10", -1.5)], [Reading("", -0.2)]],
        [[Reading("1", -2.5)], None],
    ]
    chosen = reader.most_confident(per_way)
    assert [(w, found[0].text) for w, found in chosen] == [(1, "10"), (1, "")]


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


def generated() -> np.ndarray:
    """A sequence as digits.sequence_generator writes it (white on black, 28 high): the
    repository's example1.bmp."""
    from model.reading.images import open_gray

    return open_gray(Path(__file__).resolve().parents[1] / "example1.bmp")


def test_an_image_that_looks_generated_is_read_as_generated():
    """White strokes on a flat black ground are the generator's output: read one way, as
    is; pasted on a wider ground, trimmed back to its own size; the same number dark on
    grainy paper, or with generated_look off, is prepared each way."""
    from model.reading.preprocess import READ_VARIANTS, PrepConfig

    image = generated()
    ways = reader.prepare_ways(image, PrepConfig())
    assert len(ways) == 1 and np.array_equal(ways[0].image, image.astype(np.uint8))
    pasted = reader.prepare_ways(np.pad(image, ((40, 30), (60, 70))), PrepConfig())
    assert len(pasted) == 1 and pasted[0].image.shape[0] == 28

    def ink_rows(im):
        rows = np.flatnonzero((im > 32).any(axis=1))
        return rows[-1] - rows[0] + 1

    assert abs(ink_rows(pasted[0].image) - ink_rows(image)) <= 2
    assert abs(pasted[0].image.shape[1] - image.shape[1]) <= 0.1 * image.shape[1]
    off = reader.prepare_ways(image, PrepConfig(generated_look=False))
    assert len(off) == len(READ_VARIANTS)
    grain = np.random.default_rng(1).normal(0, 4, image.shape)
    on_paper = np.clip(235 - 0.8 * image + grain, 0, 255).astype(np.float32)
    assert len(reader.prepare_ways(on_paper, PrepConfig())) == len(READ_VARIANTS)


def test_images_prepared_a_different_number_of_ways_read_together():
    """A generated image (one way) and a scan (six) in one batch: the model sees each way
    an image has, in one call, and each reading's one_way signal counts its own image's
    ways."""
    from model.reading.calibration import SIGNALS

    seen = []

    class Net:
        def time_steps(self, width):
            return width // 4

    def model(batch, training):
        seen.append(len(batch))
        logits = np.full((len(batch), batch.shape[2] // 4, 11), -5.0, np.float32)
        logits[:, :, 0] = 0.0  # blank everywhere but the first frame: reads "3"
        logits[:, 0, 4] = 5.0
        return logits

    one, six = [np.zeros((28, 40), np.uint8)], [np.zeros((28, 40), np.uint8)] * 6
    from model.decoding import decode

    per_way, entropies = reader.run_ways(
        [one, six], model, Net(), {"beam": lambda lg, n: decode(lg, n, "beam", 4, 2)})
    assert seen == [7]  # every way of both images in one call
    columns = per_way["beam"]
    assert columns[1][0] is None and columns[1][1][0].text == "3"
    chosen = reader.most_confident(columns)
    x = reader.chosen_signals(columns, entropies, chosen, [one, six])
    assert x[:, SIGNALS.index("one_way")].tolist() == [1.0, 0.0]
    assert x[:, SIGNALS.index("agreement")].tolist() == [1.0, 1.0]


def test_ways_are_batched_narrowest_first_and_read_back_in_place():
    """The prepared images of all ways share batches, narrowest first, so that a batch is
    little padding; each reading goes back to its own image and way."""
    widths_seen = []

    class Net:
        def time_steps(self, width):
            return width // 4

    def model(batch, training):
        widths_seen.append((len(batch), batch.shape[2]))
        # Each row reads its own width in tens as one digit: 80 px reads "8".
        logits = np.full((len(batch), batch.shape[2] // 4, 11), -5.0, np.float32)
        logits[:, :, 0] = 0.0
        for row in range(len(batch)):
            width = int(np.flatnonzero(batch[row, 0, :, 0] > 0).max()) + 1
            logits[row, 0, 1 + width // 10] = 5.0
        return logits

    def image(width):
        im = np.zeros((28, width), np.uint8)
        im[0, :] = 255  # the width, found again by the model above
        return im

    from model.decoding import decode

    ways = [[image(80), image(40)], None, [image(60), None]]
    done = []  # what a progress bar is told after each batch
    per_way, _ = reader.run_ways(ways, model, Net(),
                                 {"beam": lambda lg, n: decode(lg, n, "beam", 4, 1)}, batch=2,
                                 progress=done.append)
    assert widths_seen == [(2, 60), (1, 80)]
    assert done == [2, 1]
    columns = per_way["beam"]
    assert [columns[0][0][0].text, columns[1][0][0].text, columns[0][2][0].text] == \
        ["8", "4", "6"]
    assert columns[0][1] is None and columns[1][1] is None and columns[1][2] is None
