"""Run directories: where runs live, which one a command uses, creating and loading them.

A run directory describes itself, so that reading, exporting and serving need nothing
else::

    RUN/config.json     the dataset or folder, the network (``net``) and the training settings
    RUN/model.keras     the finished model (logits out); written last but for the reports
    RUN/metrics.json    the test-split figures: present only when the run is finished

Training writes runs under ``runs/`` at the project root; the repository ships one model,
``models/mnist-crnn``.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

from digits.cli import PROJECT_ROOT
from digits.errors import DataError
from digits.files import check_replaceable, write_json
from model.network import NetConfig, validate

RUNS_DIR = PROJECT_ROOT / "runs"
SHIPPED_RUN = PROJECT_ROOT / "models" / "mnist-crnn"
CONFIG = "config.json"
MODEL = "model.keras"
METRICS = "metrics.json"
# The most a run's model.keras may hold once inflated: a network 100 times the default's
# size is still far below it.
MAX_MODEL_BYTES = 256 * 2**20


def log(message: str) -> None:
    """A progress line on stderr, so that stdout keeps only a command's results."""
    print(message, file=sys.stderr, flush=True)


def latest_run(runs_dir: Path | None = None) -> Path | None:
    """The finished run (one with model.keras) under ``runs_dir`` (runs/) written last."""
    runs_dir = RUNS_DIR if runs_dir is None else runs_dir
    finished = [m.parent for m in runs_dir.glob(f"*/{MODEL}") if m.is_file()]
    return max(finished, key=lambda d: (d / MODEL).stat().st_mtime, default=None)


LATEST = "latest"  # --run latest: the newest finished run under runs/


def choose_run(run: Path | str | None) -> Path:
    """The run a reading command uses: ``run`` if given (``"latest"``: the newest finished
    run under runs/), else the shipped model, whatever runs/ holds: a model trained on the
    main job's clean sequences reads real images far worse than the shipped one, so it is
    never taken silently."""
    if run is not None and str(run) != LATEST:
        return Path(run)
    if run is not None:
        found = latest_run()
        if found is None:
            raise DataError(f"--run latest: no finished run under {RUNS_DIR}; train one with "
                            "`python -m model.icr digits` (from src/)")
        return found
    if (SHIPPED_RUN / MODEL).is_file():
        return SHIPPED_RUN
    raise DataError(f"no trained model: the shipped {SHIPPED_RUN} is missing; give --run "
                    "RUN_DIR, or train one with `python -m model.icr digits` (from src/)")


def describe_run(run: Path, config: dict) -> str:
    """Which model a run holds and what it was trained on, in one line."""
    if "adapt" in config:  # model.adapt: no labels, and it may have kept the original
        trained = (f"adapted without labels to {config['folder']}" if config.get("adapted")
                   else f"the original model, kept after adapting to {config['folder']}")
    elif "folder" in config:
        trained = f"fine-tuned on {config['folder']}"
    else:
        manifest = config.get("dataset_manifest") or {}
        source = (manifest.get("source") or {}).get("name", "?")
        compose = manifest.get("compose") or {}
        lengths = (f"{compose.get('min_length')}-{compose.get('max_length')} digit sequences"
                   if compose else "sequences")
        trained = (f"trained on {Path(str(config.get('dataset', '?'))).name} "
                   f"({lengths} of {source} MNIST)")
    return f"{run} ({trained})"


def new_run_dir(name: str, run_dir: Path | None = None, overwrite: bool = False,
                start: Path | None = None) -> Path:
    """Where a training run writes: ``run_dir`` if given, else runs/NAME, runs/NAME-2, ...,
    skipping finished runs, which are never overwritten without ``overwrite``.

    Args:
        start: the run a fine-tuning starts from, which must not be written over.
    """
    if run_dir is not None:
        if start is not None and run_dir.resolve() == start.resolve():
            raise DataError("--run-dir must not be the run that --from starts from")
        if (run_dir / METRICS).exists() and not overwrite:
            raise DataError(f"{run_dir} holds a finished run; pass --overwrite or another "
                            "--run-dir")
        if overwrite:  # checked before any work, not only when the run starts
            check_replaceable(run_dir, CONFIG, "a run directory")
        return run_dir
    run, n = RUNS_DIR / name, 1
    while (run / METRICS).exists():
        n += 1
        run = RUNS_DIR / f"{name}-{n}"
    return run


def check_resumable(run_dir: Path, config: dict, keys: tuple[str, ...],
                    overwrite: bool = False) -> None:
    """An unfinished run in ``run_dir`` is resumed only with the same settings (``keys``
    of config.json)."""
    previous = run_dir / CONFIG
    if not previous.is_file() or overwrite:
        return
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{previous} is unreadable ({e}); pass --overwrite to start "
                        "afresh") from None
    if {k: old.get(k) for k in keys} != {k: config.get(k) for k in keys}:
        raise DataError(f"{run_dir} holds an unfinished run with other settings; rerun it "
                        "with the same flags, or pass --overwrite")


def start_run(run_dir: Path, config: dict, overwrite: bool = False) -> None:
    """Create the run directory and its config.json: the first write of a run, after
    every check on the data."""
    if overwrite and run_dir.exists():
        check_replaceable(run_dir, CONFIG, "a run directory")
        shutil.rmtree(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DataError(f"--run-dir {run_dir} is a file, not a directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG, config)
    log(f"run directory: {run_dir}")


def read_net(run_dir: Path) -> NetConfig:
    """The architecture of a finished run, read without TensorFlow (:func:`load_run`
    checks the run again as it loads the model)."""
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    if not (run_dir / MODEL).is_file():
        raise DataError(f"{run_dir} has no {MODEL} (not a finished run)")
    try:
        return net_from(json.loads((run_dir / CONFIG).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{run_dir / CONFIG} is missing or unreadable: {e}") from None


def net_from(config: dict) -> NetConfig:
    """The architecture a run's config.json records, checked for types and sizes.

    Raises:
        KeyError, TypeError, ValueError: the config has no such entry, or a wrong one.
    """
    net = NetConfig.from_dict(config["net"])
    sizes = (net.height, net.dense, *net.conv_filters, *net.gru_units,
             *(v for pool in net.pools for v in pool))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
        raise ValueError("net: every size must be a positive whole number")
    if not isinstance(net.dropout, int | float):
        raise TypeError("net: dropout must be a number")
    validate(net)
    return net


def load_run(run_dir: Path):
    """The model (loaded in Keras safe mode), its NetConfig and the config of a finished
    run directory.

    Raises:
        DataError: no such directory, no model.keras, an unreadable config or model.
    """
    import keras

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    model_path, config_path = run_dir / MODEL, run_dir / CONFIG
    if not model_path.is_file():
        raise DataError(f"{run_dir} has no {MODEL} (an unfinished run? rerun its command "
                        "to resume it)")
    try:
        config = json.loads(config_path.read_text())
        net = net_from(config)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{config_path} is missing or unreadable: {e}") from None
    if not zipfile.is_zipfile(model_path):
        raise DataError(f"{model_path} is not a .keras archive")
    check_archive(model_path)
    import model.layers  # noqa: F401  (registers the committee's layer for loading)

    try:
        model = keras.models.load_model(model_path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a damaged archive
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{model_path} could not be loaded: {first}") from None
    check_model(model, net, model_path)
    return model, net, config


def refuse_committee(run_dir: Path, config: dict, what: str) -> None:
    """A committee (``model.committee``) is read, not trained: its members are.

    Raises:
        DataError: ``config`` is a committee's.
    """
    if "committee" in config:
        raise DataError(f"{run_dir} is a committee of {len(config['committee'])} runs; "
                        f"{what} one of its members, or teach one network from it "
                        "(model.icr --teacher)")


def check_archive(path: Path) -> None:
    """A .keras archive whose members would inflate past MAX_MODEL_BYTES is refused before
    Keras unpacks it (a zip bomb costs memory and minutes before any error).

    Raises:
        DataError: the archive is too large once inflated, or unreadable.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .keras archive: {e}") from None
    if inflated > MAX_MODEL_BYTES:
        raise DataError(f"{path} would inflate to {inflated / 2**20:,.0f} MiB, over the "
                        f"{MAX_MODEL_BYTES // 2**20} MiB a digit reader needs")


def check_model(model, net: NetConfig, path: Path) -> None:
    """The loaded model is the run's network: logits over the 11 classes, the height
    config.json says.

    Raises:
        DataError: the model or the config is not what this toolkit wrote.
    """
    from model.vocab import NUM_CLASSES

    try:
        inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):  # several inputs or outputs
        raise DataError(f"{path} is not a single-input digit reader") from None
    if len(inputs) != 4 or len(outputs) != 3 or outputs[-1] != NUM_CLASSES:
        raise DataError(f"{path} does not map (batch, height, width, 1) images to "
                        f"{NUM_CLASSES} classes per time step: input {inputs}, output "
                        f"{outputs}")
    if inputs[1] != net.height:
        raise DataError(f"{path} reads {inputs[1]}-pixel-high images but its config.json "
                        f"says {net.height}")
