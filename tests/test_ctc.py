"""Numpy CTC decoding: parity with keras.ops.ctc_decode, exactness, the forward algorithm."""

import itertools

import keras
import numpy as np
import pytest

from conftest import keras_decode, without_tensorflow
from model.decoding import ctc, decode
from model.decoding.ctc import Reading
from model.decoding.decode import beam_search_decode
from model.vocab import BLANK, NUM_CLASSES, collapse, decode_ids, encode

PEAK = 20.0  # Logit margin of the wanted class: p(other class) ~ e^-20 per frame.


def peaked_logits(paths: list[str]) -> np.ndarray:
    """Logits (batch, T, 11) with +PEAK on one class per frame ('_' = blank)."""
    x = np.zeros((len(paths), max(len(p) for p in paths), NUM_CLASSES), dtype=np.float32)
    x[:, :, BLANK] = PEAK
    for b, path in enumerate(paths):
        for t, c in enumerate(path):
            x[b, t, :] = 0.0
            x[b, t, BLANK if c == "_" else encode(c)[0]] = PEAK
    return x


def random_batch(seed: int, batch: int = 6, max_steps: int = 40):
    """Random logits of a random scale (flat to peaked) and random lengths >= 1."""
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(1, max_steps + 1))
    scale = float(rng.choice([0.5, 1.0, 2.0, 4.0, 8.0]))
    logits = (rng.normal(size=(batch, steps, NUM_CLASSES)) * scale).astype(np.float32)
    lengths = rng.integers(1, steps + 1, size=batch).astype(np.int32)
    return rng, logits, lengths



def all_strings_by_paths(log_probs: np.ndarray) -> dict[str, float]:
    """log p(text) for every text, by summing over all 11**T frame paths."""
    steps = log_probs.shape[0]
    paths = np.array(list(itertools.product(range(NUM_CLASSES), repeat=steps)))
    path_lp = log_probs[np.arange(steps), paths].sum(axis=1)
    out: dict[str, float] = {}
    for path, lp in zip(paths.tolist(), path_lp.tolist(), strict=True):
        text = decode_ids(collapse(path))
        out[text] = np.logaddexp(out.get(text, -np.inf), lp)
    return out


@pytest.mark.parametrize("seed", range(25))
def test_greedy_equals_keras(seed):
    _, logits, lengths = random_batch(seed)
    (texts,), scores = keras_decode(logits, lengths, "greedy")
    ours = ctc.greedy_decode(logits, lengths)
    assert [r.text for r in ours] == texts
    # Keras reports the negated sum of its input's per-frame maxima; fed
    # log-softmax, that is -log p(best path), our score with the sign flipped.
    np.testing.assert_allclose([r.score for r in ours], -scores[:, 0], atol=1e-4)


def test_greedy_breaks_ties_like_keras():
    # TF takes the first of tied classes, so a tie with the blank reads blank.
    logits = np.zeros((2, 5, NUM_CLASSES), dtype=np.float32)
    logits[1, :, [BLANK, 4]] = 1.0  # blank and "3" tie
    logits[1, 2, [4, 6]] = 2.0  # "3" and "5" tie
    (texts,), _ = keras_decode(logits, np.array([5, 5]), "greedy")
    assert [r.text for r in ctc.greedy_decode(logits)] == texts == ["", "3"]


@pytest.mark.parametrize("seed", range(25))
def test_beam_equals_keras(seed):
    rng, logits, lengths = random_batch(seed)
    beam_width = int(rng.choice([1, 2, 3, 5, 10, 16]))
    top_paths = int(rng.integers(1, min(beam_width, NUM_CLASSES) + 1))
    texts, scores = keras_decode(logits, lengths, "beam_search", beam_width, top_paths)
    ours = beam_search_decode(logits, lengths, beam_width, top_paths)
    assert [[r.text for r in row] for row in ours] == [list(t) for t in zip(*texts, strict=True)]
    # Same sign and meaning: log p summed over the alignments kept in the beam
    # (TF in float32, we in float64).
    np.testing.assert_allclose([[r.score for r in row] for row in ours], scores, atol=1e-4)


def test_the_numpy_engine_reads_what_the_tf_engine_reads():
    _, logits, lengths = random_batch(100, batch=16, max_steps=30)
    lengths[0] = 0  # The TF engine reads an empty row as "" with probability 1.
    for method, top_paths in [("greedy", 1), ("beam", 3)]:
        theirs = decode(logits, lengths, method=method, top_paths=top_paths, engine="tf")
        ours = decode(logits, lengths, method=method, top_paths=top_paths)
        assert [[r.text for r in row] for row in ours] == [[r.text for r in row] for row in theirs]
        np.testing.assert_allclose([r.score for row in ours for r in row],
                                   [r.score for row in theirs for r in row], atol=1e-4)


@pytest.mark.parametrize("tf_compatible", [True, False])
def test_wide_beam_is_exact(tf_compatible):
    # A beam that never fills drops nothing, so it ranks every string by its
    # exact probability, the sum over all of its alignments.
    for seed in range(6):
        rng = np.random.default_rng(seed)
        steps = int(rng.integers(1, 5))
        log_probs = ctc.log_softmax(rng.normal(size=(steps, NUM_CLASSES)) * 2)
        exact = all_strings_by_paths(log_probs)
        best = sorted(exact.items(), key=lambda kv: -kv[1])[:5]
        found = ctc.prefix_beam_search(log_probs, 11**steps, 5, tf_compatible=tf_compatible)
        assert [r.text for r in found] == [text for text, _ in best]
        np.testing.assert_allclose([r.score for r in found], [lp for _, lp in best], atol=1e-9)


def test_forward_algorithm_sums_all_alignments():
    rng = np.random.default_rng(7)
    for steps in range(0, 5):
        log_probs = ctc.log_softmax(rng.normal(size=(steps, NUM_CLASSES)))
        exact = all_strings_by_paths(log_probs) if steps else {"": 0.0}
        for text in ["", "0", "00", "12", "121", "3333", "98765"]:
            expected = exact.get(text, -np.inf)
            assert ctc.sequence_log_prob(log_probs, text) == pytest.approx(expected, abs=1e-9)


def test_forward_algorithm_equals_keras_ctc_loss():
    rng = np.random.default_rng(8)
    texts = ["7", "11", "1001", "5555", "31415926", "0000000000"]
    logits = rng.normal(size=(len(texts), 40, NUM_CLASSES)).astype(np.float32)
    labels = np.zeros((len(texts), 10), dtype=np.int32)
    for row, text in zip(labels, texts, strict=True):
        row[: len(text)] = encode(text)
    loss = keras.ops.convert_to_numpy(keras.ops.ctc_loss(
        labels, logits, np.array([len(t) for t in texts]), np.full(len(texts), 40), mask_index=0
    ))
    ours = [ctc.sequence_log_prob(ctc.log_softmax(x), t) for x, t in zip(logits, texts,
                                                                         strict=True)]
    np.testing.assert_allclose(ours, -loss, rtol=1e-4)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_frames_past_length_are_ignored(method):
    logits = peaked_logits(["1_2_9", "34", "5__"])
    rows = decode(logits, lengths=[3, 2, 0], method=method)
    assert ctc.best_texts(rows) == ["12", "34", ""]
    assert rows[2] == [Reading("", 0.0)]


def test_fewer_strings_than_top_paths():
    # One frame: only "" and the ten digits have any probability.
    rows = beam_search_decode(np.zeros((1, 1, NUM_CLASSES)), beam_width=12, top_paths=12)
    assert len(rows[0]) == 11
    np.testing.assert_allclose([r.score for r in rows[0]], np.log(1 / 11))


def test_empty_batch_and_zero_steps():
    assert decode(np.zeros((0, 5, NUM_CLASSES))) == []
    assert decode(np.zeros((2, 0, NUM_CLASSES)), method="beam") == [[Reading("", 0.0)]] * 2
    assert decode(np.zeros((2, 0, NUM_CLASSES))) == [[Reading("", 0.0)]] * 2


def test_imports_no_tensorflow():
    without_tensorflow("import model.decoding.ctc")
