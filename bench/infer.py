"""Benchmark inference: throughput at batch 256, single-image latency, and decode cost.

    python bench/infer.py [--mnist PATH] [--run RUN_DIR] [--json FILE]

Reads 2,000 five-digit test sequences (fixed seed) composed in memory from the MNIST test
digits, with our model (a trained run's, or the default architecture untrained), the network
that was the default before 2026-12-02 (untrained: speed only) and the baseline. A
benchmark, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from common import machine, report, test_images  # noqa: E402


def throughput(fn, images: np.ndarray, batch: int = 256) -> float:
    fn(images[:batch])  # warm-up: traces the graph for this shape
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        fn(images[i:i + batch])
    return len(images) / (time.perf_counter() - start)


def latency(fn, images: np.ndarray, widths: np.ndarray, calls: int = 200) -> tuple[float, float]:
    """p50 and p99 in ms of single-image calls, each image at its own width."""
    singles = [images[i:i + 1, :, : widths[i]] for i in range(calls)]
    for x in singles[:20]:
        fn(x)
    times = []
    for x in singles:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def decode_cost(logits: np.ndarray, lengths: np.ndarray, method: str, beam: int = 10) -> float:
    """Milliseconds per sequence, decoding batches of 256."""
    from model.decoding import decode

    decode(logits[:256], lengths[:256], method, beam_width=beam, engine="tf")
    start = time.perf_counter()
    for i in range(0, len(logits), 256):
        decode(logits[i:i + 256], lengths[i:i + 256], method, beam_width=beam, engine="tf")
    return (time.perf_counter() - start) / len(logits) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--run", type=Path, help="a trained run directory for our model")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from baseline import build_baseline
    from baseline import time_steps as baseline_steps
    from model.network import NetConfig, build_model
    from model.runs import load_run

    images, widths, texts, source = test_images(args.mnist)
    if args.run:
        ours, net, _ = load_run(args.run)
    else:
        net = NetConfig()
        ours = build_model(net)
    before = NetConfig(first_stride=1, conv_filters=(16, 32, 64),
                       pools=((2, 2), (2, 2), (2, 1)))
    models = {"ours": (ours, net.time_steps), "before": (build_model(before), before.time_steps),
              "baseline": (build_baseline(), baseline_steps)}
    print(machine())
    results = {"source": source, "sequences": len(images),
               "trained": bool(args.run), "models": {}}
    print(f"{len(images):,} five-digit test sequences from {source} MNIST; our model "
          f"{'from ' + str(args.run) if args.run else 'untrained (default architecture)'}")
    print(f"{'model':<10}{'params':>10}{'seq/s @256':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'greedy ms/seq':>15}{'beam10 ms/seq':>15}")
    from model.api import traced

    for name, (model, steps) in models.items():
        fn = traced(model)  # as model.Reader and the server call it
        rate = throughput(fn, images)
        p50, p99 = latency(fn, images, widths)
        logits = np.concatenate([np.asarray(fn(images[i:i + 256]))
                                 for i in range(0, len(images), 256)])
        lengths = np.array([steps(int(w)) for w in widths])
        greedy = decode_cost(logits, lengths, "greedy")
        beam = decode_cost(logits, lengths, "beam")
        results["models"][name] = {"params": model.count_params(), "seq_per_s_batch256": rate,
                                   "p50_ms": p50, "p99_ms": p99, "greedy_ms_per_seq": greedy,
                                   "beam10_ms_per_seq": beam}
        print(f"{name:<10}{model.count_params():>10,}{rate:>12,.0f}{p50:>9.2f}{p99:>9.2f}"
              f"{greedy:>15.3f}{beam:>15.3f}")
    return report(results, "infer.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
