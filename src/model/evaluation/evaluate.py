"""Evaluating a model on a split with both decoders."""

from __future__ import annotations

from dataclasses import dataclass

from model.network import NetConfig


@dataclass
class Evaluation:
    """Metrics and readings of one split.

    Attributes:
        metrics: {"greedy": model.evaluation.metrics.evaluate(...), "beam": ...}.
        truths: the labels, in the order read.
        greedy: greedy strings, one per image.
        beam: beam-search Readings, ``top_paths`` per image, best first.
    """

    metrics: dict
    truths: list[str]
    greedy: list[str]
    beam: list[list]


def read_batches(model, split, net: NetConfig, batch_size: int = 256):
    """Stream a split (PNG or TFRecord) through the model, a batch at a time.

    Yields:
        (truths, logits, lengths): the batch's labels as strings, its logits (batch, T, 11)
        and each row's valid time steps (batch,).
    """
    import numpy as np

    from model.inputs.datasets import make_dataset
    from model.vocab import decode_batch

    for x, y, widths in make_dataset(split, batch_size, net.height, cache=False, widths=True):
        logits = np.asarray(model(x, training=False))
        lengths = np.array([net.time_steps(int(w)) for w in widths.numpy()], np.int32)
        yield decode_batch(y.numpy()), logits, lengths


def greedy_readings(model, split, net: NetConfig) -> tuple[list[str], list[str]]:
    """(truths, greedy strings) of a split; what validation scores every epoch."""
    from model.decoding import best_texts, decode

    truths, greedy = [], []
    for texts, logits, lengths in read_batches(model, split, net):
        truths += texts
        greedy += best_texts(decode(logits, lengths, "greedy", engine="tf"))
    return truths, greedy


def evaluate_model(model, net: NetConfig, split, beam_width: int = 10,
                   top_paths: int = 1) -> Evaluation:
    """Greedy and beam readings of a split and their metrics, streamed batch by batch so
    that a split larger than memory can be evaluated."""
    from model.decoding import best_texts, decode
    from model.evaluation.metrics import evaluate

    truths, greedy, beam = [], [], []
    for texts, logits, lengths in read_batches(model, split, net):
        truths += texts
        greedy += best_texts(decode(logits, lengths, "greedy", engine="tf"))
        beam += decode(logits, lengths, "beam", beam_width=beam_width, top_paths=top_paths,
                       engine="tf")
    metrics = {"greedy": evaluate(truths, greedy), "beam": evaluate(truths, best_texts(beam))}
    metrics["beam"]["beam_width"] = beam_width
    return Evaluation(metrics, truths, greedy, beam)


@dataclass
class WaysEvaluation:
    """An evaluation of images read every way reading prepares them.

    Attributes:
        evaluation: the metrics and readings, each from the surest way.
        images: per image, the way the beam reading was kept from.
    """

    evaluation: Evaluation
    images: list


def evaluate_ways(model, net: NetConfig, ways: list[list], truths: list[str],
                  beam_width: int = 10, top_paths: int = 1) -> WaysEvaluation:
    """Greedy and beam readings of images each prepared several ways
    (``model.reading.folder.prepare_folder_ways``), each decoder keeping per image the
    way it is surest of (``model.reading.reader.read_ways``), and their metrics."""
    from model.decoding import best_texts, decode
    from model.decoding.decode import reading_beam
    from model.evaluation.metrics import evaluate
    from model.reading.reader import read_ways

    # The beam search model.read decodes with: its scores to the last bit choose the way.
    decoders = {
        "greedy": lambda logits, lengths: decode(logits, lengths, "greedy"),
        "beam": reading_beam(beam_width, top_paths),
    }
    chosen = read_ways(ways, model, net, decoders)
    greedy = best_texts([found for _, found in chosen["greedy"]])
    beam = [found for _, found in chosen["beam"]]
    metrics = {"greedy": evaluate(truths, greedy), "beam": evaluate(truths, best_texts(beam))}
    metrics["beam"]["beam_width"] = beam_width
    images = [each[w] for each, (w, _) in zip(ways, chosen["beam"], strict=True)]
    return WaysEvaluation(Evaluation(metrics, truths, greedy, beam), images)
