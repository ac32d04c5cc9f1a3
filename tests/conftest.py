"""Shared fixtures: a small, fake, tagged MNIST so tests never need the network."""

import importlib.util
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


def run_main(main, args, capsys) -> tuple[int, str, str]:
    """A command's ``main`` called with ``args`` (str()-ed): its exit status, argparse's
    usage errors (exit 2) included, and what it printed on stdout and stderr."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


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


def tiny_dataset_at(root: Path, max_length: int = 4, counts=(96, 32, 32), seed: int = 5):
    """A tiny generated dataset (fake digits of 1 to ``max_length``) written at ``root``."""
    from digits.compose import ComposeConfig
    from digits.dataset import Counts, write_dataset

    write_dataset(root, fake_mnist(), ComposeConfig(min_length=1, max_length=max_length),
                  Counts(*counts), seed=seed)
    return root


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A tiny generated dataset: 96 / 32 / 32 sequences of 1 to 4 fake digits."""
    return tiny_dataset_at(tmp_path_factory.mktemp("data") / "tiny")


def npz_dataset_at(root: Path) -> tuple[Path, Path]:
    """A fake MNIST saved as a Keras-layout .npz under ``root``, and a dataset generated
    from it by the command line (which ``--fresh`` composes from anew): (dataset, npz)."""
    from digits.sequence_generator import main as generate

    m = fake_mnist()
    npz = root / "mnist.npz"
    np.savez(npz, x_train=m.x_train, y_train=m.y_train, x_test=m.x_test, y_test=m.y_test)
    out = root / "ds"
    assert generate(["--source", "file", "--mnist", str(npz), "--out", str(out),
                     "--min-length", "1", "--max-length", "4", "--count-train", "64",
                     "--count-val", "16", "--count-test", "16", "--workers", "1"]) == 0
    return out, npz


def sequences(n: int = 6, seed: int = 3):
    """``n`` composed sequences of fake test digits, of different widths: the (28, w) uint8
    images, as the model takes them, and their labels."""
    from digits.compose import ComposeConfig, compose

    mnist = fake_mnist()
    chunk = compose(mnist.x_test, mnist.y_test, n, ComposeConfig(min_length=1, max_length=4),
                    np.random.default_rng(seed))
    assert len({im.shape[1] for im in chunk.images}) > 1
    return chunk.images, chunk.texts


def png_bytes(array) -> bytes:
    """A (h, w) uint8 array as PNG bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def keras_decode(logits, lengths, strategy, beam_width=10, top_paths=1):
    """Strings (path-major) and raw scores from keras.ops.ctc_decode on log-softmax: the
    reference the numpy decoder is held to."""
    import keras

    from model.decoding import ctc
    from model.vocab import BLANK, decode_batch

    log_probs = ctc.log_softmax(logits).astype(np.float32)
    ids, scores = keras.ops.ctc_decode(
        log_probs, lengths, strategy=strategy, beam_width=beam_width, top_paths=top_paths,
        mask_index=BLANK,
    )
    ids = keras.ops.convert_to_numpy(ids)
    return [decode_batch(p) for p in ids], keras.ops.convert_to_numpy(scores)


@pytest.fixture(scope="module")
def png():
    """A composed five-digit sequence, dark ink on white, as PNG bytes."""
    from digits.compose import ComposeConfig, compose

    mnist = fake_mnist()
    chunk = compose(mnist.x_train, mnist.y_train, 1, ComposeConfig(), np.random.default_rng(1))
    return png_bytes(255 - chunk.images[0])


def bench_module(name: str):
    """bench/NAME.py as a module (bench/ is not a package; its scripts import each other)."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(bench))
    return module
