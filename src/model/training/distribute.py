"""Training on several devices of one machine with a tf.distribute strategy.

Only ``mirrored`` is offered: tf.distribute.MirroredStrategy keeps a copy of the model on
each device (by default every visible GPU), splits each global batch between them and sums
the gradients. Keras 3 does not support MultiWorkerMirroredStrategy (several machines), so
neither does this toolkit.
"""

from __future__ import annotations

from digits.errors import DataError

STRATEGIES = ("mirrored",)


def parse_devices(text: str) -> list[str]:
    """'GPU:0,GPU:1' -> ['GPU:0', 'GPU:1'] (case-insensitive, '/device:' prefix optional)."""
    devices = []
    for part in text.split(","):
        name = part.strip().removeprefix("/device:").upper()
        if name:
            devices.append(name)
    return devices


def make_strategy(name: str, devices: list[str] | None = None):
    """The tf.distribute strategy called ``name`` over ``devices`` (default: every GPU).

    Raises:
        DataError: an unknown strategy, a device that is not visible, or no device to mirror
            on (no GPU and no --devices).
    """
    if name not in STRATEGIES:
        raise DataError(f"unknown --distribute {name!r}; choose from {', '.join(STRATEGIES)} "
                        "(Keras 3 does not support MultiWorkerMirroredStrategy)")
    import tensorflow as tf

    visible = [d.name.removeprefix("/device:") for d in tf.config.list_logical_devices()]
    if devices:
        missing = [d for d in devices if d not in visible]
        if missing:
            raise DataError(f"--devices: no device {', '.join(missing)} on this machine "
                            f"(visible: {', '.join(visible) or 'none'})")
        if len(set(devices)) != len(devices):
            raise DataError(f"--devices names a device twice: {','.join(devices)}")
    else:
        devices = [d for d in visible if d.startswith("GPU:")]
        if not devices:
            raise DataError("--distribute mirrored found no GPU to mirror on (visible: "
                            f"{', '.join(visible) or 'none'}); name devices with --devices")
    return tf.distribute.MirroredStrategy([f"/device:{d}" for d in devices])
