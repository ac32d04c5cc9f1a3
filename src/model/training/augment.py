"""Light augmentation of prepared real images, for fine-tuning on a small labelled folder.

A fine-tuning image has already been through ``model.reading.preprocess.prepare``: the ink scaled
to the training sequences' size in a 28-pixel row, strokes thickened toward MNIST's width.
Augmentation must keep that look, or the model learns images that reading never shows it.
So each variant is the same writing slanted, turned, stretched or thickened a little, then
put back through prepare's last two steps (``fit_height``, ``normalise_stroke``), as if the
writer had written the number that way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from model.inputs.datasets import steps_needed
from model.network import NetConfig
from model.reading.preprocess import PrepConfig, fit_height, ink_box, normalise_stroke


@dataclass(frozen=True)
class AugmentConfig:
    """How far each variant may stray from the prepared image (uniform draws in +-range)."""

    shear: float = 0.2  # Slant: prepare does not deslant, and writers slant by ~+-10 degrees.
    rotation: float = 3.0  # Degrees: deskew levels only long lines, so short ones keep a tilt.
    stretch: float = 0.12  # Width at the same ink height: narrow and wide hands.
    # Extra stroke weight, as a fraction of one grey dilation: pens and pencils differ, and
    # prepare only thickens strokes thinner than MNIST's.
    thicken: float = 0.5

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def augment_image(image: np.ndarray, rng: np.random.Generator,
                  cfg: AugmentConfig = AugmentConfig(), prep: PrepConfig | None = None
                  ) -> np.ndarray:
    """One random variant of a prepared image.

    Args:
        image: (height, width) uint8, white ink on black, as ``prepare`` returns it.
        rng: the random stream.
        prep: how the image was prepared (default: PrepConfig for its height).

    Returns:
        (height, new_width) uint8 in the same form; the input itself if no ink is left.
    """
    from scipy import ndimage

    h, _ = image.shape
    prep = prep or PrepConfig(height=h)
    big = np.pad(image.astype(np.float32), h)  # room to turn and slant without clipping
    shear = rng.uniform(-cfg.shear, cfg.shear)
    angle = np.radians(rng.uniform(-cfg.rotation, cfg.rotation))
    stretch = 1 + rng.uniform(-cfg.stretch, cfg.stretch)
    # Output (row, col) -> input (row, col): undo the stretch, the shear and the rotation.
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.array([[cos, -sin], [sin, cos]])
    shear_m = np.array([[1.0, 0.0], [shear, 1.0]])
    stretch_m = np.array([[1.0, 0.0], [0.0, 1 / stretch]])
    matrix = rotate @ shear_m @ stretch_m
    centre = (np.array(big.shape) - 1) / 2
    warped = ndimage.affine_transform(big, matrix, offset=centre - matrix @ centre, order=1)
    box = ink_box(warped)
    if box is None:
        return image
    out = fit_height(warped[box], prep)
    if prep.stroke > 0:
        out = normalise_stroke(out, prep.stroke)
    t = rng.uniform(0, cfg.thicken)
    if t > 0:
        grown = ndimage.grey_dilation(out, footprint=np.ones((3, 3), bool)).astype(np.float32)
        out = np.clip(np.rint(out + t * (grown - out)), 0, 255).astype(np.uint8)
    return out


def make_augment(net: NetConfig, seed: int, cfg: AugmentConfig = AugmentConfig(),
                 prep: PrepConfig | None = None):
    """A tf.data map function for ``model.inputs.datasets.make_dataset(augment=...)``.

    Each example (image (height, width, 1) uint8, label (L,) classes padded with 0, width)
    gets a new variant each epoch, from one random stream seeded with ``seed``. A variant
    too narrow for its label (CTC needs ``steps_needed`` time steps) is replaced by the
    original image.
    """
    import tensorflow as tf

    prep = prep or PrepConfig(height=net.height)
    rng = np.random.default_rng(seed)

    def variant(image: np.ndarray, label: np.ndarray):
        out = augment_image(image[:, :, 0], rng, cfg, prep)
        text = "".join(str(c - 1) for c in label if c > 0)
        if net.time_steps(out.shape[1]) < steps_needed(text):
            out = image[:, :, 0]
        return out[:, :, None], np.int32(out.shape[1])

    def apply(image, label, width):
        image, width = tf.numpy_function(variant, [image, label], (tf.uint8, tf.int32),
                                         stateful=True)
        return tf.ensure_shape(image, (net.height, None, 1)), label, tf.ensure_shape(width, ())

    return apply
