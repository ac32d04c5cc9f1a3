"""The network: a CNN that turns the image width into time steps, a bidirectional GRU
stack, and a Dense layer to per-step class logits (Shi, Bai & Yao 2015, CRNN).

The model returns raw logits, shape (batch, T, 11); the CTC loss and the decoders live
elsewhere (``keras.losses.CTC`` and ``model.decoding``), so the same model trains, reads
and exports without surgery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from model.vocab import NUM_CLASSES  # blank + 10 digits


def downsampled(size: int, stride: int, pools) -> int:
    """What ``size`` pixels become after a strided 'same' convolution (which rounds up)
    and max-poolings by each of ``pools`` ('valid' padding, which floors): the one rule
    for the time steps (columns) and the rows left, here and in the exported runtime."""
    size = -(-size // stride)
    for factor in pools:
        size //= factor
    return size


@dataclass(frozen=True)
class NetConfig:
    """Architecture sizes. Every field has an ``icr`` flag of the same name."""

    height: int = 28  # Input height; taken from the dataset's manifest.
    # Stride of the first convolution in both directions. A full-resolution first stage
    # costs more than all later ones together on a CPU (its batch norm, ReLU and pooling
    # pass over 4x the pixels, with one input channel the convolution cannot use well);
    # stride 2 makes it 4x cheaper. Runs saved before the field existed used 1.
    first_stride: int = 2
    # One 3x3 conv (+ batch norm) per entry, the first one strided by first_stride.
    conv_filters: tuple[int, ...] = (24, 48, 96)
    # Pooling after each conv, (rows, cols); (1, 1) is none. Rows: 28 -> 14 (stride) -> 3,
    # so the height collapses into features. Cols: 4x in all with the stride, leaving ~7
    # time steps per 28-pixel digit: more than the 2 per digit (plus one) that CTC needs
    # for repeated digits, few enough for a fast GRU.
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 1), (1, 1))
    dense: int = 128  # Per-step projection of the collapsed column features.
    gru_units: tuple[int, ...] = (64,)  # One bidirectional GRU per entry; 5 digits need little.
    dropout: float = 0.2  # Before the GRU and the output layer.

    @property
    def width_factor(self) -> int:
        """How many input columns make one time step."""
        f = self.first_stride
        for _, cols in self.pools:
            f *= cols
        return f

    def time_steps(self, width: int) -> int:
        """Time steps T the model emits for an image ``width`` pixels wide."""
        return downsampled(width, self.first_stride, [cols for _, cols in self.pools])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        d = dict(d)
        d.setdefault("first_stride", 1)  # saved before the field existed
        d["conv_filters"] = tuple(d["conv_filters"])
        d["gru_units"] = tuple(d["gru_units"])
        d["pools"] = tuple(tuple(p) for p in d["pools"])
        return cls(**d)


def validate(cfg: NetConfig) -> None:
    """Raise ValueError for an architecture that cannot be built."""
    if len(cfg.pools) != len(cfg.conv_filters):
        raise ValueError(f"{len(cfg.conv_filters)} conv layers but {len(cfg.pools)} poolings")
    if not 1 <= cfg.first_stride <= 4:
        raise ValueError(f"first_stride must be 1 to 4, got {cfg.first_stride}")
    if downsampled(cfg.height, cfg.first_stride, [r for r, _ in cfg.pools]) < 1:
        raise ValueError(f"height {cfg.height} is too small for the pooling {cfg.pools}")
    if not cfg.gru_units or min(cfg.gru_units) < 1 or min(cfg.conv_filters) < 1:
        raise ValueError("every layer needs at least one unit")
    if not 0 <= cfg.dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")


def build_model(cfg: NetConfig = NetConfig(), name: str = "crnn"):
    """Build the logits model.

    Args:
        cfg: architecture sizes.

    Returns:
        A ``keras.Model`` from images (batch, height, width, 1), pixel values 0..255 with
        white ink on black, to logits (batch, width // cfg.width_factor, 11). The width is
        free (None): any sequence length reads.
    """
    import keras
    from keras import layers

    validate(cfg)
    image = keras.Input((cfg.height, None, 1), name="image")
    x = layers.Rescaling(1 / 255, name="scale")(image)  # raw pixels in, so exports need no glue
    for i, (filters, pool) in enumerate(zip(cfg.conv_filters, cfg.pools, strict=True)):
        x = layers.Conv2D(filters, 3, strides=cfg.first_stride if i == 0 else 1,
                          padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        if tuple(pool) != (1, 1):
            x = layers.MaxPooling2D(pool, name=f"pool{i + 1}")(x)
    # (batch, rows, T, channels) -> (batch, T, rows * channels): the width becomes time.
    rows, channels = x.shape[1], x.shape[3]
    x = layers.Permute((2, 1, 3), name="width_first")(x)
    x = layers.Reshape((-1, rows * channels), name="columns")(x)
    x = layers.Dense(cfg.dense, activation="relu", name="project")(x)
    x = layers.Dropout(cfg.dropout, name="dropout_in")(x)
    for i, units in enumerate(cfg.gru_units):
        x = layers.Bidirectional(layers.GRU(units, return_sequences=True),
                                 name=f"bigru{i + 1}")(x)
    x = layers.Dropout(cfg.dropout, name="dropout_out")(x)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(image, logits, name=name)
