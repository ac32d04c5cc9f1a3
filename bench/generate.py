"""Benchmark the generator: sequences per second composed in memory and written as PNG.

    python bench/generate.py [--mnist PATH] [--count 20000] [--json FILE]

Composes --count five-digit sequences with 1 and 2 workers, with and without augmentation,
then writes them as a PNG dataset with 1 and 2 workers. A benchmark, not a test: it prints
what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import report  # noqa: E402
from digits.blocks import BLOCK, compose_block, split_pools  # noqa: E402
from digits.cli import DATA_DIR  # noqa: E402
from digits.compose import ComposeConfig  # noqa: E402
from digits.dataset import Counts, write_dataset  # noqa: E402
from digits.sources import load_mnist  # noqa: E402

_POOL = None
SHM = Path("/dev/shm")


def _compose_blocks(args) -> int:
    first, last, count, cfg = args
    n = 0
    for b in range(first, last):
        n += len(compose_block(_POOL, "train", b, min(BLOCK, count - b * BLOCK), cfg, 0).images)
    return n


def compose_rate(count: int, cfg: ComposeConfig, workers: int) -> float:
    """Sequences per second composed in memory (images kept in the workers' memory)."""
    blocks = -(-count // BLOCK)
    step = -(-blocks // (workers * 4))
    tasks = [(b, min(b + step, blocks), count, cfg) for b in range(0, blocks, step)]
    start = time.perf_counter()
    if workers == 1:
        done = sum(map(_compose_blocks, tasks))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = sum(pool.map(_compose_blocks, tasks))
    return done / (time.perf_counter() - start)


def write_rate(mnist, count: int, workers: int, scratch: Path) -> float:
    """Sequences per second composed (default augmentation) and written as PNG files."""
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        start = time.perf_counter()
        write_dataset(Path(tmp) / "d", mnist, ComposeConfig(), Counts(count, 0, 0), seed=0,
                      workers=workers)
        return count / (time.perf_counter() - start)


def file_rate(count: int, scratch: Path, size: int = 1900) -> float:
    """Files per second the filesystem itself takes: ``count`` files of PNG size, no work."""
    scratch.mkdir(parents=True, exist_ok=True)
    data = bytes(size)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        start = time.perf_counter()
        for i in range(count):
            with open(f"{tmp}/{i:06d}.png", "wb") as f:
                f.write(data)
        return count / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--count", type=int, default=20_000, help="sequences per measurement")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--scratch", type=Path, default=DATA_DIR,
                   help="where the PNGs are written, then deleted (default: the project's "
                        "data/, the filesystem a real dataset goes to)")
    args = p.parse_args(argv)
    global _POOL
    mnist = load_mnist("file", args.mnist) if args.mnist else load_mnist("embedded")
    _POOL = split_pools(mnist)["train"]
    results = {"count": args.count, "source": mnist.source, "rows": []}
    print(f"{args.count:,} five-digit sequences from {mnist.source} MNIST")
    print(f"{'what':<28}{'workers':>8}{'seq/s':>10}")
    for label, cfg in (("composed, --no-augment", ComposeConfig(augment=False)),
                       ("composed, augmented", ComposeConfig())):
        for workers in (1, 2):
            rate = compose_rate(args.count, cfg, workers)
            results["rows"].append({"what": label, "workers": workers, "seq_per_s": rate})
            print(f"{label:<28}{workers:>8}{rate:>10,.0f}")
    # The shared disk's write-back makes file-writing rates swing by 2x from run to run; a
    # memory-backed filesystem shows what the code itself does.
    scratches = [("disk", args.scratch)] + ([("tmpfs", SHM)] if SHM.is_dir() else [])
    for where, scratch in scratches:
        rate = file_rate(args.count, scratch)
        label = f"empty files only ({where})"
        results["rows"].append({"what": label, "scratch": str(scratch), "seq_per_s": rate})
        print(f"{label:<28}{'-':>8}{rate:>10,.0f}")
        for workers in (1, 2):
            rate = write_rate(mnist, args.count, workers, scratch)
            label = f"written as PNG ({where})"
            results["rows"].append({"what": label, "scratch": str(scratch), "workers": workers,
                                    "seq_per_s": rate})
            print(f"{label:<28}{workers:>8}{rate:>10,.0f}")
    return report(results, "generate.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
