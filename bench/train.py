"""Benchmark training: our default model against the captcha-OCR baseline, side by side.

    python bench/train.py [--mnist PATH] [--budget 900] [--count 20000] [--fresh] [--json FILE]

Both models train on the same five-digit sequences from MNIST's training writers for the
same wall-clock budget (data preparation and evaluation not counted), and both are
evaluated with greedy decoding on the same 2,000 writer-disjoint test sequences after every
epoch. Prints accuracy against training time, training sequences per second, and the
speed-up to each accuracy level. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import machine, report, test_images  # noqa: E402
from digits.blocks import split_pools  # noqa: E402
from digits.compose import ComposeConfig, compose  # noqa: E402
from digits.sources import load_mnist  # noqa: E402

LEVELS = (0.90, 0.95, 0.98, 0.985, 0.99)


def fixed_dataset(x, y, count: int, batch: int, seed: int, compose_cfg: ComposeConfig):
    """``count`` sequences composed once, reshuffled into padded batches every epoch."""
    import tensorflow as tf

    from model.inputs.datasets import pad_images
    from model.vocab import encode_batch

    rng = np.random.default_rng(seed)
    images, texts = [], []
    for b in range(-(-count // 100)):
        chunk = compose(x, y, min(100, count - 100 * b), compose_cfg, rng)
        images += chunk.images
        texts += chunk.texts
    labels = encode_batch(texts, 5)
    order_rng = np.random.default_rng(seed + 1)

    def batches():
        order = order_rng.permutation(count)
        for i in range(0, count, batch):
            idx = order[i:i + batch]
            yield pad_images([images[j] for j in idx]), labels[idx]

    ds = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, 28, None, 1), tf.uint8), tf.TensorSpec((None, 5), tf.int32)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-count // batch)))
    return ds.map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(4)


def exact_accuracy(model, steps, images, widths, texts) -> tuple[float, float]:
    from model.decoding import best_texts, decode
    from model.evaluation.metrics import evaluate

    logits = np.concatenate([np.asarray(model(images[i:i + 256], training=False))
                             for i in range(0, len(images), 256)])
    m = evaluate(texts, best_texts(decode(logits, [steps(int(w)) for w in widths],
                                                       engine="tf")))
    return m["exact"], m["cer"]


def run_model(name, model, steps, train_ds, budget, schedule, test, epochs=None):
    """Train in one-epoch steps until ``budget`` seconds of training have passed, or, with
    ``epochs``, for that many epochs (the schedule then runs on steps, not on time)."""
    import keras

    per_epoch = int(train_ds.cardinality())

    class Budget(keras.callbacks.Callback):
        def __init__(self, spent):
            super().__init__()
            self.spent, self.start = spent, None

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            elapsed = self.spent + time.perf_counter() - self.start
            if epochs:
                fraction = int(self.model.optimizer.iterations.numpy()) / (epochs * per_epoch)
            else:
                fraction = elapsed / budget
            if schedule is not None:
                self.model.optimizer.learning_rate.assign(schedule(min(fraction, 1.0)))
            if not epochs and elapsed >= budget:
                self.model.stop_training = True

    points, spent, epoch = [], 0.0, 0
    while (epoch < epochs) if epochs else (spent < budget):
        cb = Budget(spent)
        start = time.perf_counter()
        model.fit(train_ds, epochs=1, verbose=0, callbacks=[cb], shuffle=False)
        spent += time.perf_counter() - start
        epoch += 1
        exact, cer = exact_accuracy(model, steps, *test)
        points.append({"epoch": epoch, "train_s": spent, "exact": exact, "cer": cer})
        print(f"  {name:<9} epoch {epoch:>3}  {spent:7.0f} s  exact {100 * exact:6.2f}%  "
              f"CER {100 * cer:5.2f}%", flush=True)
        if model.stop_training:
            break
    return points


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--budget", type=float, default=900, help="training seconds per model")
    p.add_argument("--epochs", type=int,
                   help="train each model this many epochs instead of for --budget seconds")
    p.add_argument("--count", type=int, default=20_000, help="training sequences per epoch")
    p.add_argument("--fresh", action="store_true", help="compose new sequences every epoch")
    p.add_argument("--models", default="ours,baseline")
    p.add_argument("--first-stride", type=int,
                   help="stride of our first conv (1: full resolution; default: NetConfig)")
    p.add_argument("--conv-filters", help="our CNN widths, e.g. 32,64,128 (default: NetConfig)")
    p.add_argument("--gru-units", help="our BiGRU sizes, e.g. 96 (default: NetConfig)")
    p.add_argument("--pools", help="our pooling per conv, e.g. 2x2,2x2,2x1,1x1 (1x1: none)")
    p.add_argument("--dense", type=int, help="our per-step projection size (default: NetConfig)")
    p.add_argument("--elastic", type=float, default=ComposeConfig().elastic,
                   help="elastic bend of the training digits in pixels (default %(default)s)")
    p.add_argument("--distort", type=float,
                   help="strength of our per-batch distortion (model.training.distort; "
                        "default: the trainer's)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    import keras

    from baseline import build_baseline
    from baseline import time_steps as baseline_steps
    from model.inputs.datasets import FreshSequences, make_fresh_dataset
    from model.network import NetConfig, build_model
    from model.training.distort import distorted
    from model.training.train import TrainConfig

    mnist = load_mnist("file", args.mnist) if args.mnist else load_mnist("embedded")
    x, y = split_pools(mnist)["train"]
    images, widths, texts, source = test_images(args.mnist)
    test = (images, widths, texts)
    cfg, net = TrainConfig(), NetConfig()
    distort = cfg.distort if args.distort is None else args.distort
    compose_cfg = ComposeConfig(elastic=args.elastic)
    for field in ("conv_filters", "gru_units"):
        if getattr(args, field):
            sizes = tuple(int(v) for v in getattr(args, field).split(","))
            net = dataclasses.replace(net, **{field: sizes})
    if args.pools:
        net = dataclasses.replace(net, pools=tuple(
            tuple(int(v) for v in pool.split("x")) for pool in args.pools.split(",")))
    if args.dense:
        net = dataclasses.replace(net, dense=args.dense)
    if args.first_stride:
        net = dataclasses.replace(net, first_stride=args.first_stride)

    def our_schedule(fraction):
        # The trainer's recipe on a time axis: 5% linear warm-up, then cosine to 1%.
        if fraction < 0.05:
            return cfg.learning_rate * (0.01 + 0.99 * fraction / 0.05)
        f = min(1.0, (fraction - 0.05) / 0.95)
        return cfg.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * f)))

    print(machine())
    results = {"source": source,
               "budget_s": None if args.epochs else args.budget,
               "epochs": args.epochs, "count": args.count, "fresh": args.fresh,
               "distort": distort,
               "compose": compose_cfg.to_dict(), "net": net.to_dict(), "models": {}}
    length = f"{args.epochs} epochs" if args.epochs else f"{args.budget:.0f} s"
    print(f"training on {args.count:,} five-digit sequences per epoch "
          f"({'fresh each epoch' if args.fresh else 'a fixed set'}) from {source} MNIST, "
          f"{length} per model; testing on {len(texts):,} writer-"
          f"{'disjoint' if mnist.writer_disjoint_test else 'shared (embedded)'} sequences")
    for name in args.models.split(","):
        keras.utils.set_random_seed(cfg.seed)
        if name == "ours":
            model, steps, batch, schedule = build_model(net), net.time_steps, cfg.batch_size, \
                our_schedule
            model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                          loss=keras.losses.CTC())
        else:
            model, steps, batch, schedule = build_baseline(), baseline_steps, 32, None
        if args.fresh:
            train_ds = make_fresh_dataset(FreshSequences(x, y, compose_cfg, args.count),
                                          batch, cfg.seed)
        else:
            train_ds = fixed_dataset(x, y, args.count, batch, cfg.seed, compose_cfg)
        if name == "ours":
            train_ds = distorted(train_ds, distort, cfg.seed)
        points = run_model(name, model, steps, train_ds, args.budget, schedule, test,
                           args.epochs)
        trained = int(model.optimizer.iterations.numpy()) * batch
        reach = {str(level): next((pt["train_s"] for pt in points if pt["exact"] >= level), None)
                 for level in LEVELS}
        results["models"][name] = {"params": model.count_params(), "points": points,
                                   "seq_per_s": trained / points[-1]["train_s"],
                                   "time_to": reach}
    print(f"\n{'model':<10}{'params':>9}{'train seq/s':>13}{'final exact':>13}" +
          "".join(f"{'to ' + format(100 * lv, 'g') + '%':>11}" for lv in LEVELS))
    for name, r in results["models"].items():
        cells = "".join(f"{r['time_to'][str(lv)]:>10.0f}s" if r["time_to"][str(lv)] else
                        f"{'-':>11}" for lv in LEVELS)
        print(f"{name:<10}{r['params']:>9,}{r['seq_per_s']:>13.0f}"
              f"{100 * r['points'][-1]['exact']:>12.2f}%{cells}")
    if {"ours", "baseline"} <= set(results["models"]):
        ours, base = results["models"]["ours"], results["models"]["baseline"]
        for lv in LEVELS:
            a, b = ours["time_to"][str(lv)], base["time_to"][str(lv)]
            if a and b:
                print(f"speed-up to {100 * lv:g}% exact: {b / a:.1f}x")
            elif a:
                print(f"speed-up to {100 * lv:g}% exact: ours {a:.0f} s, baseline never "
                      f"within {args.budget:.0f} s")
    return report(results, "train.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
