"""model.decoding.decode: collapse rules, greedy vs. beam, score signs, lengths, logits input,
the same for both engines."""

import math
import random
import sys

import numpy as np
import pytest

from model import decoding
from model.decoding import Reading, best_texts
from model.decoding.decode import ENGINES
from model.vocab import BLANK, NUM_CLASSES, encode
from tables import BAD_DECODE_ARGS, COLLAPSE

PEAK = 20.0  # Logit margin of the wanted class: p(other class) ~ e^-20 per frame.
METHODS = ["greedy", "beam"]
ENGINE = "numpy"  # set per test by the fixture below: every test runs on both engines


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ENGINE", request.param)
    return request.param


def decode(*args, **kwargs):
    return decoding.decode(*args, engine=ENGINE, **kwargs)


def peaked_logits(paths: list[str], steps: int | None = None) -> np.ndarray:
    """Logits (batch, T, 11) with +PEAK on one class per frame, 0 elsewhere.

    Each path is written as a string: '_' is a blank frame, a digit is that
    digit's class. Frames past a path's end are blank.
    """
    steps = steps or max(len(p) for p in paths)
    x = np.zeros((len(paths), steps, NUM_CLASSES), dtype=np.float32)
    x[:, :, BLANK] = PEAK
    for b, path in enumerate(paths):
        for t, c in enumerate(path):
            cls = BLANK if c == "_" else encode(c)[0]
            x[b, t, :] = 0.0
            x[b, t, cls] = PEAK
    return x


def random_path(text: str, rng: random.Random) -> str:
    """A frame path spelling ``text``: each symbol repeated 1-3 times, blanks
    optional between different symbols and mandatory between equal ones."""
    out = "_" * rng.randint(0, 2)
    for i, c in enumerate(text):
        if i and (c == text[i - 1] or rng.random() < 0.3):
            out += "_" * rng.randint(1, 2)
        out += c * rng.randint(1, 3)
    return out + "_" * rng.randint(0, 2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "text"), COLLAPSE)
def test_collapse_keeps_repeats_separated_by_blank(method, path, text):
    (row,) = decode(peaked_logits([path]), method=method)
    assert [r.text for r in row] == [text]
    assert -1e-3 < row[0].score <= 0.0  # one path holds nearly all the probability


def test_greedy_and_beam_agree_on_peaked_random_paths():
    rng = random.Random(1234)
    texts = ["".join(rng.choices("0123456789", k=rng.randint(1, 8))) for _ in range(50)]
    # Force some repeats, which are where collapse mistakes would show.
    texts += ["00", "1100", "999", "12321", "55555555"]
    paths = [random_path(t, rng) for t in texts]
    logits = peaked_logits(paths)
    greedy = best_texts(decode(logits, method="greedy"))
    beam = best_texts(decode(logits, method="beam", beam_width=10))
    assert greedy == texts
    assert beam == texts


@pytest.mark.parametrize("method", METHODS)
def test_scores_are_log_probabilities(method):
    rng = np.random.default_rng(0)
    for readings in decode(rng.normal(size=(8, 12, NUM_CLASSES)) * 3, method=method):
        assert all(r.score <= 0.0 for r in readings)
        assert all(0.0 <= math.exp(r.score) <= 1.0 for r in readings)
    for (reading,) in decode(peaked_logits(["1_23", "__4"]), method=method):
        assert -1e-3 < reading.score <= 0.0


def test_greedy_score_is_best_path_log_probability():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 7, NUM_CLASSES)).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    scores = [row[0].score for row in decode(logits, lengths=[7, 7, 5, 1])]
    expected = [log_probs[b, :n].max(-1).sum() for b, n in enumerate([7, 7, 5, 1])]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_beam_score_sums_alignments():
    # Two frames, each 50/50 blank vs "1": the sequence "1" has 3 of the 4
    # equally likely alignments, so log p("1") = log 0.75, "" gets log 0.25.
    logits = np.full((1, 2, NUM_CLASSES), -1e4, dtype=np.float32)
    logits[0, :, BLANK] = 0.0
    logits[0, :, encode("1")[0]] = 0.0
    (row,) = decode(logits, method="beam", beam_width=4, top_paths=2)
    assert [r.text for r in row] == ["1", ""]
    np.testing.assert_allclose([r.score for r in row], np.log([0.75, 0.25]), atol=1e-5)


def test_top_paths_sorted_best_first():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 10, NUM_CLASSES)) * 2
    for row in decode(logits, method="beam", beam_width=10, top_paths=3):
        assert len(row) == 3
        assert all(isinstance(r, Reading) for r in row)
        scores = [r.score for r in row]
        assert scores == sorted(scores, reverse=True)
        assert len({r.text for r in row}) == 3  # distinct hypotheses


@pytest.mark.parametrize("method", METHODS)
def test_frames_past_length_are_ignored(method):
    logits = peaked_logits(["1_2_9", "34", "5__"])
    rows = decode(logits, lengths=np.array([3, 2, 1]), method=method)
    assert best_texts(rows) == ["12", "34", "5"]
    # A zero-length row has only the empty reading, even when more are requested.
    rows = decode(logits, lengths=[0, 2, 1], method=method)
    assert rows[0] == [Reading("", 0.0)]
    assert best_texts(rows) == ["", "34", "5"]


def test_a_zero_length_row_has_one_reading_however_many_are_asked_for():
    logits = peaked_logits(["1_2_9", "34", "5__"])
    rows = decode(logits, lengths=[0, 2, 1], method="beam", top_paths=3)
    assert [len(r) for r in rows] == [1, 3, 3]


@pytest.mark.parametrize("method", METHODS)
def test_input_is_logits_not_probabilities(method):
    # log_softmax(x + c) == log_softmax(x) for a per-frame constant c, so
    # shifted logits must decode identically, scores included.
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 9, NUM_CLASSES)).astype(np.float32) * 2
    shifted = logits + rng.normal(size=(6, 9, 1)).astype(np.float32) * 10
    a = decode(logits, method=method, top_paths=1)
    b = decode(shifted, method=method, top_paths=1)
    assert best_texts(a) == best_texts(b)
    np.testing.assert_allclose([r[0].score for r in a], [r[0].score for r in b], atol=1e-4)
    # Softmax probabilities are not valid input: their "scores" would be the
    # log-probs of probabilities treated as logits, near log(1/11) per frame.
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    wrong = decode(probs, method=method)
    assert min(r[0].score for r in wrong) < min(r[0].score for r in a)


def test_accepts_tensors():
    import keras

    logits = peaked_logits(["1_2", "3"])
    rows = decode(keras.ops.convert_to_tensor(logits), keras.ops.convert_to_tensor([3, 1]))
    assert best_texts(rows) == ["12", "3"]


def test_empty_batch_and_zero_steps():
    assert decode(np.zeros((0, 5, NUM_CLASSES))) == []
    assert decode(np.zeros((2, 0, NUM_CLASSES)), method="beam") == [[Reading("", 0.0)]] * 2


@pytest.mark.parametrize("kwargs", BAD_DECODE_ARGS)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        decode(peaked_logits(["1_2", "3"]), **kwargs)


def test_bad_logits_shape():
    with pytest.raises(ValueError):
        decode(np.zeros((2, 3, 10)))
    with pytest.raises(ValueError):
        decode(np.zeros((3, NUM_CLASSES)))
