"""Benchmark training speed of architecture and runtime choices, one against another.

    python bench/speed.py [--width 144] [--batch 64] [--rounds 8] [--json FILE]

Times training steps (forward, CTC loss, backward, Adam) of each variant on the same batch
of random 28-pixel-high images, interleaving the variants round by round so that a noisy
shared machine slows them alike, and reports the median step time as sequences per second
and as a ratio to our default. It measures speed only; bench/train.py measures accuracy.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import machine, report  # noqa: E402

# name -> (NetConfig changes from the default, runtime option). Runtime options: "jit"
# compiles the train step with XLA, "bf16" trains under the mixed_bfloat16 policy,
# "batch128" doubles the batch.
VARIANTS = {
    "default": ({}, None),
    "full-resolution first conv 16-32-64 (before)": (
        {"first_stride": 1, "conv_filters": (16, 32, 64), "pools": ((2, 2), (2, 2), (2, 1))},
        None),
    "stride 2 + CNN 16-32-64": ({"conv_filters": (16, 32, 64)}, None),
    "stride 2 + CNN 32-64-128": ({"conv_filters": (32, 64, 128)}, None),
    "a 4th conv: 96 at 3 rows": ({"conv_filters": (24, 48, 96, 96),
                                  "pools": ((2, 2), (2, 1), (1, 1), (1, 1))}, None),
    "GRU 96": ({"gru_units": (96,)}, None),
    "batch 128": ({}, "batch128"),
    "xla (jit_compile)": ({}, "jit"),
    "bfloat16 mixed precision": ({}, "bf16"),
}


def build(name: str, batch: int):
    import keras

    from model.network import NetConfig, build_model

    changes, option = VARIANTS[name]
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if option == "bf16" else "float32")
    keras.utils.set_random_seed(0)
    model = build_model(dataclasses.replace(NetConfig(), **changes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CTC(),
                  jit_compile=option == "jit")
    keras.mixed_precision.set_global_policy("float32")
    return model, batch * 2 if option == "batch128" else batch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=144, help="image width (five digits ~ 144)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=8, help="rounds of 4 steps per variant")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    print(machine())
    rng = np.random.default_rng(0)
    models = {}
    for name in names:
        model, batch = build(name, args.batch)
        x = rng.integers(0, 256, (batch, 28, args.width, 1)).astype(np.float32)
        y = rng.integers(1, 11, (batch, 5)).astype(np.int32)
        for _ in range(3):  # compile and warm up
            model.train_on_batch(x, y)
        models[name] = (model, x, y, [])
    for _ in range(args.rounds):
        for name in names:
            model, x, y, times = models[name]
            for _ in range(4):
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times.append(time.perf_counter() - start)
    base = None
    results = {"width": args.width, "batch": args.batch, "variants": {}}
    print(f"{'variant':<30}{'params':>9}{'ms/step':>9}{'seq/s':>8}{'vs default':>12}")
    for name in names:
        model, x, _, times = models[name]
        step = float(np.median(times))
        rate = len(x) / step
        base = base or rate
        results["variants"][name] = {"params": model.count_params(), "ms_per_step": 1e3 * step,
                                     "seq_per_s": rate, "ratio": rate / base}
        print(f"{name:<30}{model.count_params():>9,}{1e3 * step:>9.1f}{rate:>8.0f}"
              f"{rate / base:>11.2f}x")
    return report(results, "speed.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
