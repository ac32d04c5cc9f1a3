"""The TFRecord dataset format: each split as numbered shards of PNG + label records.

Layout (``--format tfrecord``)::

    OUT/{train,val,test}/{split}-00000-of-00004.tfrecord   shard_size records each (the last
                                                           may hold fewer); digits.tfrecord
                                                           describes a record
    OUT/manifest.json                                      as for PNG datasets, with
                                                           "format": "tfrecord" and, per split,
                                                           every shard's file, record count and
                                                           sha256

Record i of a split holds exactly the image and label that ``--format png`` writes as image
i: both formats compose the same seeded blocks (digits.blocks.compose_block). A shard is
written by one worker, straight to its file, one block at a time, so memory stays flat
however many sequences there are, and the bytes do not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

from digits import blocks
from digits.compose import ComposeConfig
from digits.sources import sha256_file
from digits.tfrecord import encode_example, frame

SHARD_SIZE = 10_000  # ~20 MB of five-digit PNGs: 100 shards for a million sequences, enough
# for interleaved reads and parallel generation, few enough that opening them costs nothing.
WRITE_BUFFER = 1 << 20  # bytes buffered per shard file


def shard_name(split: str, index: int, total: int) -> str:
    return f"{split}-{index:05d}-of-{total:05d}.tfrecord"


def _write_shard(args) -> tuple[str, int, dict]:
    """Compose and write records [first, end) of a split to ``path``: the worker's task.

    Returns:
        (split, shard index, {"file", "count", "sha256"} and the narrowest width per label
        length as "narrowest").
    """
    split, index, first, end, count, cfg, seed, path, name = args
    digest = hashlib.sha256()
    narrowest: dict[int, int] = {}
    block = first // blocks.BLOCK
    with open(path, "xb", buffering=WRITE_BUFFER) as f:
        while block * blocks.BLOCK < end:
            start = block * blocks.BLOCK
            # The whole block, as the PNG format composes it, even where the shard needs part
            # of it: a block's images depend on how many it composes.
            chunk = blocks.compose_block(blocks.POOLS[split], split, block,
                                          min(blocks.BLOCK, count - start), cfg, seed)
            lo, hi = max(first, start) - start, min(end, start + len(chunk.texts)) - start
            for image, text in zip(chunk.images[lo:hi], chunk.texts[lo:hi], strict=True):
                width = image.shape[1]
                record = frame(encode_example(blocks.encode_png(image), text, width))
                f.write(record)
                digest.update(record)
                narrowest[len(text)] = min(width, narrowest.get(len(text), width))
            block += 1
    return split, index, {"file": name, "count": end - first, "sha256": digest.hexdigest(),
                          "narrowest": narrowest}


def write_sharded_splits(root: Path, counts, cfg: ComposeConfig, seed: int, workers: int,
                         shard_size: int, progress) -> dict:
    """Write every split's shards under root (the temporary dataset directory).

    All splits' shards go to one pool of workers, each shard a task, so small splits do not
    leave workers idle.

    Returns:
        The manifest's "splits" entry.
    """
    tasks, splits = [], {}
    for split, count in counts.items():
        (root / split).mkdir(parents=True)
        total = -(-count // shard_size)
        splits[split] = {"count": count, "shard_size": shard_size, "shards": [None] * total}
        for i in range(total):
            name = f"{split}/{shard_name(split, i, total)}"
            tasks.append((split, i, i * shard_size, min(count, (i + 1) * shard_size), count,
                          cfg, seed, root / name, name))
    narrowest: dict[str, dict[int, int]] = {s: {} for s in splits}

    def collect(results):
        for split, index, shard in results:
            for length, width in shard.pop("narrowest").items():
                narrowest[split][length] = min(width, narrowest[split].get(length, width))
            splits[split]["shards"][index] = shard
            progress(shard["count"])

    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(workers, blocks.quiet_worker) as pool:
            collect(pool.imap_unordered(_write_shard, tasks))
    else:
        collect(map(_write_shard, tasks))
    for split, entry in splits.items():
        # Lets the trainer check that every image gives the model enough time steps for its
        # label without reading the shards: the narrowest image per label length decides.
        entry["narrowest_width"] = {str(k): v for k, v in sorted(narrowest[split].items())}
    return splits


def check_shard(root: Path, shard: dict) -> str | None:
    """Why a shard listed in a manifest is unusable (missing, or not the bytes written), or
    None when its sha256 matches."""
    path = Path(root) / shard["file"]
    if not path.is_file():
        return "is missing"
    try:
        if sha256_file(path) != shard["sha256"]:
            return "is corrupt or truncated (its sha256 differs from the manifest's)"
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    return None
