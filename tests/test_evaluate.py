"""model.evaluation.evaluate: both decoders' readings and metrics, of a split or of ways."""

import numpy as np
import pytest
from PIL import Image

from conftest import sequences, untrained_run
from model.decoding import best_texts, decode
from model.evaluation.evaluate import evaluate_model, evaluate_ways
from model.evaluation.metrics import evaluate
from model.inputs.datasets import Split, pad_images
from model.runs import load_run

BEAM_WIDTH, TOP_PATHS = 4, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An untrained tiny model and its NetConfig: its readings are arbitrary but fixed,
    which is all that checking how they are made and scored needs."""
    model, net, _ = load_run(untrained_run(tmp_path_factory.mktemp("run")))
    return model, net


@pytest.fixture(scope="module", name="sequences")
def sequences_fixture():
    """Six generated sequences of different widths, (28, w) uint8, and their labels."""
    return sequences()


@pytest.fixture(scope="module")
def split(sequences, tmp_path_factory):
    """The sequences written as a PNG split."""
    root = tmp_path_factory.mktemp("split")
    images, texts = sequences
    files = []
    for i, image in enumerate(images):
        files.append(str(root / f"{i:06d}.png"))
        Image.fromarray(image).save(files[-1])
    return Split(files, texts, np.array([im.shape[1] for im in images], np.int32))


def texts_of(rows):
    return [[r.text for r in row] for row in rows]


def test_metrics_are_those_of_the_models_logits_decoded(run, sequences, split):
    model, net = run
    images, truths = sequences
    found = evaluate_model(model, net, split, beam_width=BEAM_WIDTH, top_paths=TOP_PATHS)
    # The model run on the batch as make_dataset pads it, each row decoded over its own
    # time steps.
    logits = np.asarray(model(pad_images(images, np.float32), training=False))
    lengths = [net.time_steps(im.shape[1]) for im in images]
    greedy = best_texts(decode(logits, lengths, "greedy"))
    beam = decode(logits, lengths, "beam", BEAM_WIDTH, TOP_PATHS)
    assert found.truths == truths
    assert found.greedy == greedy
    assert texts_of(found.beam) == texts_of(beam)
    np.testing.assert_allclose([r.score for row in found.beam for r in row],
                               [r.score for row in beam for r in row], atol=1e-4)
    assert found.metrics == {
        "greedy": evaluate(truths, greedy),
        "beam": {**evaluate(truths, best_texts(beam)), "beam_width": BEAM_WIDTH},
    }


def test_images_given_one_way_read_as_the_same_images_from_a_split(run, sequences, split):
    model, net = run
    images, truths = sequences
    from_split = evaluate_model(model, net, split, beam_width=BEAM_WIDTH, top_paths=TOP_PATHS)
    ways = evaluate_ways(model, net, [[im] for im in images], truths, beam_width=BEAM_WIDTH,
                         top_paths=TOP_PATHS)
    assert ways.evaluation.truths == truths
    assert ways.evaluation.greedy == from_split.greedy
    assert texts_of(ways.evaluation.beam) == texts_of(from_split.beam)
    assert ways.evaluation.metrics == from_split.metrics
    assert all(np.array_equal(kept, im) for kept, im in zip(ways.images, images, strict=True))
