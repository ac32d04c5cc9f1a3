"""Writer variety drawn inside the input pipeline: every training batch, every epoch, is bent,
slanted and re-inked anew, in TensorFlow ops that cost little beside a training step.

A small digit pool is learned by heart long before training ends: 3,600 digits make 20,000
sequences, and the network reads them all after a few epochs while new writers still trip
it. Composing new sequences every epoch (``--fresh``) gives new combinations but costs a
CPU core in Python; the same variety of hand drawn here costs almost nothing. Each image is
resampled through a smooth random displacement field (an elastic bend, as Simard et al.
2003 drew for MNIST) plus a random slant, and its strokes are made heavier or lighter.
The width, and so the time steps and the label, stay as they were.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# A photo of a small cell holds a digit in few pixels: prepared, it is scaled up and
# blurred. Lower resolutions are drawn down to this fraction of the model's height (a
# digit about 8 pixels high).
LOWRES_SMALLEST = 0.4


@dataclass(frozen=True)
class DistortConfig:
    """The largest change at strength 1 (``TrainConfig.distort`` scales all three)."""

    bend: float = 1.5  # Pixels a control point of the displacement field moves, at most.
    spacing: int = 8  # Pixels between control points: a third of a digit bends as one.
    slant: float = 0.2  # Horizontal shift per row of height (about 11 degrees).
    # Stroke weight: a blend of the image with its 3x3 grey dilation (heavier) or erosion
    # (lighter), by up to this fraction.
    weight: float = 0.5

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def distort_batch(images, seed, strength: float, cfg: DistortConfig = DistortConfig()):
    """Distort a batch of images, each its own way.

    Args:
        images: (batch, height, width, 1) float32, 0..255, white ink on black.
        seed: (2,) int32 or int64 seed of TensorFlow's stateless random ops.
        strength: scales every change of ``cfg``; 0 returns the images unchanged.

    Returns:
        The distorted images, same shape and dtype, values in 0..255.
    """
    import tensorflow as tf

    if strength <= 0:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    bend_seed, slant_seed, weight_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3))
    bend = strength * cfg.bend
    coarse = tf.random.stateless_uniform(
        tf.stack([n, h // cfg.spacing + 2, w // cfg.spacing + 2, 2]), bend_seed, -bend, bend)
    field = tf.image.resize(coarse, tf.stack([h, w]), method="bilinear")
    rows = tf.cast(tf.range(h), tf.float32)[None, :, None]
    cols = tf.cast(tf.range(w), tf.float32)[None, None, :]
    slant = tf.random.stateless_uniform(tf.stack([n, 1, 1]), slant_seed,
                                        -strength * cfg.slant, strength * cfg.slant)
    middle = (tf.cast(h, tf.float32) - 1) / 2
    x = cols + field[..., 0] + slant * (rows - middle)
    y = rows + field[..., 1]
    out = _sample(images[..., 0], x, y)[..., None]
    amount = tf.random.stateless_uniform(tf.stack([n, 1, 1, 1]), weight_seed,
                                         -strength * cfg.weight, strength * cfg.weight)
    heavier = tf.nn.max_pool2d(out, 3, 1, "SAME")
    lighter = -tf.nn.max_pool2d(-out, 3, 1, "SAME")
    out = tf.where(amount > 0, out + amount * (heavier - out), out - amount * (lighter - out))
    return tf.clip_by_value(out, 0.0, 255.0)


def _sample(images, x, y):
    """Bilinear samples of (n, h, w) images at (n, h, w) coordinates x (column), y (row);
    black outside the image."""
    import tensorflow as tf

    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    # A black border of one pixel: samples just outside blend toward black, and every
    # clipped coordinate lands on black.
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1]])
    side = w + 2
    flat = tf.reshape(padded, [-1])
    x = tf.clip_by_value(x + 1, 0.0, tf.cast(side, tf.float32) - 1.001)
    y = tf.clip_by_value(y + 1, 0.0, tf.cast(h + 2, tf.float32) - 1.001)
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = x - x0, y - y0
    base = (tf.range(n) * (h + 2) * side)[:, None, None] + tf.cast(y0, tf.int32) * side \
        + tf.cast(x0, tf.int32)
    v00 = tf.gather(flat, base)
    v01 = tf.gather(flat, base + 1)
    v10 = tf.gather(flat, base + side)
    v11 = tf.gather(flat, base + side + 1)
    top = v00 + wx * (v01 - v00)
    bottom = v10 + wx * (v11 - v10)
    return top + wy * (bottom - top)


def lower_resolution(images, seed, share: float, smallest: float = LOWRES_SMALLEST):
    """Show ``share`` of a batch's images at a lower resolution: the batch downscaled by one
    factor drawn between ``smallest`` and 1 (area averaging), then scaled back to its size
    (bilinear), and each image taking that version with probability ``share``.

    Args:
        images: (batch, height, width, 1) float32, 0..255.
        seed: (2,) int32 or int64 seed of TensorFlow's stateless random ops.

    Returns:
        The images, same shape and dtype.
    """
    import tensorflow as tf

    if share <= 0:
        return images
    factor_seed, pick_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    factor = tf.random.stateless_uniform([], factor_seed, smallest, 1.0)
    small = tf.maximum(1, tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * factor),
                                  tf.int32))
    coarse = tf.image.resize(images, small, method="area")
    back = tf.image.resize(coarse, tf.stack([h, w]), method="bilinear")
    pick = tf.random.stateless_uniform(tf.stack([n, 1, 1, 1]), pick_seed) < share
    return tf.where(pick, back, images)


def stretch_batch(images, seed, most: float):
    """Stretch or narrow each image of a batch horizontally by its own factor, drawn
    log-uniformly between ``1 / most`` and ``most``: the same number written by a narrow or
    a wide hand. Each image is resampled from its left edge (bilinear); the batch becomes as
    wide as its most stretched image, the rest black on the right as padding is.

    Args:
        images: (batch, height, width, 1) float32, 0..255, white ink on black.
        seed: (2,) int32 or int64 seed of TensorFlow's stateless random ops.
        most: the largest factor (> 1); 1 or less returns the images unchanged.

    Returns:
        (batch, height, ceil(width * largest drawn factor), 1) float32.
    """
    import math

    import tensorflow as tf

    if most <= 1:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    factor = tf.exp(tf.random.stateless_uniform(tf.stack([n]), tf.cast(seed, tf.int64),
                                                -math.log(most), math.log(most)))
    wide = tf.cast(tf.math.ceil(tf.cast(w, tf.float32) * tf.reduce_max(factor)), tf.int32)
    cols = tf.cast(tf.range(wide), tf.float32)[None, None, :]
    # Pixel centres map to pixel centres: column c of the result samples (c + 0.5) / f - 0.5.
    x = (cols + 0.5) / factor[:, None, None] - 0.5
    y = tf.cast(tf.range(h), tf.float32)[None, :, None]
    x = tf.broadcast_to(x, tf.stack([n, h, wide]))
    y = tf.broadcast_to(y, tf.stack([n, h, wide]))
    return _sample(images[..., 0], x, y)[..., None]


def shear_batch(images, seed, most: float):
    """Lean each image of a batch by its own shear, drawn uniformly between ``-most`` and
    ``most`` pixels per row (positive: tops to the right): the same number written upright
    or slanted either way, more than the generator's own slants reach. The batch is widened
    by ``most`` times the height, half on each side, so that no leaning ink leaves it.

    Args:
        images: (batch, height, width, 1) float32, 0..255, white ink on black.
        seed: (2,) int32 or int64 seed of TensorFlow's stateless random ops.
        most: the largest shear (> 0); 0 or less returns the images unchanged.

    Returns:
        (batch, height, width + 2 * ceil(most * height / 2), 1) float32.
    """
    import tensorflow as tf

    if most <= 0:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    pad = tf.cast(tf.math.ceil(most * tf.cast(h, tf.float32) / 2), tf.int32)
    wide = w + 2 * pad
    shear = tf.random.stateless_uniform(tf.stack([n, 1, 1]), tf.cast(seed, tf.int64),
                                        -most, most)
    rows = tf.cast(tf.range(h), tf.float32)[None, :, None]
    cols = tf.cast(tf.range(wide), tf.float32)[None, None, :]
    middle = (tf.cast(h, tf.float32) - 1) / 2
    # Ink at (row, x) lands at x + pad + shear * (middle - row): rows above the middle move
    # right for a positive shear. |shear * (middle - row)| <= most * h / 2 <= pad.
    x = cols - tf.cast(pad, tf.float32) - shear * (middle - rows)
    y = tf.broadcast_to(rows, tf.stack([n, h, wide]))
    return _sample(images[..., 0], tf.broadcast_to(x, tf.stack([n, h, wide])), y)[..., None]


# Erased patches: squares this fraction of the height on a side (a third of a digit's
# height at most, in the model's row: a pen's skip, a stroke cut by the contrast floor or
# the paper's estimate), ERASE_PATCHES of them on each image chosen, each centred on ink
# (above ERASE_INK) so that it cuts a stroke rather than the paper beside it.
ERASE_SIDE = (0.1, 0.22)
ERASE_PATCHES = 3
ERASE_INK = 128.0


def erase_batch(images, seed, share: float):
    """Cut ``share`` of a batch's images in ERASE_PATCHES places: each a square of
    ERASE_SIDE of the height centred on an inked pixel, set to the image's paper (the mean
    of its pixels below its own mean). A stroke broken in a few places still reads as its
    digit: the network is taught to read a digit from the pieces it has, as preparing a
    faint or damaged scan leaves them.

    Args:
        images: (batch, height, width, 1) float32, 0..255, white ink on black.
        seed: (2,) int32 or int64 seed of TensorFlow's stateless random ops.
        share: the share of the images cut (0: the images unchanged).

    Returns:
        The images, same shape and dtype.
    """
    import tensorflow as tf

    if share <= 0:
        return images
    pick_seed, side_seed, centre_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3))
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    flat = tf.reshape(images, tf.stack([n, h * w]))
    # Centres drawn among the inked pixels (every pixel alike where there are none).
    logits = tf.where(flat > ERASE_INK, 0.0, -30.0)
    centre = tf.random.stateless_categorical(logits, ERASE_PATCHES, centre_seed)
    row = tf.cast(centre // tf.cast(w, tf.int64), tf.float32)[..., None, None] + 0.5
    col = tf.cast(centre % tf.cast(w, tf.int64), tf.float32)[..., None, None] + 0.5
    half = tf.random.stateless_uniform(tf.stack([n, ERASE_PATCHES]), side_seed,
                                       *ERASE_SIDE)[..., None, None] * tf.cast(h, tf.float32) / 2
    rows = tf.cast(tf.range(h), tf.float32)[None, None, :, None] + 0.5
    cols = tf.cast(tf.range(w), tf.float32)[None, None, None, :] + 0.5
    inside = (tf.abs(rows - row) < half) & (tf.abs(cols - col) < half)
    cut = tf.reduce_any(inside, axis=1)  # (n, h, w)
    mean = tf.reduce_mean(flat, axis=1, keepdims=True)
    below = tf.cast(flat <= mean, tf.float32)
    paper = tf.reduce_sum(flat * below, axis=1) / tf.maximum(tf.reduce_sum(below, axis=1), 1.0)
    pick = tf.random.stateless_uniform(tf.stack([n, 1, 1]), pick_seed) < share
    return tf.where((cut & pick)[..., None], paper[:, None, None, None], images)


def erased(ds, share: float, seed: int):
    """A batched (images, labels) dataset with ``share`` of every batch's images cut in a
    few places (``erase_batch``), drawn anew each epoch, repeatably."""
    if share <= 0:
        return ds
    # seed + 4: apart from the distortion's, the lower resolution's, the stretch's and the
    # shear's.
    return _per_batch(ds, lambda images, s: erase_batch(images, s, share), seed + 4)


def sheared(ds, most: float, seed: int):
    """A batched (images, labels) dataset with every image leaned (``shear_batch``) anew
    each epoch, repeatably."""
    if most <= 0:
        return ds
    # seed + 3: apart from the distortion's, the lower resolution's and the stretch's.
    return _per_batch(ds, lambda images, s: shear_batch(images, s, most), seed + 3)


def stretched(ds, most: float, seed: int):
    """A batched (images, labels) dataset with every image stretched or narrowed
    (``stretch_batch``) anew each epoch, repeatably."""
    if most <= 1:
        return ds
    # seed + 2: apart from the distortion's (seed) and the lower resolution's (seed + 1).
    return _per_batch(ds, lambda images, s: stretch_batch(images, s, most), seed + 2)


def lowered(ds, share: float, seed: int):
    """A batched (images, labels) dataset with ``share`` of every batch's images shown at a
    lower resolution (``lower_resolution``), drawn anew each epoch, repeatably."""
    if share <= 0:
        return ds
    # seed + 1: the draws differ from the distortion's, which uses the run's seed itself.
    return _per_batch(ds, lambda images, s: lower_resolution(images, s, share), seed + 1)


def _per_batch(ds, change, seed: int):
    """Apply ``change(images, batch_seed)`` to every batch's images, each batch with its own
    stateless seed drawn from ``seed``: batch k of epoch e gets the same seed in every run."""
    import tensorflow as tf

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip(ds, seeds).map(
        lambda batch, s: (change(batch[0], s), *batch[1:]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def distorted(ds, strength: float, seed: int):
    """A batched (images, labels) dataset with every batch distorted anew each epoch,
    repeatably: batch k of epoch e gets the same change in every run with ``seed``."""
    if strength <= 0:
        return ds
    return _per_batch(ds, lambda images, s: distort_batch(images, s, strength), seed)
