"""--distribute mirrored: training on two logical CPU devices, and its bad flags."""

import csv
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import fake_mnist
from digits.compose import ComposeConfig
from digits.dataset import Counts, write_dataset
from model.decoding import best_texts, decode
from model.icr import main
from model.training.distribute import parse_devices

SRC = Path(__file__).resolve().parents[1] / "src"

# Runs in a child process: logical devices must be set before TensorFlow starts, and must
# not leak into the other tests. A callback saves what the model reads under the strategy
# after every epoch, to compare with the saved model reloaded here, without the strategy.
CHILD = """
import sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import model.training.train as train_module
from model.icr import main

dataset, run_dir, out = sys.argv[1:4]
x = np.load(out + "/x.npy")


class Read(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        np.save(f"{out}/logits{epoch}.npy", np.asarray(self.model(x, training=False)))


real = train_module.make_callbacks
train_module.make_callbacks = lambda *a, **k: real(*a, **k) + [Read()]
sys.exit(main([dataset, "--preset", "tiny", "--epochs", "2", "--run-dir", run_dir,
               "--distribute", "mirrored", "--devices", "cpu:0,CPU:1"]))
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "tfr"
    write_dataset(root, fake_mnist(), ComposeConfig(min_length=1, max_length=4),
                  Counts(64, 16, 16), seed=5, fmt="tfrecord", shard_size=32)
    return root


def test_mirrored_on_two_cpus_learns_and_saves_a_plain_model(dataset, tmp_path):
    from digits.dataset import read_manifest
    from model.inputs.datasets import make_dataset, open_split
    from model.network import NetConfig

    val = open_split(dataset, read_manifest(dataset), "val", 28)
    x, _, widths = next(iter(make_dataset(val, 32, 28, widths=True)))
    np.save(tmp_path / "x.npy", x.numpy())
    run_dir = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", CHILD, str(dataset), str(run_dir),
                            str(tmp_path)], cwd=SRC, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert "2 replicas (/job:localhost/replica:0/task:0/device:CPU:0, " in child.stderr

    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 2 and losses[-1] < losses[0]

    # The saved model is the best epoch's (the first with the highest val_exact): reloaded
    # here, on one device, it reads exactly as the mirrored model did at that epoch.
    exact = [float(r["val_exact"]) for r in rows]
    best = exact.index(max(exact))
    mirrored = np.load(tmp_path / f"logits{best}.npy")
    reloaded = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    logits = np.asarray(reloaded(x, training=False))
    np.testing.assert_allclose(logits, mirrored, rtol=1e-5, atol=1e-5)
    lengths = [NetConfig().time_steps(int(w)) for w in widths.numpy()]
    assert best_texts(decode(logits, lengths)) == best_texts(decode(mirrored, lengths))
    assert (run_dir / "metrics.json").is_file()


@pytest.mark.parametrize("argv,needle", [
    (["--distribute", "multiworker"], "unknown --distribute 'multiworker'"),
    (["--distribute", "mirrored", "--devices", "GPU:7"], "no device GPU:7"),
    (["--distribute", "mirrored", "--devices", "CPU:0,CPU:0"], "twice"),
    (["--devices", "CPU:0"], "--devices needs --distribute"),
])
def test_bad_distribute_flags_are_one_line_errors(dataset, tmp_path, capsys, argv, needle):
    run_dir = tmp_path / "run"
    status = main([str(dataset), "--preset", "tiny", "--run-dir", str(run_dir), *argv])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not run_dir.exists()


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible")
def test_mirrored_without_a_gpu_asks_for_devices(dataset, tmp_path, capsys):
    status = main([str(dataset), "--distribute", "mirrored", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert status == 2 and "no GPU" in err and "--devices" in err


def test_device_names_are_normalised():
    assert parse_devices("/device:gpu:0, GPU:1,") == ["GPU:0", "GPU:1"]
