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
from digits.files import write_json
from model.network import NetConfig

RUNS_DIR = PROJECT_ROOT / "runs"
SHIPPED_RUN = PROJECT_ROOT / "models" / "mnist-crnn"
CONFIG = "config.json"
MODEL = "model.keras"
METRICS = "metrics.json"


def log(message: str) -> None:
    """A progress line on stderr, so that stdout keeps only a command's results."""
    print(message, file=sys.stderr, flush=True)


def latest_run(runs_dir: Path | None = None) -> Path | None:
    """The finished run (one with model.keras) under ``runs_dir`` (runs/) written last."""
    runs_dir = RUNS_DIR if runs_dir is None else runs_dir
    finished = [m.parent for m in runs_dir.glob(f"*/{MODEL}") if m.is_file()]
    return max(finished, key=lambda d: (d / MODEL).stat().st_mtime, default=None)


def choose_run(run: Path | None) -> Path:
    """The run a reading command uses: ``run`` if given, else the latest under runs/, else
    the shipped model."""
    if run is not None:
        return run
    found = latest_run()
    if found is not None:
        return found
    if (SHIPPED_RUN / MODEL).is_file():
        return SHIPPED_RUN
    raise DataError("no trained model: give --run RUN_DIR, or train one with "
                    "`python -m model.icr digits` (from src/)")


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
        shutil.rmtree(run_dir)
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
        return NetConfig.from_dict(json.loads((run_dir / CONFIG).read_text())["net"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{run_dir / CONFIG} is missing or unreadable: {e}") from None


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
        net = NetConfig.from_dict(config["net"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{config_path} is missing or unreadable: {e}") from None
    if not zipfile.is_zipfile(model_path):
        raise DataError(f"{model_path} is not a .keras archive")
    try:
        model = keras.models.load_model(model_path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a damaged archive
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{model_path} could not be loaded: {first}") from None
    return model, net, config
