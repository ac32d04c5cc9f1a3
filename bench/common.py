"""What the benchmarks share: the same 2,000 writer-disjoint test sequences everywhere."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digits.blocks import compose_block, split_pools  # noqa: E402
from digits.compose import ComposeConfig  # noqa: E402
from digits.sources import load_mnist  # noqa: E402

TEST_SEED = 2024  # the same 2,000 test sequences in every benchmark


def test_config(height: int = 28) -> ComposeConfig:
    """The composition of the test sequences, pinned so that a change of the generator's
    defaults does not change the benchmark: the defaults of November 2026, no elastic bend."""
    return ComposeConfig(height=height, elastic=0.0)


def test_sequences(mnist_path: str | None, count: int = 2000, height: int = 28):
    """The fixed test sequences as a list of uint8 images, their labels and the source name."""
    mnist = load_mnist("file", mnist_path) if mnist_path else load_mnist("embedded")
    pool = split_pools(mnist)["test"]
    images, texts = [], []
    for block in range(-(-count // 100)):
        chunk = compose_block(pool, "test", block, min(100, count - 100 * block),
                              test_config(height), TEST_SEED)
        images += chunk.images
        texts += chunk.texts
    return images, texts, mnist.source


def test_images(mnist_path: str | None, count: int = 2000, height: int = 28):
    """(count, height, widest, 1) float32 zero-padded images, their widths, labels, source."""
    from model.inputs.datasets import pad_images

    images, texts, source = test_sequences(mnist_path, count, height)
    return (pad_images(images, np.float32), np.array([im.shape[1] for im in images]), texts,
            source)


def report(results: dict, script: str, argv: list[str] | None, json_path: Path | None) -> int:
    """Print the machine and the command that reproduces a benchmark, and save its results
    as JSON."""
    args = argv if argv is not None else sys.argv[1:]
    results["command"] = f"python bench/{script} {shlex.join(args)}".strip()
    results.setdefault("machine", machine())
    print(f"machine: {results['machine']}")
    print(f"reproduce: {results['command']}")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def machine() -> str:
    """The CPU model, whether it has AVX-512, its cores and the thread settings in force:
    figures from different CPU kinds are not comparable, so every benchmark prints this."""
    import os

    model, flags = "unknown CPU", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    threads = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",
                        "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS") if k in os.environ)
    return (f"{model}, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}, "
            f"{os.cpu_count()} cores, threads: {threads or 'library defaults'}")
