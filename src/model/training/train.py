"""Training: CTC loss, Adam with warm-up and cosine decay, and callbacks that make a run
resumable (``BackupAndRestore``) and never leave a half-written model behind."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DataError
from digits.files import replacing, write_json
from model.inputs.datasets import (
    FreshSequences,
    Split,
    check_fresh_time_steps,
    check_time_steps,
    make_dataset,
    make_fresh_dataset,
)
from model.inputs.records import ShardedSplit
from model.network import NetConfig, build_model
from model.training.distort import distorted, erased, lowered, sheared, stretched

BACKUP = "backup"  # BackupAndRestore's directory inside a run directory
BEST = "best.keras"
FINAL = "model.keras"
EPOCH_WEIGHTS = "epochs"  # the last --average-last epochs' weights, NNN.weights.h5
AVERAGED = "averaged.json"  # what the weight average read, and whether it was kept
INTERPOLATED = "interpolated.json"  # with --interpolate: the mix kept and what it read
PLAN = "plan.json"  # with --time-budget: the epoch count the first epoch's time allowed


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Every field has an ``icr`` flag of the same name."""

    epochs: int = 20  # 25-60 s each on 2 cores for 20,000 sequences, by CPU kind.
    batch_size: int = 64  # Small batches generalise better here and keep the GRU cheap.
    learning_rate: float = 2e-3  # Peak Adam rate, reached after the warm-up.
    warmup_epochs: float = 1.0  # Linear warm-up: CTC is unstable on large early steps.
    patience: int = 6  # Epochs without a better validation exact accuracy before stopping.
    seed: int = 1234  # Weight initialisation, dropout and shuffling.
    # Compose new training sequences every epoch from the dataset's MNIST source instead of
    # reading its fixed training split (same count, same composition settings).
    fresh: bool = False
    # Average the weights of the last N epochs run (stochastic weight averaging, Izmailov
    # et al. 2018) and keep the average when it reads the validation split at least as well
    # as the best epoch; 0: off. See average_epochs.
    average_last: int = 0
    # Seconds of training (validation included) the run may take; 0: no limit. The first
    # epoch is timed and the run then trains as many epochs as fit, at most ``epochs``, with
    # the learning-rate schedule spanning them, so the run equals one given that epoch count.
    time_budget: float = 0.0
    # Strength of the bend, slant and stroke-weight change drawn anew for every training
    # batch each epoch (model.training.distort); 0: off. Without it the network learns the
    # 3,600 embedded training digits by heart within a few epochs.
    distort: float = 1.0
    # Share of training images shown at a lower resolution each batch (downscaled, then
    # scaled back: model.training.distort.lower_resolution); 0: off.
    lowres: float = 0.0
    # Each training image stretched or narrowed by a factor drawn log-uniformly up to this
    # (model.training.distort.stretch_batch); 1: off.
    stretch: float = 1.0
    # Each training image leaned by a shear drawn uniformly up to this, either way, in
    # pixels per row (model.training.distort.shear_batch); 0: off.
    shear: float = 0.0
    # Share of training images cut across their strokes in a few places each batch, small
    # squares set to the paper (model.training.distort.erase_batch); 0: off.
    erase: float = 0.0
    # With a starting model (fine-tuning): keep its weights moved this fraction of the way
    # toward the trained ones; 1: the trained weights. Halfway kept most of what fine-tuning
    # on synthetic variety gained and gave back what it cost on real hands (weight-space
    # ensembling, Wortsman et al. 2022). See interpolate_start.
    interpolate: float = 1.0
    # Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): each step shrinks the
    # kernels by rate x this; biases and batch-normalisation parameters are left alone.
    # 0: plain Adam.
    weight_decay: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def optimizer(cfg: TrainConfig):
    """Adam, or AdamW with ``cfg.weight_decay`` on the kernels alone. Its rate is a plain
    number that the Schedule callback sets per batch."""
    import keras

    rate = learning_rate(0, 1, 1, cfg.learning_rate)
    if cfg.weight_decay <= 0:
        return keras.optimizers.Adam(rate)
    adamw = keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay)
    adamw.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return adamw


def save_atomically(model, path: Path) -> None:
    """Save to a temporary sibling, then rename: a crash never leaves a partial model."""
    with replacing(path) as tmp:
        model.save(tmp)


def set_threads() -> str:
    """Give TensorFlow one intra-op thread per usable core and two inter-op threads, and
    say what is in force.

    Measured on 2 cores (docs/training.md): two inter-op threads let the bidirectional
    GRU's two directions run side by side, and one made a training step 1.3-1.6x slower;
    one intra-op thread per core was fastest. ``TF_NUM_INTRAOP_THREADS`` and
    ``TF_NUM_INTEROP_THREADS`` in the environment win. Must run before TensorFlow's first
    operation; after it, the settings in force are kept.
    """
    import os

    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        if "TF_NUM_INTRAOP_THREADS" not in os.environ:
            tf.config.threading.set_intra_op_parallelism_threads(cores or 1)
        if "TF_NUM_INTEROP_THREADS" not in os.environ:
            tf.config.threading.set_inter_op_parallelism_threads(2)
    except RuntimeError:  # TensorFlow already initialised: keep what is in force
        pass
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return (f"{intra or 'default'} intra-op and {inter or 'default'} inter-op threads")


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Adam's rate at a step: linear warm-up from peak / 100 to ``peak`` over ``warmup``
    steps, then cosine decay to peak / 100 at step ``total``."""
    if step < warmup:
        return peak * (0.01 + 0.99 * step / warmup)
    done = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * done)))


@dataclass
class Plan:
    """How many epochs the run trains: ``TrainConfig.epochs``, or with a time budget what
    the first epoch's time allows (decided once, kept in ``PLAN`` for a resumed run)."""

    epochs: int
    decided: bool

    @classmethod
    def load(cls, run_dir: Path, cfg: TrainConfig) -> Plan:
        if cfg.time_budget <= 0:
            return cls(cfg.epochs, True)
        try:
            return cls(int(json.loads((run_dir / PLAN).read_text())["epochs"]), True)
        except (OSError, ValueError, KeyError, TypeError):
            return cls(cfg.epochs, False)

    def decide(self, run_dir: Path, cfg: TrainConfig, first_epoch_s: float,
               epoch_s: float) -> None:
        """Plan from the first epoch's time and an estimate of a later epoch's, which
        lacks the first one's graph tracing and data caching."""
        later = max(epoch_s, 1e-9)
        fits = 1 + int(max(0.0, cfg.time_budget - first_epoch_s) // later)
        self.epochs = max(1, min(cfg.epochs, fits))
        self.decided = True
        write_json(run_dir / PLAN, {"time_budget_s": cfg.time_budget,
                                    "first_epoch_s": round(first_epoch_s, 1),
                                    "later_epoch_s": round(epoch_s, 1), "epochs": self.epochs})


def best_so_far(history: Path, monitor: str) -> float | None:
    """The best value of ``monitor`` logged by earlier (interrupted) sessions of a run."""
    if not history.is_file():
        return None
    with open(history, newline="") as f:
        values = [float(r[monitor]) for r in csv.DictReader(f) if r.get(monitor)]
    return max(values) if values else None


def best_reading(run_dir: Path, baseline: float | None) -> float | None:
    """The best validation exact accuracy of the run so far: its logged epochs and, for a
    fine-tuning run, its starting model (``baseline``, epoch 0)."""
    best = best_so_far(run_dir / "history.csv", "val_exact")
    if baseline is not None:
        best = baseline if best is None else max(best, baseline)
    return best


def make_callbacks(run_dir: Path, val: Split | ShardedSplit, net: NetConfig, cfg: TrainConfig,
                   log, tensorboard: bool, steps: int, plan: Plan,
                   baseline: float | None = None) -> list:
    import keras

    from model.evaluation.evaluate import greedy_readings
    from model.evaluation.metrics import evaluate

    class ValidationReading(keras.callbacks.Callback):
        """Greedy-decodes the validation split each epoch: adds val_exact and val_cer."""

        def on_epoch_end(self, epoch, logs=None):
            m = evaluate(*greedy_readings(self.model, val, net))
            logs["val_exact"], logs["val_cer"] = m["exact"], m["cer"]

    class AtomicBest(keras.callbacks.Callback):
        """Keeps the model with the best val_exact, saved atomically."""

        def __init__(self, path: Path, best: float | None):
            super().__init__()
            self.path, self.best = path, best

        def on_epoch_end(self, epoch, logs=None):
            value = logs.get("val_exact")
            if not math.isfinite(logs.get("loss", 0.0)):
                return  # diverged weights read nothing, whatever a metric says
            if value is not None and (self.best is None or value > self.best):
                self.best = value
                save_atomically(self.model, self.path)

    class Schedule(keras.callbacks.Callback):
        """Sets Adam's rate before each batch (``learning_rate``) over the planned epochs;
        with a time budget, plans them from the first epoch's time, validation included."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started, self.first_batch = epoch, time.perf_counter(), None

        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = learning_rate(
                self.epoch * steps + batch, plan.epochs * steps,
                int(cfg.warmup_epochs * steps), cfg.learning_rate)

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:  # the first batch traces the graph: left out of the estimate
                self.first_batch = time.perf_counter()
            self.last_batch = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if not plan.decided:
                now = time.perf_counter()
                seconds = now - self.started
                batches = self.last_batch - (self.first_batch or self.started)
                later = batches * steps / max(1, steps - 1) + (now - self.last_batch)
                plan.decide(run_dir, cfg, seconds, later)
                log(f"--time-budget {cfg.time_budget:g} s: the first epoch took {seconds:.0f} "
                    f"s and a later one should take {later:.0f} s, so the run trains "
                    f"{plan.epochs} epoch{'' if plan.epochs == 1 else 's'} (--epochs "
                    f"{plan.epochs} --time-budget 0 trains the same)")
            if epoch + 1 >= plan.epochs:
                self.model.stop_training = True

    class Log(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            log(f"epoch {epoch + 1}/{plan.epochs}: loss {logs['loss']:.4f}, val_loss "
                f"{logs['val_loss']:.4f}, val exact {100 * logs['val_exact']:.2f}%, val CER "
                f"{100 * logs['val_cer']:.2f}%, lr {lr:.2e}, "
                f"{time.perf_counter() - self.started:.0f} s")

    class EpochWeights(keras.callbacks.Callback):
        """Keeps the weights of the last ``cfg.average_last`` epochs for average_epochs."""

        def on_epoch_end(self, epoch, logs=None):
            folder = run_dir / EPOCH_WEIGHTS
            folder.mkdir(exist_ok=True)
            with replacing(folder / f"{epoch + 1:03d}.weights.h5") as tmp:
                self.model.save_weights(tmp)
            for old in sorted(folder.glob("[0-9]*.weights.h5"))[:-cfg.average_last]:
                old.unlink()

    callbacks = [
        ValidationReading(),  # first: the callbacks after it read val_exact from the logs
        Schedule(),  # after the validation, so that a budget counts its time
        keras.callbacks.TerminateOnNaN(),
        # Kept until model.keras is safely written (train() removes it), so that a crash
        # between the last epoch and the final save still resumes rather than restarts.
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP), double_checkpoint=True,
                                         delete_checkpoint=False),
        AtomicBest(run_dir / BEST, best_reading(run_dir, baseline)),
        *([EpochWeights()] if cfg.average_last > 0 else []),
        keras.callbacks.EarlyStopping(monitor="val_exact", mode="max", patience=cfg.patience),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        Log(),
    ]
    if tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            log("--tensorboard: the tensorboard package is not installed; continuing without")
        else:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    return callbacks


def resume_epoch(run_dir: Path) -> int | None:
    """The epoch a killed run resumes at (1-based), or None if there is nothing to resume."""
    meta = run_dir / BACKUP / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"]) + 1
    except (OSError, ValueError, KeyError):
        return None


def train(run_dir: Path, train_split: Split | ShardedSplit | FreshSequences,
          val_split: Split | ShardedSplit, net: NetConfig, cfg: TrainConfig, log=print,
          tensorboard: bool = False, strategy=None, initial: Path | None = None,
          augment=None, initial_competes: bool = True, teacher=None):
    """Train a model into ``run_dir``; resumes from its backup if a previous run was killed.

    Args:
        train_split: a stored split (PNG or TFRecord), or a digit pool to compose new
            sequences from each epoch.
        strategy: a tf.distribute strategy (model.training.distribute): the model and its optimizer
            are made in its scope, and each global batch of ``cfg.batch_size`` is split
            across its replicas. None: the default single device.
        initial: a .keras model of the same architecture to start from (fine-tuning)
            instead of random weights. It competes as epoch 0: an epoch must beat its
            validation exact accuracy to replace it as the best model.
        augment: a tf.data map function applied to each training example every epoch
            (``model.training.augment.make_augment``; PNG splits only).
        initial_competes: whether ``initial`` competes as epoch 0. Self-training
            (``model.adaptation``) validates on the starting model's own readings, which
            that model always reproduces best, so there it does not, and the best epoch
            wins; the adaptation's guard compares the start and the result instead.
        teacher: a loaded model of the same frame rate whose readings the model also learns
            (``model.training.distill``), or None.

    Returns:
        The model with the best validation exact accuracy, also saved as run_dir/model.keras.
    """
    import keras

    from model.training.distill import DistillCTC, taught

    if (run_dir / FINAL).is_file() and not (run_dir / BACKUP).exists():
        # Killed after the final save and the clean-up, before the reports: the training
        # is done, so finish from the saved model instead of training again.
        log(f"{run_dir / FINAL} is saved: finishing the run from it")
        return keras.models.load_model(run_dir / FINAL, safe_mode=True)
    for split in (train_split, val_split):
        if isinstance(split, FreshSequences):
            check_fresh_time_steps(split, net)
        else:
            check_time_steps(split, net)
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(net)
        if initial is not None:
            model.load_weights(initial)
        steps = math.ceil(len(train_split) / cfg.batch_size)
        # A plain rate that the Schedule callback sets per batch: a time budget decides
        # the epoch count, and so the schedule's length, only after the first epoch.
        model.compile(optimizer=optimizer(cfg),
                      loss=keras.losses.CTC() if teacher is None else DistillCTC())

    if isinstance(train_split, FreshSequences):
        train_ds = make_fresh_dataset(train_split, cfg.batch_size, cfg.seed)
    else:
        train_ds = make_dataset(train_split, cfg.batch_size, net.height, shuffle_seed=cfg.seed,
                                augment=augment)
    train_ds = distorted(train_ds, cfg.distort, cfg.seed)
    train_ds = stretched(train_ds, cfg.stretch, cfg.seed)
    train_ds = lowered(sheared(train_ds, cfg.shear, cfg.seed), cfg.lowres, cfg.seed)
    train_ds = erased(train_ds, cfg.erase, cfg.seed)
    val_ds = make_dataset(val_split, 256, net.height)
    if teacher is not None:  # last, so that it reads the images the student reads
        train_ds, val_ds = taught(train_ds, teacher), taught(val_ds, teacher)
    baseline = None
    if initial is not None and initial_competes:
        from model.evaluation.evaluate import greedy_readings
        from model.evaluation.metrics import evaluate

        baseline = evaluate(*greedy_readings(model, val_split, net))["exact"]
        log(f"starting model: val exact {100 * baseline:.2f}%")
        if not (run_dir / BEST).exists() and not (run_dir / FINAL).exists():
            with replacing(run_dir / BEST) as tmp:  # kept unless an epoch does better
                shutil.copyfile(initial, tmp)
    plan = Plan.load(run_dir, cfg)
    callbacks = make_callbacks(run_dir, val_split, net, cfg, log, tensorboard, steps, plan,
                               baseline)
    start = resume_epoch(run_dir)
    if start is not None:
        log(f"resuming {run_dir} at epoch {start} (from its backup)")
    history = model.fit(train_ds, validation_data=val_ds, epochs=plan.epochs,
                        callbacks=callbacks, shuffle=False,
                        verbose=0)  # the dataset shuffles itself, with the seed
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        if not (run_dir / BEST).is_file():
            shutil.rmtree(run_dir / BACKUP, ignore_errors=True)  # nothing worth resuming
            raise DataError(f"training diverged: the loss became {losses[-1]} in epoch "
                            f"{len(losses)} and no epoch before it was kept; lower "
                            "--learning-rate")
        log(f"training stopped: the loss became {losses[-1]} in epoch {len(losses)}; the "
            "best epoch before it is kept")
    if cfg.average_last > 0 and not (run_dir / FINAL).is_file():
        average_epochs(run_dir, model, val_split, net, cfg.average_last,
                       best_reading(run_dir, baseline), log)
    if (initial is not None and cfg.interpolate < 1 and (run_dir / BEST).is_file()
            and not (run_dir / INTERPOLATED).is_file()):
        interpolate_start(run_dir, model, initial, cfg.interpolate, val_split, net, log)
    if (run_dir / BEST).is_file():
        best = keras.models.load_model(run_dir / BEST, safe_mode=True)
        if teacher is not None:  # the run's model is a plain network, loadable anywhere
            best.compile(optimizer=best.optimizer, loss=keras.losses.CTC())
        save_atomically(best, run_dir / FINAL)
        (run_dir / BEST).unlink()
    elif (run_dir / FINAL).is_file():  # a crash came after the final save: keep that model
        best = keras.models.load_model(run_dir / FINAL, safe_mode=True)
    else:
        raise DataError("training produced no usable model (the loss diverged?)")
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)
    shutil.rmtree(run_dir / EPOCH_WEIGHTS, ignore_errors=True)
    return best


def average_epochs(run_dir: Path, model, val: Split | ShardedSplit, net: NetConfig,
                   count: int, best: float | None, log=print) -> bool:
    """Average the weights kept from the last ``count`` epochs (``EpochWeights``: every
    variable, batch-norm statistics included, in float64) and save the average as the
    run's best model if its greedy validation exact accuracy is at least ``best``, the
    best epoch's. Late in a cosine schedule the epochs wander around a wide optimum; their
    mean sits nearer its middle and tends to read unseen hands better than any one of them.
    Writes what it found to ``AVERAGED`` in the run directory.

    Returns:
        Whether the average was kept. Fewer than two kept epochs: nothing to average.
    """
    from model.evaluation.evaluate import greedy_readings
    from model.evaluation.metrics import evaluate

    files = sorted((run_dir / EPOCH_WEIGHTS).glob("[0-9]*.weights.h5"))[-count:]
    if len(files) < 2:
        log(f"--average-last {count}: fewer than two epochs kept, nothing to average")
        return False
    total = None
    for path in files:
        model.load_weights(path)
        weights = model.get_weights()
        total = ([w.astype(np.float64) for w in weights] if total is None
                 else [t + w for t, w in zip(total, weights, strict=True)])
    model.set_weights([(t / len(files)).astype(w.dtype)
                       for t, w in zip(total, weights, strict=True)])
    exact = evaluate(*greedy_readings(model, val, net))["exact"]
    kept = best is None or exact >= best
    epochs = [int(p.name.split(".")[0]) for p in files]
    log(f"weights of epochs {epochs[0]}-{epochs[-1]} averaged: val exact {100 * exact:.2f}% "
        f"against {100 * (best or 0):.2f}% for the best epoch: "
        f"{'kept' if kept else 'not kept'}")
    if kept:
        save_atomically(model, run_dir / BEST)
    write_json(run_dir / AVERAGED, {"epochs": epochs, "val_exact": exact,
                                    "best_epoch_val_exact": best, "kept": kept})
    return kept


def interpolate_start(run_dir: Path, model, initial: Path, fraction: float,
                      val: Split | ShardedSplit, net: NetConfig, log=print) -> None:
    """Replace the run's best model by the starting model's weights moved ``fraction`` of the
    way toward it (every variable, batch-norm statistics included, in float64), and write
    what the mix read on the validation split to ``INTERPOLATED``. Kept whatever it reads
    there: the validation split is the fine-tuning data's own look, on which the trained
    weights tend to read best; the mix is for the hands that data does not show."""
    import keras

    from model.evaluation.evaluate import greedy_readings
    from model.evaluation.metrics import evaluate

    trained = keras.models.load_model(run_dir / BEST, safe_mode=True).get_weights()
    model.load_weights(initial)
    start = model.get_weights()
    model.set_weights([((1 - fraction) * s.astype(np.float64)
                        + fraction * t.astype(np.float64)).astype(t.dtype)
                       for s, t in zip(start, trained, strict=True)])
    exact = evaluate(*greedy_readings(model, val, net))["exact"]
    log(f"--interpolate {fraction:g}: the starting weights moved {fraction:g} of the way "
        f"toward the trained ones read val exact {100 * exact:.2f}%")
    save_atomically(model, run_dir / BEST)
    write_json(run_dir / INTERPOLATED, {"fraction": fraction, "val_exact": exact})


def predict_logits(model, split: Split, height: int, batch_size: int = 256) -> np.ndarray:
    """Logits for a whole split, (n, T_max, 11), rows padded past their own length.

    Batches are padded to their own widest image, so their T differ and Keras's predict()
    cannot concatenate them; each batch is padded to the longest T here instead.
    """
    ds = make_dataset(split, batch_size, height, cache=False)
    parts = [np.asarray(model(x, training=False)) for x, _ in ds]
    width = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in parts])
