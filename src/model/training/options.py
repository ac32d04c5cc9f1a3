"""What ``python -m model.icr`` was asked, as its jobs need it, and the settings it implies.

``model.icr`` turns its flags into one :class:`Options`; the jobs (training, fine-tuning,
evaluation) read that, never the argparse namespace, and :func:`configs` turns it into the
network's and the trainer's frozen configs, checking every value first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from digits.errors import DataError
from model.network import NetConfig, validate
from model.training.finetune import FINETUNE_TRAIN
from model.training.train import TrainConfig

# A tiny preset for tests and CI: seconds per epoch, not accuracy.
PRESETS = {
    "default": ({}, {}),
    "tiny": ({"conv_filters": (8, 16, 16), "dense": 16, "gru_units": (8,)},
             {"epochs": 2, "batch_size": 16}),
}


@dataclass(frozen=True)
class Options:
    """One ``model.icr`` command: each field is the flag of the same name.

    Attributes:
        net, train, finetune: the architecture, training and fine-tuning flags given,
            by field name of NetConfig, TrainConfig and FinetuneConfig (absent: default).
    """

    preset: str = "default"
    net: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)
    run_dir: Path | None = None
    overwrite: bool = False
    evaluate: Path | None = None
    from_run: Path | None = None
    beam_width: int = 10
    top_paths: int = 1
    tensorboard: bool = False
    refresh_figures: bool = False
    skip_corrupt: bool = False
    distribute: str | None = None
    devices: str | None = None
    teacher: Path | None = None


def flag(field_name: str) -> str:
    """The command-line flag of a config field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field_name.replace("_", "-")


def configs(opts: Options, height: int,
            net: NetConfig | None = None) -> tuple[NetConfig, TrainConfig]:
    """The architecture and training settings the flags ask for.

    Args:
        net: the architecture of the run that --from starts from; the architecture flags
            cannot change it. With --from, training starts from FINETUNE_TRAIN's defaults.
    """
    net_preset, train_preset = PRESETS[opts.preset]
    given = dict(opts.net)
    base = FINETUNE_TRAIN if opts.from_run is not None else {}
    train = {**base, **train_preset,
             **opts.train}
    if net is not None and given:
        raise DataError(f"--from keeps the architecture of its run; leave out "
                        f"{', '.join(map(flag, given))}")
    net_cfg = net if net is not None else NetConfig(height=height, **{**net_preset, **given})
    train_cfg = TrainConfig(**train)
    try:
        validate(net_cfg)
    except ValueError as e:
        raise DataError(str(e)) from None
    for name in ("epochs", "batch_size", "patience"):
        if getattr(train_cfg, name) < 1:
            raise DataError(f"{flag(name)} must be at least 1")
    if train_cfg.average_last < 0 or train_cfg.average_last == 1:
        raise DataError("--average-last must be 0 (off) or at least 2")
    if train_cfg.interpolate < 1 and opts.from_run is None:
        raise DataError("--interpolate mixes the trained weights with the starting model's: "
                        "give --from")
    if train_cfg.learning_rate <= 0 or train_cfg.warmup_epochs < 0:
        raise DataError("--learning-rate must be positive and --warmup-epochs not negative")
    if opts.beam_width < 1 or not 1 <= opts.top_paths <= opts.beam_width:
        raise DataError("need --beam-width >= 1 and 1 <= --top-paths <= --beam-width")
    return net_cfg, train_cfg
