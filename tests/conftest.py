"""Shared fixtures: a small, fake, tagged MNIST so tests never need the network."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digits.sources import MnistDigits

TRAIN_INK = 100  # Every training digit's ink has this value...
TEST_INK = 220  # ...and every test digit's this one, so an image tells which pool it used.


def fake_mnist(n_train: int = 300, n_test: int = 100, seed: int = 0) -> MnistDigits:
    """Digits drawn as a random block of ink, tagged by pool through the ink value."""
    rng = np.random.default_rng(seed)

    def digits(n, ink):
        x = np.zeros((n, 28, 28), np.uint8)
        for i in range(n):
            top, left = rng.integers(4, 10, 2)
            h, w = rng.integers(8, 15, 2)
            x[i, top:top + h, left:left + w] = ink
        return x, (np.arange(n) % 10).astype(np.uint8)

    x_train, y_train = digits(n_train, TRAIN_INK)
    x_test, y_test = digits(n_test, TEST_INK)
    return MnistDigits(x_train, y_train, x_test, y_test, source="file", origin="fake",
                       sha256="0" * 64, reason="test fixture", writer_disjoint_test=True)


@pytest.fixture
def mnist() -> MnistDigits:
    return fake_mnist()


def untrained_run(root, seed: int = 0):
    """A run directory as model.icr leaves it (model.keras + config.json) holding an
    untrained tiny model: for tests of reading mechanics, which do not depend on what the
    weights say. Returns the root."""
    import json

    import keras

    from model.network import NetConfig, build_model

    net = NetConfig(conv_filters=(4, 8, 8), dense=16, gru_units=(8,))
    keras.utils.set_random_seed(seed)
    build_model(net).save(root / "model.keras")
    (root / "config.json").write_text(json.dumps({"net": net.to_dict()}))
    return root


SRC = Path(__file__).resolve().parents[1] / "src"


def without_tensorflow(code: str) -> str:
    """Run ``code`` in a fresh interpreter in src/, fail if it imported TensorFlow or Keras
    (a CLI's --help and the numpy decoders must not pay for them), and return its output."""
    probe = (f"{code}\nimport sys as _sys\n"
             "print('heavy:', sorted({'tensorflow', 'keras'} & set(_sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=SRC, capture_output=True,
                         text=True, check=True).stdout
    assert out.rstrip().endswith("heavy: []"), out[-300:]
    return out


def help_without_tensorflow(module: str) -> str:
    """``python -m module --help``'s text, checked by ``without_tensorflow``."""
    return without_tensorflow(f"from {module} import main\n"
                              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
