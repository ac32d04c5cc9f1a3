"""Run an exported model (ONNX or LiteRT) and read its digits, without TensorFlow or Keras.

    from model.deploy.runtime import load_exported

    exported = load_exported("runs/mnist/model.onnx")  # and model.onnx.json beside it
    readings = exported.read(images)                     # [[Reading(text, score)], ...]

``images`` are prepared as the model takes them: 2-D arrays of the height the JSON names,
white ink on black, pixel values 0..255 (``model.reading.preprocess.prepare`` turns a scan or a
photo into that). The exported graph ends at the logits; decoding is :mod:`model.decoding.ctc`'s.
Needs numpy plus onnxruntime (ONNX) or ai-edge-litert (LiteRT).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digits.errors import DataError
from model.decoding import Reading, decode
from model.network import downsampled

SCHEMA_VERSION = 1  # of the JSON written beside every export (model.export)
READERS = {"onnx": "onnxruntime", "litert": "ai-edge-litert"}


def sidecar_path(path: Path) -> Path:
    """The JSON that describes an export: ``model.onnx`` -> ``model.onnx.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


class _OnnxRunner:
    """ONNX Runtime on the CPU; any batch, and any width unless the export fixed one."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: one per physical core
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x})[0]


class _LiteRTRunner:
    """The LiteRT interpreter, one image per call: the export has a static batch of 1."""

    def __init__(self, path: Path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.shape: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        rows = []
        for image in x:
            shape = (1, *image.shape)
            if shape != self.shape:  # only an any-width export ever changes shape
                self.interpreter.resize_tensor_input(self.input["index"], shape, strict=True)
                self.interpreter.allocate_tensors()
                self.shape = shape
            self.interpreter.set_tensor(self.input["index"], image[None])
            self.interpreter.invoke()
            rows.append(self.interpreter.get_tensor(self.output)[0])
        return np.stack(rows) if rows else np.zeros((0, 0, 11), np.float32)


class ExportedModel:
    """An exported logits model and its description.

    Attributes:
        path: the model file.
        meta: the JSON written beside it by ``model.export``.
        height: input height in pixels.
        width: the fixed input width, or None where any width reads.
    """

    def __init__(self, path: Path, meta: dict, runner):
        self.path = Path(path)
        self.meta = meta
        self.height: int = meta["input"]["height"]
        self.width: int | None = meta["input"]["width"]
        # Exports made before the strided first convolution have no column_stride.
        self._stride: int = meta["time_steps"].get("column_stride", 1)
        self._pools: list[int] = meta["time_steps"]["column_pools"]
        self._run = runner

    def time_steps(self, width: int) -> int:
        """Time steps T the model emits for an image ``width`` pixels wide."""
        return downsampled(width, self._stride, self._pools)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Raw logits of a batch.

        Args:
            images: (n, height, width, 1), pixel values 0..255; the width must be the
                export's fixed width, if it has one.

        Returns:
            float32 (n, T, 11).
        """
        x = np.ascontiguousarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != self.height or x.shape[3] != 1:
            raise ValueError(f"images must have shape (n, {self.height}, width, 1), "
                             f"got {x.shape}")
        if self.width is not None and x.shape[2] != self.width:
            raise ValueError(f"this export takes images exactly {self.width} pixels wide "
                             f"(pad them), got {x.shape[2]}")
        return np.asarray(self._run(x), dtype=np.float32)

    def pad(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack (height, width_i) images into (n, height, W, 1) float32, zero-padded on the
        right (zero is the black background): W is the fixed width, else the widest."""
        for im in images:
            if im.ndim != 2 or im.shape[0] != self.height:
                raise ValueError(f"each image must be 2-D and {self.height} pixels high, "
                                 f"got shape {im.shape}")
            if self.width is not None and im.shape[1] > self.width:
                raise ValueError(f"an image {im.shape[1]} pixels wide does not fit this "
                                 f"export's fixed width of {self.width}; export again with "
                                 "a larger --width")
        widest = max((im.shape[1] for im in images), default=0)
        batch = np.zeros((len(images), self.height, self.width or widest, 1), np.float32)
        for row, im in zip(batch, images, strict=True):
            row[:, : im.shape[1], 0] = im
        return batch

    def read(self, images: Sequence[np.ndarray], method: str = "beam", beam_width: int = 10,
             top_paths: int = 1, batch_size: int = 64) -> list[list[Reading]]:
        """Digit strings of prepared images, best first.

        Args:
            images: 2-D (height, width_i) arrays, white ink on black, values 0..255.
            method, beam_width, top_paths: as :func:`model.decoding.ctc.decode`.
            batch_size: images run through the model at once.

        Returns:
            Per image, up to ``top_paths`` :class:`~model.decoding.Reading`; each decodes
            only the time steps of its own width, not those of the padding.
        """
        readings: list[list[Reading]] = []
        for start in range(0, len(images), batch_size):
            chunk = [np.asarray(im) for im in images[start:start + batch_size]]
            logits = self.logits(self.pad(chunk))
            lengths = [self.time_steps(im.shape[1]) for im in chunk]
            readings += decode(logits, lengths, method, beam_width, top_paths)
        return readings


def load_exported(path: Path | str, threads: int | None = None) -> ExportedModel:
    """An exported ONNX or LiteRT model, described by the JSON beside it.

    Args:
        threads: CPU threads the runtime may use; None for its default.

    Raises:
        DataError: no such file, no or a bad JSON, a format this module cannot run (a
            SavedModel needs TensorFlow), or the runtime package is missing.
    """
    path = Path(path)
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise DataError(f"no exported model at {path}")
    try:
        meta = json.loads(meta_path.read_text())
        fmt = meta["format"]
        schema = meta["schema_version"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{meta_path} (written by model.export) is missing or unreadable: "
                        f"{e}") from None
    if schema != SCHEMA_VERSION:
        raise DataError(f"{meta_path} has schema version {schema}; this code reads "
                        f"{SCHEMA_VERSION}")
    if fmt not in READERS:
        raise DataError(f"{path} is a {fmt} export; this module runs "
                        f"{' and '.join(READERS)} exports")
    try:
        runner = (_OnnxRunner if fmt == "onnx" else _LiteRTRunner)(path, threads)
    except ImportError:
        raise DataError(f"running a {fmt} export needs the {READERS[fmt]} package "
                        "(pip install -r requirements.txt)") from None
    except Exception as e:  # the runtimes raise their own types for a damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path} could not be loaded: {first}") from None
    try:
        return ExportedModel(path, meta, runner)
    except (KeyError, TypeError) as e:
        raise DataError(f"{meta_path} lacks a field this code reads ({type(e).__name__}: "
                        f"{e}); export the run again") from None
