"""Exporting a finished run's logits model as a SavedModel, ONNX or LiteRT file, checked
against Keras before anything is written (``python -m model.export`` is the command).

The graph ends at the logits (batch, T, 11): CTC beam search has no ONNX or LiteRT op, so
decoding stays outside (``model.decoding`` in numpy; ``model.deploy.runtime`` runs ONNX and
LiteRT exports without TensorFlow). Beside the export, PATH.json says everything a reader
needs: the input (batch, height, width, 1) float32 of pixel values 0..255, white ink on
black; which sizes are free; how many time steps a width gives; blank = class 0, digit d =
class d+1; and the run it came from. Before anything is written, the export is run on
random images (by TensorFlow, onnxruntime or ai-edge-litert) and its logits compared with
the Keras model's; then both files are moved into place, so an error leaves nothing
half-written.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DataError
from model.deploy.runtime import SCHEMA_VERSION, sidecar_path

# LiteRT's default fixed width: 64 time steps, room for about ten handwritten digits at
# MNIST's size; narrower images are padded to it. A fixed width is what embedded runtimes
# and their delegates plan memory for; --width 0 keeps the width free.
LITERT_WIDTH = 256
TOLERANCE = 1e-4  # largest |exported - Keras| logit accepted; float32 reorderings give ~1e-5
INPUT_NAME = "image"


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        default_name: the output's name in the run directory.
        converter: the package that converts, beyond TensorFlow.
        batch: the fixed batch size, or None for any.
    """

    default_name: str
    converter: str | None
    batch: int | None


FORMATS = {
    "savedmodel": Format("saved_model", None, None),
    "onnx": Format("model.onnx", "tf2onnx", None),
    # A free batch makes the converter keep the GRU's TensorList ops as Flex (TF) ops,
    # which a plain LiteRT interpreter cannot run; batch 1 lowers to builtin ops only.
    "litert": Format("model.tflite", None, 1),
}


def input_shape(fmt: str, height: int, width: int | None) -> tuple[int | None, ...]:
    """(batch, height, width, 1), None where the export takes any size."""
    return (FORMATS[fmt].batch, height, width or None, 1)


def convert(model, fmt: str, shape: tuple, path: Path) -> dict:
    """Write the model in ``fmt`` to ``path``.

    Returns:
        The output's name and how to call it (signature), plus the opset for ONNX.
    """
    import keras

    spec = [keras.InputSpec(shape=shape, dtype="float32", name=INPUT_NAME)]
    if fmt == "savedmodel":
        model.export(str(path), format="tf_saved_model", input_signature=spec, verbose=False)
        return {"name": "output_0", "signature": "serving_default", "endpoint": "serve"}
    if fmt == "litert":
        import tensorflow as tf

        # Keras also allows Flex (SELECT_TF_OPS); builtins only fails here instead of
        # writing a file that needs the TF delegate.
        model.export(str(path), format="litert", input_signature=spec, verbose=False,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
        return {"name": "output_0", "signature": "serving_default"}
    import warnings

    with warnings.catch_warnings():  # Keras's numpy-2 patch of tf2onnx probes np.object
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", input_signature=spec, verbose=False)
    return {"name": "logits", "opset": name_onnx_axes(path)}


def name_onnx_axes(path: Path) -> int:
    """Give the ONNX graph's output and free axes readable names (tf2onnx leaves
    "Identity:0" and "unk__12"); returns the opset."""
    import onnx

    m = onnx.load(str(path))
    graph = m.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["logits" if o == old else o for o in node.output]
    graph.output[0].name = "logits"
    for value, names in ((graph.input[0], ("batch", None, "width", None)),
                         (graph.output[0], ("batch", "steps", None))):
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=True):
            if name and not dim.HasField("dim_value"):
                dim.dim_param = name
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


def probe_images(shape: tuple, net) -> np.ndarray:
    """Seeded random images of the export's input shape: two where the batch is free, an
    odd width where the width is (pooling floors); pixel noise checks the arithmetic."""
    batch, height, width, _ = shape
    width = width or 9 * net.width_factor + 3  # an odd width: pooling floors
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (batch or 2, height, width, 1)).astype(np.float32)


def exported_logits(fmt: str, path: Path, meta: dict, x):
    """Logits of the written export on ``x``, or None where its runtime is not installed."""
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # held: its variables die with it
        return np.asarray(loaded.serve(x))
    from model.deploy.runtime import ExportedModel, _LiteRTRunner, _OnnxRunner

    try:
        runner = _OnnxRunner(path) if fmt == "onnx" else _LiteRTRunner(path)
    except ImportError:
        return None
    return ExportedModel(path, meta, runner).logits(x)


def check(model, fmt: str, path: Path, meta: dict, net) -> dict | None:
    """Compare the export's logits with the Keras model's on probe images.

    Raises:
        DataError: they differ by more than TOLERANCE.
    """
    x = probe_images(tuple(meta["input"]["shape"]), net)
    try:
        got = exported_logits(fmt, path, meta, x)
    except Exception as e:  # a runtime that cannot load or run what the converter wrote
        raise DataError(f"the {fmt} export does not run: {last_line(e)}; nothing written"
                        ) from None
    if got is None:
        return None
    want = np.asarray(model(x, training=False))
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not diff <= TOLERANCE:
        raise DataError(f"the {fmt} export's logits differ from the Keras model's by {diff:.3g} "
                        f"(more than {TOLERANCE:g}); nothing written")
    runtime = {"savedmodel": "tensorflow", "onnx": "onnxruntime", "litert": "ai-edge-litert"}
    return {"runtime": f"{runtime[fmt]} {package_version(runtime[fmt])}",
            "images": int(x.shape[0]), "width": int(x.shape[2]), "max_abs_diff": diff,
            "tolerance": TOLERANCE}


def last_line(e: Exception) -> str:
    """The last non-empty line of an error: the converters put the cause there."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__


def package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for candidate in (name, name.replace("tensorflow", "tensorflow-cpu")):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(fmt: str, out: Path, shape: tuple, names: dict, run_dir: Path, config: dict,
             net) -> dict:
    """The JSON written beside the export: enough to feed it and decode its output."""
    from model.vocab import BLANK, NUM_CLASSES, VOCAB

    metrics = {}
    if (run_dir / "metrics.json").is_file():
        try:
            found = json.loads((run_dir / "metrics.json").read_text())
            metrics = {k: found[k]["exact"] for k in ("greedy", "beam")}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    pools = [int(cols) for _, cols in net.pools]
    return {
        "schema_version": SCHEMA_VERSION,
        "format": fmt,
        "file": out.name,
        "input": {
            "name": INPUT_NAME, "shape": list(shape), "layout": "NHWC", "dtype": "float32",
            "batch": shape[0], "height": shape[1], "width": shape[2],
            "pixels": "0..255 as float32, white ink on a black background (MNIST polarity); "
                      "the graph divides by 255 itself",
            "padding": "pad narrower images on the right with 0 (black) to the batch's "
                       "width, or to the fixed width; decode only each image's own "
                       "time steps",
            "null_means": "any size",
        },
        "output": {"shape": [shape[0], net.time_steps(shape[2]) if shape[2] else None,
                             NUM_CLASSES], "values": "raw logits per time "
                   "step, before softmax", **{k: v for k, v in names.items() if k != "opset"}},
        "time_steps": {"column_stride": net.first_stride, "column_pools": pools,
                       "rule": "T = width divided by column_stride rounding up, then "
                               "floor-divided by each of column_pools in turn"},
        "vocabulary": {"classes": ["<blank>", *VOCAB], "blank": BLANK,
                       "rule": "class 0 is the CTC blank, digit d is class d + 1"},
        "decoding": "CTC outside the graph: log-softmax over the 11 classes, then greedy "
                    "(argmax per step, merge repeats, drop blanks) or prefix beam search; "
                    "model.decoding.ctc does both in numpy",
        "run": {"dir": str(run_dir.resolve()),
                "model_sha256": file_sha256(run_dir / "model.keras"),
                "dataset": config.get("dataset"), "test_exact": metrics or None,
                "net": net.to_dict()},
        "exported_with": {p: package_version(p) for p in ("keras", "tensorflow", "tf2onnx")
                          if p != "tf2onnx" or fmt == "onnx"} | (
                              {"opset": names["opset"]} if "opset" in names else {}),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def publish(staged: Path, out: Path) -> None:
    """Move a finished export into place; an existing directory is swapped out whole."""
    if out.is_dir() and not out.is_symlink():
        old = staged.parent / "replaced"
        os.replace(out, old)
    os.replace(staged, out)


def export_run(run_dir: Path, fmt: str, out: Path, width: int | None = None,
               overwrite: bool = False, log=print) -> dict:
    """Export a finished run and write OUT and OUT.json.

    Args:
        width: fixed input width; None for the format's default, 0 for any width.

    Returns:
        The JSON written beside the export.

    Raises:
        DataError: not a finished run, a bad width, an existing output, a missing converter,
            a failed conversion or check. Nothing is written then.
    """
    # Everything a user can get wrong is checked before TensorFlow is imported: its start-up
    # lines on stderr would bury the one-line error.
    spec = FORMATS[fmt]
    if spec.converter and importlib.util.find_spec(spec.converter) is None:
        raise DataError(f"{fmt} export needs the {spec.converter} package "
                        "(pip install -r requirements.txt)")
    from model.runs import read_net

    net = read_net(Path(run_dir))
    if width is None:
        width = LITERT_WIDTH if fmt == "litert" else 0
    if width and net.time_steps(width) < 1:
        least = next(w for w in range(1, net.width_factor + 1) if net.time_steps(w) >= 1)
        raise DataError(f"--width {width} is too narrow: the model needs at least "
                        f"{least} pixels for one time step")
    meta_out = sidecar_path(out)
    for existing in (out, meta_out):
        if (existing.exists() or existing.is_symlink()) and not overwrite:
            raise DataError(f"{existing} exists; give --overwrite to replace it")
    if out.is_dir() and not (fmt == "savedmodel" and (out / "saved_model.pb").is_file()):
        raise DataError(f"{out} is a directory, not a {fmt} export; choose another --out")
    from model.reading.calibration import load as load_calibrator
    from model.runs import load_run

    model, net, config = load_run(run_dir)
    calibrator = load_calibrator(Path(run_dir))
    shape = input_shape(fmt, net.height, width)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise DataError(f"cannot write to {out.parent}: {e.strerror}") from None
    try:
        staged = staging / spec.default_name  # Keras wants a .tflite name for LiteRT
        try:
            names = convert(model, fmt, shape, staged)
        except Exception as e:  # the converters raise many types, with long messages
            raise DataError(f"{fmt} export failed: {last_line(e)}") from None
        meta = describe(fmt, out, shape, names, Path(run_dir), config, net)
        if calibrator is not None:  # Reader.from_onnx applies it, as Reader does the run's
            meta["calibration"] = calibrator.to_dict()
        meta["check"] = check(model, fmt, staged, meta, net)
        if meta["check"] is None:
            log(f"warning: not checked against Keras: the {fmt} runtime is not installed")
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        publish(staged, out)
        os.replace(staging / "meta.json", meta_out)
    except OSError as e:
        raise DataError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta
