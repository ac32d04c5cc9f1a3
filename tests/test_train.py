"""model.training.train: a trained model saves and reloads exactly; the last epochs averaged."""

import json

import keras
import numpy as np

import model.training.train as train_module
from model.inputs.datasets import load_split, make_dataset
from model.network import NetConfig
from model.training.train import TrainConfig


def test_reloaded_model_gives_the_same_logits(tiny_dataset, tmp_path):
    net = NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,))
    split = load_split(tiny_dataset, "train", 28)
    val = load_split(tiny_dataset, "val", 28)
    (tmp_path / "run").mkdir()
    model = train_module.train(tmp_path / "run", split, val, net,
                               TrainConfig(epochs=1, batch_size=16), log=lambda m: None)
    reloaded = keras.models.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    x, _ = next(iter(make_dataset(val, 8, 28)))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(reloaded(x)))


def test_the_last_epochs_are_averaged_and_kept_only_when_validation_agrees(tiny_dataset,
                                                                          tmp_path,
                                                                          monkeypatch):
    net = NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,))
    split = load_split(tiny_dataset, "train", 28)
    val = load_split(tiny_dataset, "val", 28)
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
