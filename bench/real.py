"""Benchmark reading real handwritten numbers: exact accuracy and CER per labelled folder.

    python bench/real.py RUN_DIR FOLDER... [--limit N] [--beam-width 10] [--grid DIR]
        [--raw] [--json FILE]

A folder holds ``images/`` and ``labels.csv`` (``file_name,text``). Each image goes through
``model.preprocess`` (``--raw``: only grayscale, inverted when the paper is light, and
resized to the model's height, to measure what preprocessing buys) and is decoded three
ways: greedy, beam, and beam constrained to the folder's own range of lengths. Writes a
grid of misread images per folder with ``--grid``. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import report  # noqa: E402


def load_folder(folder: Path, limit: int | None):
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if limit and limit < len(rows):
        order = np.random.default_rng(0).permutation(len(rows))[:limit]
        rows = [rows[i] for i in sorted(order)]
    return [str(folder / r["file_name"]) for r in rows], [r["text"] for r in rows]


def prepare_all(paths, height: int, raw: bool):
    """Each image prepared the ways model.read tries (``--raw``: polarity and height only),
    or None where it cannot be read; and how many could not."""
    from digits.errors import DataError
    from model.images import open_gray
    from model.preprocess import PrepConfig
    from model.read import prepare_ways

    images, failed = [], 0
    for path in paths:
        try:
            ways = prepare_ways(open_gray(path), PrepConfig(height=height), str(path),
                                generated=raw)
            images.append([w.image if w is not None else None for w in ways])
        except DataError:
            images.append(None)
            failed += 1
    return images, failed


def read_all(model, net, images, constraint, beam_width):
    """Greedy, beam and constrained strings for every image ("" where unreadable), each
    from the way of preparing it that the model is surest of, as model.read does."""
    from model.constraints import constrained_decode
    from model.ctc import decode
    from model.read import read_ways

    methods = {
        "greedy": lambda logits, lengths: decode(logits, lengths, "greedy"),
        "beam": lambda logits, lengths: decode(logits, lengths, "beam", beam_width),
        "constrained": lambda logits, lengths: constrained_decode(logits, constraint, lengths,
                                                                  beam_width),
    }
    chosen = read_ways(images, model, net, methods, batch=128)
    return {method: [found[0].text if found else "" for _, found in picks]
            for method, picks in chosen.items()}


def error_grid(path: Path, images, truths, reads, limit: int = 60) -> None:
    """A picture of misread images, each with its label and reading."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = [i for i, (t, r) in enumerate(zip(truths, reads, strict=True))
             if t != r and images[i] is not None][:limit]
    if not wrong:
        return
    cols = 4
    rows = -(-len(wrong) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 0.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{truths[i]} read {reads[i] or '(none)'}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folders", type=Path, nargs="+", help="folders with images/ + labels.csv")
    p.add_argument("--limit", type=int, help="read this many images per folder (fixed sample)")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--raw", action="store_true", help="skip model.preprocess (the before)")
    p.add_argument("--grid", type=Path, help="write a grid of misread images per folder here")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from model.constraints import Constraint
    from model.evaluate import load_run
    from model.metrics import evaluate

    model, net, _ = load_run(args.run)
    results = {"run": str(args.run), "raw": args.raw, "folders": {}}
    print(f"{'folder':<18}{'images':>8}{'unread':>8}  {'greedy':>15}  {'beam':>15}  "
          f"{'constrained':>15}   (exact / CER)")
    for folder in args.folders:
        paths, truths = load_folder(folder, args.limit)
        start = time.perf_counter()
        images, failed = prepare_all(paths, net.height, args.raw)
        lengths = [len(t) for t in truths]
        constraint = Constraint(min_length=min(lengths), max_length=max(lengths))
        reads = read_all(model, net, images, constraint, args.beam_width)
        seconds = time.perf_counter() - start
        entry = {"images": len(paths), "unreadable": failed, "seconds": seconds,
                 "constraint": constraint.describe()}
        cells = []
        for method, texts in reads.items():
            m = evaluate(truths, texts)
            entry[method] = {"exact": m["exact"], "cer": m["cer"]}
            cells.append(f"{100 * m['exact']:6.2f}% / {100 * m['cer']:5.2f}%")
        results["folders"][folder.name] = entry
        print(f"{folder.name:<18}{len(paths):>8}{failed:>8}  " + "  ".join(cells), flush=True)
        if args.grid:
            args.grid.mkdir(parents=True, exist_ok=True)
            error_grid(args.grid / f"errors_{folder.name}.png",
                       [ways[0] if ways else None for ways in images], truths,
                       reads["constrained"])
    return report(results, "real.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
