"""Streaming a TFRecord dataset (``digits.shards`` format) through tf.data.

Nothing here holds a split in memory: shards are read a few at a time (interleaved),
records are shuffled in a bounded buffer, decoded in parallel and batched, so the memory a
split needs does not grow with its size.

Every shard is checked against the manifest's sha256 before training. A damaged shard is
an error naming it, or, with ``skip_corrupt``, is read record by record and its unreadable
records are skipped and counted. Either way an epoch has exactly ``len(split)`` records:
the pipeline asserts it, so a shard that changes under a running job stops it rather than
silently shortening the epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from digits.errors import DataError
from digits.shards import check_shard

SHUFFLE_BUFFER = 10_000  # records (~20 MB of PNG bytes): what memory a shuffled split costs.
CYCLE = 8  # shards read at once when shuffling; more mixes better and opens more files.


@dataclass
class ShardedSplit:
    """One split of a TFRecord dataset.

    Attributes:
        name: "train", "val" or "test".
        shards: every shard's path, in record order.
        counts: records per shard, from the manifest.
        sha256: each shard's checksum, from the manifest.
        narrowest: label length -> the narrowest image with a label that long.
        label_width: labels are padded to this many classes (the longest possible label).
        damaged: for each damaged shard read with ``skip_corrupt``, the (offset, length)
            of its readable records (digits.tfrecord.scan).
        skipped: records of damaged shards that cannot be read and are left out.
    """

    name: str
    shards: list[Path]
    counts: list[int]
    sha256: list[str]
    narrowest: dict[int, int]
    label_width: int
    damaged: dict[Path, list[tuple[int, int]]] = field(default_factory=dict)
    skipped: int = 0

    def __len__(self) -> int:
        return sum(self.counts) - self.skipped


def load_sharded_split(root: Path, manifest: dict, name: str, skip_corrupt: bool = False,
                       log=print) -> ShardedSplit:
    """Check a split's shards against the manifest and describe it.

    Raises:
        DataError: a shard is missing, or damaged without ``skip_corrupt``, or nothing of the
            split is readable.
    """
    from digits.tfrecord import scan

    try:
        entry = manifest["splits"][name]
        shards = [(Path(root) / s["file"], int(s["count"]), s) for s in entry["shards"]]
        digests = [str(s["sha256"]) for s in entry["shards"]]
        narrowest = {int(k): int(v) for k, v in entry["narrowest_width"].items()}
        label_width = int(manifest["compose"]["max_length"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{Path(root) / 'manifest.json'}: the {name} split's shard list is "
                        f"incomplete ({type(e).__name__}: {e})") from None
    split = ShardedSplit(name, [p for p, _, _ in shards], [n for _, n, _ in shards],
                         digests, narrowest, label_width)
    start = time.perf_counter()
    for path, count, shard in shards:
        problem = check_shard(root, shard)
        if problem is None:
            continue
        if problem == "is missing" or not skip_corrupt:
            hint = "" if problem == "is missing" else (
                "; regenerate the dataset, or pass --skip-corrupt to train on its readable "
                "records")
            raise DataError(f"TFRecord shard {path} {problem}{hint}")
        found = scan(path)
        readable = found.readable[:count]
        split.damaged[path] = readable
        split.skipped += count - len(readable)
        log(f"--skip-corrupt: shard {path} {problem}; skipping {count - len(readable):,} of "
            f"its {count:,} records")
    if split.skipped:
        log(f"--skip-corrupt: {split.skipped:,} {name} records skipped in all, "
            f"{len(split):,} left")
    elif len(shards) > 1:
        log(f"{name}: {len(shards):,} TFRecord shards, {len(split):,} records, checksums "
            f"verified in {time.perf_counter() - start:.1f} s")
    if len(split) == 0:
        raise DataError(f"the {name} split of {root} has no readable records")
    return split


def damaged_shard(split: ShardedSplit) -> str | None:
    """The first shard that no longer matches its manifest, described for an error message.

    Called when TensorFlow fails mid-epoch, to name the file its error message leaves out.
    """
    from digits.sources import sha256_file

    for path, digest in zip(split.shards, split.sha256, strict=True):
        if path in split.damaged:
            continue
        if not path.is_file():
            return f"TFRecord shard {path} is missing"
        if sha256_file(path) != digest:
            return f"TFRecord shard {path} is corrupt or truncated (changed since the check " \
                   "before training)"
    return None


def record_dataset(split: ShardedSplit, height: int, shuffle_seed: int | None = None):
    """Decoded examples of a split: (image (height, width, 1) uint8, label (L,) int32 with
    digit d as class d+1, width int32), shuffled with ``shuffle_seed`` or in record order."""
    import tensorflow as tf

    from digits.tfrecord import read_at

    whole = [str(p) for p in split.shards if p not in split.damaged]
    records = None
    if whole:
        files = tf.data.Dataset.from_tensor_slices(whole)
        if shuffle_seed is not None:
            files = files.shuffle(len(whole), seed=shuffle_seed, reshuffle_each_iteration=True)
            records = files.interleave(tf.data.TFRecordDataset,
                                       cycle_length=min(CYCLE, len(whole)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            records = tf.data.TFRecordDataset(files)  # one shard after another, in order
    if split.damaged:
        # Only the readable records of damaged shards, located by their offsets: TensorFlow's
        # reader gives up on the rest of a file at its first bad record.
        def readable():
            for path, spans in split.damaged.items():
                yield from read_at(path, spans)

        rescued = tf.data.Dataset.from_generator(
            readable, output_signature=tf.TensorSpec((), tf.string))
        records = rescued if records is None else records.concatenate(rescued)
    # An epoch must hold every record the manifest promises (less those skipped): a shard
    # that comes up short fails loudly instead of quietly shortening the epoch.
    records = records.apply(tf.data.experimental.assert_cardinality(len(split)))
    if shuffle_seed is not None:
        records = records.shuffle(min(SHUFFLE_BUFFER, len(split)), seed=shuffle_seed,
                                  reshuffle_each_iteration=True)
    features = {"image": tf.io.FixedLenFeature([], tf.string),
                "text": tf.io.FixedLenFeature([], tf.string),
                "width": tf.io.FixedLenFeature([], tf.int64)}

    def decode(record):
        example = tf.io.parse_single_example(record, features)
        image = tf.ensure_shape(tf.io.decode_png(example["image"], channels=1),
                                (height, None, 1))
        # "0" is class 1, ..., "9" class 10 (model.vocab)
        label = tf.cast(tf.io.decode_raw(example["text"], tf.uint8), tf.int32) - (ord("0") - 1)
        return image, label, tf.cast(example["width"], tf.int32)

    return records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
