"""Benchmark exported models: ONNX Runtime and LiteRT against Keras, sequences per second.

    python bench/export.py RUN_DIR [--mnist PATH] [--count N] [--rounds R] [--json FILE]

Exports RUN_DIR's model (ONNX; LiteRT at its fixed width and at any width) into a temporary
folder and reads the same fixed five-digit test sequences (bench/common.py) with each, at
batch 1 (every image at its own width, LiteRT's fixed width padded to it) and batch 256
(padded to the widest image). Keras is the model traced once as a tf.function, as
bench/infer.py calls it. Engines take turns, every round, and the best round counts, so a
busy machine disturbs the figures less. Also reports how close the logits and the greedy
readings are. A benchmark, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from common import report, test_images  # noqa: E402


def batches(images: np.ndarray, widths: np.ndarray, size: int, fixed: int | None):
    """The calls of one pass: single images at their own width (or padded to ``fixed``),
    or slices of ``size`` of the padded set."""
    if size == 1:
        if fixed:
            out = np.zeros((len(images), 1, images.shape[1], fixed, 1), np.float32)
            for i, w in enumerate(widths):
                out[i, 0, :, :w] = images[i, :, :w]
            return list(out)
        return [images[i:i + 1, :, :w] for i, w in enumerate(widths)]
    return [images[i:i + size] for i in range(0, len(images), size)]


def rate(fn, calls: list[np.ndarray]) -> float:
    """Sequences per second of one pass over ``calls``."""
    start = time.perf_counter()
    for x in calls:
        fn(x)
    return sum(len(x) for x in calls) / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a finished run directory")
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--count", type=int, default=2000, help="test sequences (default 2000)")
    p.add_argument("--rounds", type=int, default=3, help="passes per engine; best counts")
    p.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime and LiteRT "
                   "(default: theirs)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from model.api import traced
    from model.decoding import best_texts, decode
    from model.deploy.exporter import LITERT_WIDTH, export_run
    from model.deploy.runtime import load_exported
    from model.runs import load_run

    images, widths, texts, source = test_images(args.mnist, args.count)
    model, net, _ = load_run(args.run)
    keras_fn = traced(model)
    engines = {"keras": (keras_fn, None)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, width in (("onnxruntime", "onnx", None),
                                 (f"litert (width {LITERT_WIDTH})", "litert", None),
                                 ("litert (any width)", "litert", 0)):
            out = Path(tmp) / f"{name.split()[0]}-{width}.{fmt}"
            export_run(args.run, fmt, out, width, log=lambda m: None)
            exported = load_exported(out, args.threads)
            engines[name] = (exported.logits, exported.width)
        sizes = {"keras": (1, 256), "onnxruntime": (1, 256)}
        if widths.max() > LITERT_WIDTH:
            del engines[f"litert (width {LITERT_WIDTH})"]
        results = {"source": source, "sequences": len(images), "run": str(args.run),
                   "rounds": args.rounds, "threads": args.threads, "seq_per_s": {}}
        print(f"{len(images):,} five-digit test sequences from {source} MNIST, widths "
              f"{widths.min()}-{widths.max()} px; model from {args.run}; best of "
              f"{args.rounds} rounds")
        plan = [(name, size) for name in engines for size in sizes.get(name, (1,))]
        calls = {(name, size): batches(images, widths, size, engines[name][1])
                 for name, size in plan}
        for name, size in plan:  # warm-up: traces, allocates, picks kernels
            for x in calls[name, size][:3]:
                engines[name][0](x)
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):
            for key in plan:
                best[key] = max(best.get(key, 0.0), rate(engines[key[0]][0], calls[key]))

        reference = np.concatenate([np.asarray(keras_fn(x)) for x in calls["keras", 256]])
        onnx = np.concatenate([engines["onnxruntime"][0](x) for x in calls["onnxruntime", 256]])
        lengths = [net.time_steps(int(w)) for w in widths]
        keras_texts = best_texts(decode(reference, lengths))
        onnx_texts = best_texts(decode(onnx, lengths))
        agree = sum(a == b for a, b in zip(keras_texts, onnx_texts, strict=True))
        results["onnx_vs_keras"] = {
            "max_abs_logit_diff": float(np.abs(onnx - reference).max()),
            "greedy_same_string": agree,
            "exact_keras": float(np.mean([a == t for a, t in zip(keras_texts, texts,
                                                                 strict=True)])),
            "exact_onnx": float(np.mean([a == t for a, t in zip(onnx_texts, texts,
                                                                strict=True)]))}
    print(f"{'engine':<22}{'batch 1 seq/s':>15}{'batch 256 seq/s':>17}")
    for name in engines:
        row = {size: best[name, size] for size in sizes.get(name, (1,))}
        results["seq_per_s"][name] = {f"batch_{size}": r for size, r in row.items()}
        cells = "".join(f"{row[s]:>{w},.0f}" if s in row else f"{'':>{w}}"
                        for s, w in ((1, 15), (256, 17)))
        print(f"{name:<22}{cells}")
    check = results["onnx_vs_keras"]
    print(f"ONNX vs Keras over {len(images):,} sequences: logits within "
          f"{check['max_abs_logit_diff']:.1e}; greedy strings identical for {agree:,}; "
          f"exact {check['exact_keras']:.2%} (Keras) / {check['exact_onnx']:.2%} (ONNX)")
    return report(results, "export.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
