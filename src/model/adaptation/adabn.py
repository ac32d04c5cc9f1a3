"""Batch-norm statistics re-estimated on a folder's prepared images (AdaBN: Li et al.,
"Revisiting batch normalization for practical domain adaptation", 2016).

The convolutions of ``model.network`` are each followed by a BatchNormalization layer
(bn1, bn2, ...) whose moving mean and variance were estimated on synthetic sequences.
Real images, even prepared to look like those, give each channel other statistics; AdaBN
replaces them with the folder's own, layer by layer (each layer's input depends on the
layers before it), leaving every learned weight as it was.
"""

from __future__ import annotations

import numpy as np

from model.network import NetConfig, downsampled

BATCH = 64  # images per pass; sorted by width, so a batch pads little


def bn_layers(model) -> list:
    """The model's BatchNormalization layers, input to output."""
    import keras

    return [layer for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def reestimate(model, net: NetConfig, images: list[np.ndarray], blend: float = 1.0) -> None:
    """Set every batch-norm layer's moving statistics to those of ``images`` (in place).

    Args:
        images: (height, width) uint8 prepared images, white ink on black.
        blend: 1 takes the folder's statistics; 0 < blend < 1 mixes them with the
            training data's (``blend`` of the folder's).

    The statistics are taken over the columns that hold the image, not the zero padding
    of a batch: a batch's narrow images would otherwise pull every mean toward what an
    empty column gives.
    """
    import keras

    layers = bn_layers(model)
    if not layers or not images:
        return
    order = sorted(range(len(images)), key=lambda i: images[i].shape[1])
    # The BN layers follow the convolutions in order; the columns a layer sees are the
    # image's after the stride and the poolings before it.
    pools = [cols for _, cols in net.pools]
    for k, layer in enumerate(layers):
        probe = keras.Model(model.input, layer.input)
        total = count = 0.0
        square = 0.0
        for start in range(0, len(order), BATCH):
            chunk = [images[i] for i in order[start:start + BATCH]]
            widest = max(im.shape[1] for im in chunk)
            batch = np.zeros((len(chunk), chunk[0].shape[0], widest, 1), np.float32)
            for j, im in enumerate(chunk):
                batch[j, :, :im.shape[1], 0] = im
            x = np.asarray(probe(batch, training=False), np.float64)  # (b, rows, cols, ch)
            cols = np.array([downsampled(im.shape[1], net.first_stride, pools[:k])
                             for im in chunk])
            mask = (np.arange(x.shape[2])[None, :] < cols[:, None]).astype(np.float64)
            weight = mask[:, None, :, None] * np.ones((1, x.shape[1], 1, 1))
            total = total + (x * weight).sum(axis=(0, 1, 2))
            square = square + (x * x * weight).sum(axis=(0, 1, 2))
            count += weight.sum()
        mean = total / count
        var = np.maximum(square / count - mean * mean, 0.0)
        old_mean, old_var = (np.asarray(v) for v in (layer.moving_mean, layer.moving_variance))
        layer.moving_mean.assign((1 - blend) * old_mean + blend * mean)
        layer.moving_variance.assign((1 - blend) * old_var + blend * var)
