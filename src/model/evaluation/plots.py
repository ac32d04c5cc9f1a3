"""Pictures of a run: learning curves, sample readings, the model graph and its summary."""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

import numpy as np

from digits.files import replacing


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_curves(history_csv: Path, path: Path) -> None:
    """Loss (train and validation) and validation exact accuracy / CER per epoch."""
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    plt = _figure()
    epochs = [int(r["epoch"]) + 1 for r in rows]

    def col(name):
        return [float(r[name]) for r in rows]

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, col("loss"), "o-", label="train")
    left.plot(epochs, col("val_loss"), "o-", label="validation")
    left.set(xlabel="epoch", ylabel="CTC loss", yscale="log", title="Loss")
    left.legend()
    right.plot(epochs, [100 * v for v in col("val_exact")], "o-", label="exact sequence")
    right.plot(epochs, [100 - 100 * v for v in col("val_cer")], "s--", label="100 - CER")
    right.set(xlabel="epoch", ylabel="%", title="Validation accuracy (greedy)")
    right.legend()
    right.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)


def choose_samples(truths: list[str], greedy: list[str], beam: list[str],
                   count: int = 24) -> list[int]:
    """Which readings a samples figure shows: errors first (up to half), then correct ones."""
    wrong = [i for i in range(len(truths)) if greedy[i] != truths[i] or beam[i] != truths[i]]
    wrong_set = set(wrong)
    right = (i for i in range(len(truths)) if i not in wrong_set)
    chosen = wrong[: count // 2]
    return chosen + list(itertools.islice(right, count - len(chosen)))


def plot_samples(images, truths: list[str], greedy: list[str], beam: list[str], path: Path,
                 count: int = 24) -> None:
    """A grid of test images with the truth and both readings; errors first, in red.

    Args:
        images: indexed like ``truths``; ``images[i]`` is an image path or a (height, width)
            uint8 array, needed only for the ``choose_samples`` indices (a dict of those
            will do).
    """
    from PIL import Image

    plt = _figure()
    wrong = sum(g != t or b != t for t, g, b in zip(truths, greedy, beam, strict=True))
    chosen = choose_samples(truths, greedy, beam, count)
    cols = 4
    rows = max(1, -(-len(chosen) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.25 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), chosen, strict=False):
        image = images[i]
        if not isinstance(image, np.ndarray):
            image = np.asarray(Image.open(image))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        bad = greedy[i] != truths[i] or beam[i] != truths[i]
        ax.set_title(f"truth {truths[i]}  greedy {greedy[i]}  beam {beam[i]}", fontsize=7,
                     color="red" if bad else "black", family="monospace")
    fig.suptitle(f"Test readings: {wrong} of {len(truths)} wrong (red)", fontsize=10)
    _save(fig, path)
    plt.close(fig)


def summary_text(model, width: int = 100) -> str:
    """The Keras summary table as text, ``width`` characters wide."""
    lines: list[str] = []
    # Keras draws the table with rich, which clips it to the terminal (80 columns when
    # there is none) unless COLUMNS says otherwise.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        model.summary(line_length=width, print_fn=lambda s, **_: lines.append(s))
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines)


def plot_summary(model, path: Path) -> None:
    """The Keras summary table rendered as an image."""
    plt = _figure()
    text = summary_text(model)
    lines = text.splitlines()
    # DejaVu Sans Mono is 0.6 em wide: size the figure to the text so nothing is clipped.
    fig = plt.figure(figsize=(0.6 * 7.5 / 72 * max(map(len, lines)) + 0.3,
                              0.17 * len(lines) + 0.4))
    fig.text(0.01, 0.99, text, family="DejaVu Sans Mono", fontsize=7.5, va="top")
    _save(fig, path)
    plt.close(fig)


def plot_graph(model, path: Path) -> str:
    """The model graph with shapes, as ``keras.utils.plot_model`` draws it; without Graphviz,
    a .dot file and a hint on how to render it.

    Returns:
        A line for the log saying what was written.
    """
    import keras

    try:
        graph = keras.utils.model_to_dot(model, show_shapes=True, dpi=80)
    except ImportError:  # pydot or Graphviz missing: Keras checks both
        graph = None
    if graph is not None:
        # plot_model's orthogonal edges crash Graphviz 2.43 ("trapezoid-table overflow")
        # on some graphs; polylines draw the same chain of layers reliably.
        graph.set("splines", "polyline")
        try:
            with replacing(path) as tmp:
                graph.write_png(str(tmp))
            return f"wrote {path}"
        except (OSError, AssertionError):  # pydot reports a failed 'dot' run by assertion
            pass
    dot = path.with_suffix(".dot")
    dot.write_text(graph.to_string() if graph is not None else _plain_dot(model))
    return (f"Graphviz could not draw the model graph: wrote {dot}; install graphviz and "
            f"render it with: dot -Tpng {dot} -o {path}")


def _plain_dot(model) -> str:
    """A minimal Graphviz description of the layer chain, for when pydot is missing."""
    lines = ["digraph model {"]
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for parent in node.parent_nodes:
                lines.append(f'  "{parent.operation.name}" -> "{layer.name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
