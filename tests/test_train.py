"""model.training.train: a trained model saves and reloads exactly; the last epochs averaged."""

import json

import keras
import numpy as np
import pytest

import model.training.train as train_module
from model.inputs.datasets import load_split, make_dataset
from model.network import NetConfig, build_model
from model.training.train import TrainConfig


def _tiny_inputs(tiny_dataset):
    """A network small enough to train in seconds, and the tiny dataset's train and val."""
    return (NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,)),
            load_split(tiny_dataset, "train", 28), load_split(tiny_dataset, "val", 28))


def test_reloaded_model_gives_the_same_logits(tiny_dataset, tmp_path):
    net, split, val = _tiny_inputs(tiny_dataset)
    (tmp_path / "run").mkdir()
    model = train_module.train(tmp_path / "run", split, val, net,
                               TrainConfig(epochs=1, batch_size=16), log=lambda m: None)
    reloaded = keras.models.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    x, _ = next(iter(make_dataset(val, 8, 28)))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(reloaded(x)))


def test_the_last_epochs_are_averaged_and_kept_only_when_validation_agrees(tiny_dataset,
                                                                          tmp_path,
                                                                          monkeypatch):
    net, split, val = _tiny_inputs(tiny_dataset)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    logged = []
    seen = []

    class Spy(keras.callbacks.Callback):  # what EpochWeights should have kept
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    make = train_module.make_callbacks
    monkeypatch.setattr(train_module, "make_callbacks",
                        lambda *a, **k: make(*a, **k) + [Spy()])
    model = train_module.train(run_dir, split, val, net,
                               TrainConfig(epochs=4, batch_size=16, average_last=3,
                                           patience=10),
                               log=logged.append)
    report = json.loads((run_dir / "averaged.json").read_text())
    assert report["epochs"] == [2, 3, 4]
    assert any("averaged" in line for line in logged)
    assert not (run_dir / "epochs").exists()  # removed with the backup once saved
    mean = [np.mean([epoch[i] for epoch in seen[1:]], axis=0) for i in range(len(seen[0]))]
    # Kept exactly when it reads validation at least as well as the best epoch.
    assert report["kept"] == (report["val_exact"] >= report["best_epoch_val_exact"])

    # An average that reads validation worse than the best epoch is not kept.
    (run_dir / "epochs").mkdir()
    for n, weights in enumerate(seen[1:], start=2):
        model.set_weights(weights)
        model.save_weights(run_dir / "epochs" / f"{n:03d}.weights.h5")
    assert not train_module.average_epochs(run_dir, model, val, net, 3, 1.01, logged.append)
    assert json.loads((run_dir / "averaged.json").read_text())["kept"] is False
    assert train_module.average_epochs(run_dir, model, val, net, 3, None, logged.append)
    for got, want in zip(model.get_weights(), mean, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_interpolate_keeps_the_start_moved_part_of_the_way_to_the_trained_weights(
        tiny_dataset, tmp_path, monkeypatch):
    net, split, val = _tiny_inputs(tiny_dataset)
    (tmp_path / "start").mkdir()
    start = train_module.train(tmp_path / "start", split, val, net,
                               TrainConfig(epochs=1, batch_size=16), log=lambda m: None)
    trained = []
    mix = train_module.interpolate_start

    def spy(run_dir, *args, **kwargs):
        # A tiny run's epochs may not beat the start on validation, which then stays the
        # best model: shift it, so that the mix has two different ends.
        best = keras.models.load_model(run_dir / "best.keras")
        best.set_weights([w + 0.1 for w in best.get_weights()])
        best.save(run_dir / "best.keras")
        trained.append(best.get_weights())
        return mix(run_dir, *args, **kwargs)

    monkeypatch.setattr(train_module, "interpolate_start", spy)
    run_dir = tmp_path / "tuned"
    run_dir.mkdir()
    logged = []
    model = train_module.train(run_dir, split, val, net,
                               TrainConfig(epochs=2, batch_size=16, learning_rate=5e-2,
                                           seed=7, interpolate=0.25),
                               log=logged.append, initial=tmp_path / "start" / "model.keras")
    assert len(trained) == 1
    report = json.loads((run_dir / "interpolated.json").read_text())
    assert report["fraction"] == 0.25 and 0 <= report["val_exact"] <= 1
    assert any("--interpolate 0.25" in line for line in logged)
    saved = keras.models.load_model(run_dir / "model.keras", safe_mode=True).get_weights()
    moved = 0
    for got, kept, s, t in zip(model.get_weights(), saved, start.get_weights(), trained[0],
                               strict=True):
        np.testing.assert_allclose(got, 0.75 * s + 0.25 * t, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got, kept)
        moved += int(not np.allclose(s, t))
    assert moved == len(saved)


def test_the_schedule_is_keras_cosine_decay_with_linear_warm_up():
    peak, warmup, total = 2e-3, 10, 50
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 100, warmup_target=peak, warmup_steps=warmup,
        decay_steps=total - warmup, alpha=0.01)
    for step in (0, 1, 5, 10, 11, 30, 49, 50, 70):
        assert train_module.learning_rate(step, total, warmup, peak) == \
            pytest.approx(float(keras_schedule(step)), rel=1e-5)


def test_a_plan_fits_the_budget_within_the_epoch_cap(tmp_path):
    cfg = TrainConfig(epochs=20, time_budget=600)
    plan = train_module.Plan.load(tmp_path, cfg)
    assert (plan.epochs, plan.decided) == (20, False)
    plan.decide(tmp_path, cfg, first_epoch_s=60.0, epoch_s=45.0)
    assert plan.epochs == 13  # the first 60 s, then 12 of 45 s
    assert train_module.Plan.load(tmp_path, cfg).epochs == 13  # a resumed run keeps it
    plan.decide(tmp_path, cfg, first_epoch_s=2.0, epoch_s=1.0)
    assert plan.epochs == 20  # never more than --epochs
    plan.decide(tmp_path, cfg, first_epoch_s=900.0, epoch_s=800.0)
    assert plan.epochs == 1  # the first epoch is already trained
    assert train_module.Plan.load(tmp_path, TrainConfig(epochs=7)).epochs == 7  # no budget


def _weights_after(tiny_dataset, run_dir, cfg, plan_epochs=None):
    net, split, val = _tiny_inputs(tiny_dataset)
    run_dir.mkdir()
    if plan_epochs is not None:
        (run_dir / train_module.PLAN).write_text(json.dumps({"epochs": plan_epochs}))
    logged = []
    model = train_module.train(run_dir, split, val, net, cfg, log=logged.append)
    return model.get_weights(), logged


def test_a_budgeted_run_trains_what_its_plan_says_like_that_epoch_count(tiny_dataset,
                                                                        tmp_path):
    fixed, _ = _weights_after(tiny_dataset, tmp_path / "fixed",
                              TrainConfig(epochs=2, batch_size=16, patience=10))
    # The plan a budget decided (here written beforehand, as a resumed run finds it) sets
    # both the epoch count and the schedule's length: the same weights as --epochs 2.
    planned, logged = _weights_after(
        tiny_dataset, tmp_path / "planned",
        TrainConfig(epochs=5, batch_size=16, patience=10, time_budget=1e6), plan_epochs=2)
    assert sum(line.startswith("epoch ") for line in logged) == 2
    for a, b in zip(fixed, planned, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_tiny_budget_stops_after_the_first_epoch(tiny_dataset, tmp_path):
    _, logged = _weights_after(tiny_dataset, tmp_path / "run",
                               TrainConfig(epochs=5, batch_size=16, time_budget=1e-3))
    assert sum(line.startswith("epoch ") for line in logged) == 1
    assert any("--time-budget" in line and "trains 1 epoch " in line for line in logged)
    assert json.loads((tmp_path / "run" / train_module.PLAN).read_text())["epochs"] == 1


def _threads_in_a_new_process(env_extra: dict) -> list[str]:
    import os
    import subprocess
    import sys

    code = ("from model.training.train import set_threads; set_threads(); "
            "import tensorflow as tf; "
            "print(tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    src = os.path.dirname(os.path.dirname(os.path.dirname(train_module.__file__)))
    env.update(env_extra, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_threads_are_one_per_core_and_two_inter_op_unless_the_environment_says():
    import os

    lines = _threads_in_a_new_process({})
    assert lines[-2:] == [str(len(os.sched_getaffinity(0))), "2"]
    # An environment setting is left to TensorFlow: the configuration is not touched.
    lines = _threads_in_a_new_process({"TF_NUM_INTEROP_THREADS": "1"})
    assert lines[-1] == "0"


def test_weight_decay_shrinks_the_kernels_alone():
    # With a zero gradient Adam does not move a weight, so what moves is the decay alone:
    # kernels by rate x decay, biases and batch normalisation not at all.
    model = build_model(NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,)))
    opt = train_module.optimizer(TrainConfig(weight_decay=0.5))
    opt.learning_rate = 0.1  # as the Schedule callback sets it before a batch
    before = {v.path: np.asarray(v).copy() for v in model.trainable_variables}
    opt.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    for v in model.trainable_variables:
        decayed = v.path.endswith("kernel")
        want = before[v.path] * (1 - 0.1 * 0.5) if decayed else before[v.path]
        np.testing.assert_allclose(np.asarray(v), want, rtol=1e-6, err_msg=v.path)
    assert type(train_module.optimizer(TrainConfig())).__name__ == "Adam"
