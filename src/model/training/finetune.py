"""Fine-tuning a finished run on a labelled folder of the user's own images.

    python -m model.icr DIR --from RUN_DIR      # DIR: images/ + labels.csv (model.reading.folder)

The model of RUN_DIR keeps its architecture and starts from its weights; every image goes
through ``model.reading.preprocess.prepare`` (what ``model.read`` does), a fixed part of the folder
is held out by a hash of each file name, and training runs briefly at a low learning rate,
keeping the best model on the held-out part (the starting model included). The result is
an ordinary run directory that ``model.read --run`` and ``model.icr --evaluate`` use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from digits.errors import DataError
from model.inputs.datasets import Split
from model.network import NetConfig
from model.reading.folder import HOLDOUT_SALT, Folder, drop_too_narrow, holdout_mask, prepare_folder


@dataclass(frozen=True)
class FinetuneConfig:
    """What fine-tuning adds to TrainConfig. Every field has an ``icr`` flag of the same name."""

    # A tenth of a few thousand images resolves a 2-3 point change in exact accuracy and
    # leaves nine tenths to learn from.
    val_fraction: float = 0.1
    # Light slant, tilt, width and stroke changes (model.training.augment): a small folder is
    # memorised within a few epochs without them.
    augment: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# TrainConfig defaults for fine-tuning (flags and --preset still override them).
FINETUNE_TRAIN = {
    # Half of training's 2e-3. The more a model adapts, the better it reads the folder's
    # hand and the worse the synthetic sequences; 1e-3 read a real folder best, and 2e-3
    # gained little more (bench/finetune.py; docs/journal.md has the figures).
    "learning_rate": 1e-3,
    # Short: a few thousand images take seconds per epoch; early stopping ends sooner.
    "epochs": 15,
    # A small folder still gives ~100 updates per epoch; real images are narrow, so cheap.
    "batch_size": 32,
    # Adam's first steps are full-size whatever the gradient: warm up to spare the weights.
    "warmup_epochs": 1.0,
    # As in training: the last, low-rate epochs of the cosine schedule often do best, and a
    # small validation part is noisy: patience 4 stopped too early on a real folder.
    "patience": 6,
    # Real images come prepared (model.reading.preprocess); --augment varies them in a way
    # that keeps that look, which training's distortion does not aim to.
    "distort": 0.0,
}


@dataclass
class FinetuneData:
    """A labelled folder prepared for fine-tuning.

    Attributes:
        train, val: prepared images (PNG Splits in a scratch directory).
        info: what config.json records about the images: counts, the held-out names' rule,
            and each image left out with the reason.
    """

    train: Split
    val: Split
    info: dict


def finetune_data(folder: Folder, net: NetConfig, cfg: FinetuneConfig, scratch: Path,
                  skip_unreadable: bool = False, log=print) -> FinetuneData:
    """Prepare a folder's images for ``net``, leave out those CTC cannot learn from, and
    split the rest into training and validation by ``model.reading.folder.in_holdout``.

    Raises:
        DataError: an unreadable image (unless ``skip_unreadable``), or an empty part.
    """
    prepared = prepare_folder(folder, net.height, scratch, skip_unreadable, log)
    prepared, narrow = drop_too_narrow(prepared, net, log)
    split = prepared.split
    held = holdout_mask(Folder(folder.root, prepared.names, split.files, split.texts),
                        cfg.val_fraction)
    parts = {}
    for name, mask in (("training", ~held), ("validation", held)):
        if not mask.any():
            raise DataError(f"{folder.root}: no image falls in the {name} part ({len(split)} "
                            f"usable images, --val-fraction {cfg.val_fraction}); use more "
                            "images or another --val-fraction")
        idx = mask.nonzero()[0]
        parts[name] = Split([split.files[i] for i in idx], [split.texts[i] for i in idx],
                            split.widths[idx])
    info = {"listed": len(folder), "train": len(parts["training"]),
            "val": len(parts["validation"]),
            "val_rule": f"sha256('{HOLDOUT_SALT}' NUL file_name) below val_fraction of its "
                        "range (model.reading.folder.in_holdout)",
            "unreadable": prepared.unreadable, "too_narrow": narrow}
    return FinetuneData(parts["training"], parts["validation"], info)


def check_config(cfg: FinetuneConfig) -> None:
    if not 0 < cfg.val_fraction < 1:
        raise DataError(f"--val-fraction must be between 0 and 1, not {cfg.val_fraction}")
