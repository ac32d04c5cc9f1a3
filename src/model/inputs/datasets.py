"""Feeding an on-disk dataset (``digits.dataset`` format) to the network through tf.data."""

from __future__ import annotations

import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.cli import DATA_DIR
from digits.dataset import read_labels, read_manifest
from digits.errors import DataError
from model.network import NetConfig

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        files: absolute image paths.
        texts: digit strings.
        widths: (n,) image widths in pixels.
    """

    files: list[str]
    texts: list[str]
    widths: np.ndarray

    def __len__(self) -> int:
        return len(self.files)


def resolve_dataset(name_or_path: str) -> Path:
    """A dataset name under data/ (``digits``) or a path to a dataset directory."""
    path = Path(name_or_path)
    candidates = [path] if path.is_absolute() or len(path.parts) > 1 else [DATA_DIR / path, path]
    for c in candidates:
        if (c / "manifest.json").is_file():
            return c
    for c in candidates:
        if c.is_dir():
            read_manifest(c)  # raises the precise complaint
    raise DataError(f"no dataset {name_or_path!r} (looked in {', '.join(map(str, candidates))}); "
                    "make it with: cd src && python -m digits.sequence_generator")


def png_size(path: str) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding it."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DataError(f"{path} is not a PNG image")
    return struct.unpack(">II", head[16:24])


def load_split(root: Path, name: str, height: int | None = None) -> Split:
    """Read a split's labels and image sizes, checking every image is a PNG of ``height``."""
    files, texts = read_labels(Path(root) / name)
    widths = np.empty(len(files), np.int32)
    for i, f in enumerate(files):
        w, h = png_size(f)
        if height is not None and h != height:
            raise DataError(f"{f} is {h} pixels high; the dataset's manifest says {height}")
        widths[i] = w
    return Split(files, texts, widths)


def open_split(root: Path, manifest: dict, name: str, height: int, skip_corrupt: bool = False,
               log=print):
    """A split of a dataset in either format: a Split (PNG) or a model.inputs.records.ShardedSplit.

    Args:
        skip_corrupt: TFRecord datasets only: leave out the unreadable records of damaged
            shards (and log how many) instead of failing.
    """
    from digits.dataset import dataset_format

    if dataset_format(manifest) == "tfrecord":
        from model.inputs.records import load_sharded_split

        return load_sharded_split(root, manifest, name, skip_corrupt, log)
    if skip_corrupt:
        raise DataError(f"--skip-corrupt applies to TFRecord datasets; {root} is a PNG dataset")
    return load_split(root, name, height)


def steps_needed(text: str) -> int:
    """The fewest time steps CTC can emit ``text`` from: one per digit, plus a blank
    between each pair of equal neighbours ("11" needs 3, "12" needs 2)."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:], strict=False))


def too_narrow(split: Split, cfg: NetConfig) -> np.ndarray:
    """Indices of the images of a PNG split whose label CTC cannot emit from their width."""
    steps = np.array([cfg.time_steps(int(w)) for w in split.widths], np.int64)
    needed = np.array([steps_needed(t) for t in split.texts], np.int64)
    return np.flatnonzero(steps < needed)


def check_time_steps(split, cfg: NetConfig) -> None:
    """Every label must fit its image's time steps (``steps_needed``). TFRecord splits know
    only the narrowest image per label length, so there the bound is the worst case, 2L+1
    ("1111")."""
    if not isinstance(split, Split):  # a TFRecord split: its manifest has the narrowest widths
        for length, width in sorted(split.narrowest.items()):
            steps = cfg.time_steps(width)
            if steps < 2 * length + 1:
                raise DataError(
                    f"the {split.name} split has {length}-digit labels, longer than the model "
                    f"can emit from its narrowest {width}-pixel-wide image with that label "
                    f"({steps} time steps, {2 * length + 1} needed); use wider images or less "
                    "pooling")
        return
    bad = too_narrow(split, cfg)
    if len(bad):
        i = bad[0]
        text = split.texts[i]
        raise DataError(
            f"{split.files[i]}: label {text!r} has {len(text)} digits, longer than the model "
            f"can emit from a {split.widths[i]}-pixel-wide image "
            f"({cfg.time_steps(int(split.widths[i]))} time steps, {steps_needed(text)} "
            "needed); use wider images or less pooling")


def find_corrupt(split: Split) -> str | None:
    """The first image that Pillow cannot decode, to name it in an error message."""
    from PIL import Image

    for f in split.files:
        try:
            with Image.open(f) as im:
                im.load()
        except Exception:  # any decoder failure means the file is the culprit
            return f
    return None


@contextmanager
def naming_corrupt_images(splits):
    """Turn TensorFlow's anonymous decoding or data-loss failure into an error naming the
    file: the PNG image, or the TFRecord shard."""
    import tensorflow as tf

    from model.inputs.records import damaged_shard

    try:
        yield
    except tf.errors.OpError as e:
        for split in splits:
            if isinstance(split, Split):
                bad = find_corrupt(split)
                if bad is not None:
                    raise DataError(f"{bad} is not a readable PNG image") from None
            else:
                problem = damaged_shard(split)
                if problem is not None:
                    raise DataError(problem) from None
        if isinstance(e, tf.errors.DataLossError):
            first = str(e).strip().splitlines()[0] if str(e).strip() else "data loss"
            raise DataError(f"reading the dataset failed: {first}") from None
        raise


def make_dataset(split, batch_size: int, height: int, shuffle_seed: int | None = None,
                 cache: bool = True, widths: bool = False, augment=None):
    """A tf.data pipeline of padded batches, from a PNG Split or a TFRecord ShardedSplit.

    Args:
        split: what to read.
        batch_size: sequences per batch.
        height: image height (all images share it).
        shuffle_seed: shuffle every epoch with this seed; None keeps the dataset's order.
        cache: PNG splits of up to PNG_CACHE_LIMIT images: keep decoded images in memory
            after the first pass. TFRecord splits are always streamed.
        widths: also yield each image's width.
        augment: PNG splits only: a tf.data map function (image (height, width, 1) uint8,
            label, width) -> the same, applied to every example each epoch, after the
            cache and the shuffle (model.training.augment).

    Yields:
        (images, labels) or, with ``widths``, (images, labels, widths): images (batch,
        height, widest in batch, 1) float32 pixel values, zero-padded on the right (the
        background is black); labels (batch, longest label) int32, digit d as class d+1,
        padded with 0; widths (batch,) int32.
    """
    import tensorflow as tf

    if isinstance(split, Split):
        ds, label_width = _png_examples(split, height, shuffle_seed, cache), None
        if augment is not None:
            # Sequential: one seeded random stream, so a run's augmentation is repeatable.
            ds = ds.map(augment)
    else:
        if augment is not None:
            raise DataError("augmentation applies to PNG splits only")
        from model.inputs.records import record_dataset

        ds, label_width = record_dataset(split, height, shuffle_seed), split.label_width
    zero = tf.constant(0, tf.uint8)
    ds = ds.padded_batch(batch_size, padded_shapes=((height, None, 1), (label_width,), ()),
                         padding_values=(zero, 0, 0))
    if widths:
        ds = ds.map(lambda x, y, w: (tf.cast(x, tf.float32), y, w),
                    num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, w: (tf.cast(x, tf.float32), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


PNG_CACHE_LIMIT = 200_000  # decoded images, ~3 KB each: at most ~600 MB kept in memory.


def _png_examples(split: Split, height: int, shuffle_seed: int | None, cache: bool):
    """(image (height, width, 1) uint8, label, width) per PNG of a split."""
    import tensorflow as tf

    from model.vocab import encode_batch

    labels = encode_batch(split.texts)

    def load(path, label, width):
        image = tf.io.decode_png(tf.io.read_file(path), channels=1)
        return tf.ensure_shape(image, (height, None, 1)), label, width

    ds = tf.data.Dataset.from_tensor_slices((split.files, labels, split.widths))
    if cache and len(split) <= PNG_CACHE_LIMIT:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.cache()  # uint8 images: ~3 KB each, so 20,000 fit in 60 MB
        if shuffle_seed is not None:
            ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
        return ds
    # Too many to keep: shuffle the file names (cheap), then read and decode each epoch.
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def sample_images(split, indices: list[int], height: int) -> dict:
    """{index: (height, width) uint8 image} for a few indices of a split, in the order that
    make_dataset reads it (PNG: the files; TFRecord: one pass that stops at the last)."""
    if isinstance(split, Split):
        from PIL import Image

        return {i: np.asarray(Image.open(split.files[i])) for i in indices}
    from model.inputs.records import record_dataset

    wanted, found = set(indices), {}
    for i, (image, _, width) in enumerate(record_dataset(split, height)):
        if i in wanted:
            found[i] = image.numpy()[:, : int(width), 0]
            if len(found) == len(wanted):
                break
    return found


@dataclass
class FreshSequences:
    """Training data composed anew every epoch from a digit pool, never stored.

    Each epoch draws ``count`` new sequences (new digit combinations, new augmentation),
    so a small digit pool is not memorised as quickly as a fixed set of sequences is.

    Attributes:
        x: (pool, 28, 28) uint8 digits; y: (pool,) labels.
        compose: how to compose (digits.compose.ComposeConfig).
        count: sequences per epoch.
    """

    x: np.ndarray
    y: np.ndarray
    compose: object
    count: int

    def __len__(self) -> int:
        return self.count


def fresh_pool(manifest: dict, count: int, root: str | Path | None = None) -> FreshSequences:
    """The training digit pool of a dataset, reloaded from the MNIST source its manifest names
    and, where it was made with fonts, the font digits stored at ``root`` (the dataset).

    Raises:
        DataError: the source is gone or its checksum differs from the manifest's.
    """
    from digits.blocks import split_pools
    from digits.compose import ComposeConfig
    from digits.fonts import load_pool
    from digits.sources import load_mnist

    src = manifest["source"]
    path = src["origin"] if src["name"] in ("file", "keras") else None
    mnist = load_mnist("file" if path else src["name"], path)
    if mnist.sha256 != src["sha256"]:
        raise DataError(f"the MNIST source {src['origin']} has changed since the dataset was "
                        "made (sha256 differs); regenerate the dataset")
    extra = None
    if "fonts" in src:
        if root is None:
            raise DataError("the dataset was made with font digits; give its folder")
        extra = load_pool(root, src["fonts"])
    x, y = split_pools(mnist, extra)["train"]
    return FreshSequences(x, y, ComposeConfig(**manifest["compose"]), count)


def pad_images(images: list[np.ndarray], dtype=np.uint8) -> np.ndarray:
    """Stack (height, width_i) images into (n, height, widest, 1), zero-padded on the right
    (zero is the black background)."""
    widest = max(im.shape[1] for im in images)
    batch = np.zeros((len(images), images[0].shape[0], widest, 1), dtype)
    for i, im in enumerate(images):
        batch[i, :, : im.shape[1], 0] = im
    return batch


def check_fresh_time_steps(fresh: FreshSequences, net: NetConfig) -> None:
    """Like check_time_steps, for the narrowest image the composer can make per length."""
    from digits.compose import DIGIT_SIZE, MIN_WIDTH_PER_DIGIT

    cfg = fresh.compose
    per_digit = MIN_WIDTH_PER_DIGIT if cfg.augment else DIGIT_SIZE
    for length in range(cfg.min_length, cfg.max_length + 1):
        width = length * per_digit * cfg.height // DIGIT_SIZE
        if net.time_steps(width) < 2 * length + 1:
            raise DataError(f"composed {length}-digit sequences can be {width} pixels wide, "
                            f"too narrow for the model to emit them ({net.time_steps(width)} "
                            f"time steps, {2 * length + 1} needed); use less pooling")


def make_fresh_dataset(fresh: FreshSequences, batch_size: int, seed: int):
    """Like make_dataset, but every epoch composes new batches (seeded by seed and epoch)."""
    import itertools

    import tensorflow as tf

    from digits.compose import compose
    from model.vocab import encode_batch

    cfg = fresh.compose
    epochs = itertools.count()

    def batches():
        epoch = next(epochs)
        for b in range(-(-fresh.count // batch_size)):
            n = min(batch_size, fresh.count - b * batch_size)
            chunk = compose(fresh.x, fresh.y, n, cfg, np.random.default_rng([seed, epoch, b]))
            yield pad_images(chunk.images), encode_batch(chunk.texts, cfg.max_length)

    ds = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, cfg.height, None, 1), tf.uint8),
        tf.TensorSpec((None, cfg.max_length), tf.int32)))
    # A generator's length is unknown to tf.data; Keras needs it to run several epochs.
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-fresh.count // batch_size)))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.prefetch(4)  # composing overlaps training
