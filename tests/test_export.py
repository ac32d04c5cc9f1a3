"""model.export and model.deploy.exporter: each format's logits and readings equal the Keras
model's, the JSON beside each export, and every bad input of the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import model.deploy.exporter as export_module
from conftest import SRC, help_without_tensorflow, tiny_dataset_at
from model.decoding import decode
from model.deploy.runtime import load_exported, sidecar_path
from model.export import main
from model.runs import load_run

TOLERANCE = 1e-4  # what the README promises: |exported - Keras| per logit


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset_at(tmp_path_factory.mktemp("data") / "tiny", 4, (64, 16, 16), 3)


@pytest.fixture(scope="module")
def run_dir(dataset, tmp_path_factory):
    """A finished run as model.icr leaves it, trained with --preset tiny."""
    from model.icr import main as icr

    root = tmp_path_factory.mktemp("runs") / "tiny"
    assert icr([str(dataset), "--preset", "tiny", "--run-dir", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def keras_run(run_dir):
    return load_run(run_dir)[:2]


@pytest.fixture(scope="module")
def images(dataset):
    """Six test images of different widths, (28, w) uint8, as the model takes them."""
    paths = sorted((dataset / "test" / "images").iterdir())[:6]
    found = [np.asarray(Image.open(p)) for p in paths]
    assert len({im.shape[1] for im in found}) > 1
    return found


@pytest.fixture(scope="module")
def exports(run_dir, tmp_path_factory):
    """Every format, exported once through the CLI: name -> path."""
    out = tmp_path_factory.mktemp("exports")
    made = {"onnx": ("onnx", []), "litert": ("litert", []),
            "litert_any_width": ("litert", ["--width", "0"]),
            "savedmodel": ("savedmodel", [])}
    paths = {}
    for name, (fmt, extra) in made.items():
        paths[name] = out / name
        assert main([str(run_dir), "--format", fmt, "--out", str(paths[name]), *extra]) == 0
    return paths


def padded(images, width=None):
    widest = width or max(im.shape[1] for im in images)
    batch = np.zeros((len(images), images[0].shape[0], widest, 1), np.float32)
    for row, im in zip(batch, images, strict=True):
        row[:, : im.shape[1], 0] = im
    return batch


def keras_readings(keras_run, images, width=None):
    """The Keras model's logits on the padded batch, and its readings by keras.ops.ctc_decode
    and by the numpy decoder (model.decoding's two engines), each image decoded over its own
    time steps."""
    model, net = keras_run
    logits = np.asarray(model(padded(images, width), training=False))
    lengths = [net.time_steps(im.shape[1]) for im in images]
    readings = {}
    for method, top in (("greedy", 1), ("beam", 3)):
        theirs = decode(logits, lengths, method, top_paths=top, engine="tf")
        ours = decode(logits, lengths, method, top_paths=top)
        assert texts(ours) == texts(theirs)
        readings[method] = ours
    return logits, readings


def texts(readings):
    return [[r.text for r in row] for row in readings]


def assert_same_readings(exported, keras_run, images, width=None):
    logits, readings = keras_readings(keras_run, images, width)
    got = exported.logits(padded(images, width))
    assert got.shape == logits.shape
    assert np.max(np.abs(got - logits)) <= TOLERANCE
    for method, top in (("greedy", 1), ("beam", 3)):
        found = exported.read(images, method, top_paths=top)
        assert texts(found) == texts(readings[method])
        np.testing.assert_allclose([r.score for row in found for r in row],
                                   [r.score for row in readings[method] for r in row],
                                   atol=1e-3)


def test_onnx_equals_keras_at_any_batch_and_width(exports, keras_run, images):
    exported = load_exported(exports["onnx"])
    assert exported.width is None and exported.meta["input"]["batch"] is None
    assert_same_readings(exported, keras_run, images)  # a batch of 6
    assert_same_readings(exported, keras_run, images[:1])  # one image at its own width


def test_onnx_graph_names_its_free_axes(exports):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exports["onnx"]))
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape) == ("image", ["batch", 28, "width", 1])
    assert (out.name, out.shape) == ("logits", ["batch", "steps", 11])


def test_litert_equals_keras_at_its_fixed_width(exports, keras_run, images):
    pytest.importorskip("ai_edge_litert")
    exported = load_exported(exports["litert"])
    assert exported.width == export_module.LITERT_WIDTH
    assert exported.meta["input"]["shape"] == [1, 28, export_module.LITERT_WIDTH, 1]
    assert_same_readings(exported, keras_run, images, width=exported.width)
    # Builtin ops only: a Flex op would need TensorFlow's delegate.
    assert b"Flex" not in exports["litert"].read_bytes()


def test_litert_with_any_width(exports, keras_run, images):
    pytest.importorskip("ai_edge_litert")
    exported = load_exported(exports["litert_any_width"])
    assert exported.width is None and exported.meta["input"]["shape"] == [1, 28, None, 1]
    assert_same_readings(exported, keras_run, images)
    assert_same_readings(exported, keras_run, images[-1:])


def test_savedmodel_equals_keras_at_any_batch_and_width(exports, keras_run, images):
    import tensorflow as tf

    meta = json.loads(sidecar_path(exports["savedmodel"]).read_text())
    serve = tf.saved_model.load(str(exports["savedmodel"])).signatures[
        meta["output"]["signature"]]
    for chunk in (images, images[:1]):
        logits, readings = keras_readings(keras_run, chunk)
        got = serve(**{meta["input"]["name"]: padded(chunk)})[meta["output"]["name"]].numpy()
        assert np.max(np.abs(got - logits)) <= TOLERANCE
        lengths = [keras_run[1].time_steps(im.shape[1]) for im in chunk]
        assert texts(decode(got, lengths, "beam", top_paths=3)) == texts(readings["beam"])


def test_each_export_describes_itself(exports, run_dir):
    for name, path in exports.items():
        meta = json.loads(sidecar_path(path).read_text())
        assert meta["file"] == name and meta["schema_version"] == 1
        assert meta["vocabulary"]["classes"] == ["<blank>", *"0123456789"]
        assert meta["vocabulary"]["blank"] == 0
        inp = meta["input"]
        assert (inp["height"], inp["dtype"], inp["layout"]) == (28, "float32", "NHWC")
        assert "0..255" in inp["pixels"] and "white ink" in inp["pixels"]
        assert meta["time_steps"]["column_stride"] == 2
        assert meta["time_steps"]["column_pools"] == [2, 1, 1]
        assert meta["run"]["dir"] == str(run_dir.resolve())
        assert meta["run"]["test_exact"]["greedy"] is not None
        assert meta["check"]["max_abs_diff"] <= meta["check"]["tolerance"] == TOLERANCE
    litert = json.loads(sidecar_path(exports["litert"]).read_text())
    assert litert["output"]["shape"] == [1, export_module.LITERT_WIDTH // 4, 11]


def run_cli(args, capsys):
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors: exit 2
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


def listing(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


def not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    return [tmp_path / "empty"]


def broken_config(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"")
    (tmp_path / "run" / "config.json").write_text("{broken")
    return [tmp_path / "run"]


def onnx_dir_out(tmp_path):
    (tmp_path / "taken").mkdir()
    return ["--out", tmp_path / "taken", "--overwrite"]


def parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    return ["--out", tmp_path / "file" / "model.onnx"]


def existing_output(tmp_path):
    (tmp_path / "model.onnx").write_text("keep me")
    return ["--out", tmp_path / "model.onnx"]


BAD = {
    "no run dir": (lambda t: [t / "nope"], "does not exist"),
    "not a finished run": (not_a_model, "no model.keras"),
    "unreadable config": (broken_config, "unreadable"),
    "width negative": (lambda t: ["--width", "-1"], "--width"),
    "width too narrow": (lambda t: ["--width", "2"], "at least 3 pixels"),
    "out is a directory": (onnx_dir_out, "is a directory"),
    "out's parent is a file": (parent_is_a_file, "cannot write"),
    "output exists": (existing_output, "--overwrite"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_are_one_line_errors(case, run_dir, tmp_path, capsys):
    make, needle = BAD[case]
    args = make(tmp_path)
    if not args or str(args[0]).startswith("--"):
        args = [run_dir, *args]
    before = listing(tmp_path), listing(run_dir)
    status, out, err = run_cli([args[0], "--format", "onnx", *args[1:]], capsys)
    assert status == 2 and out == ""
    assert err.startswith("error:") and needle in err and len(err.strip().splitlines()) == 1
    assert (listing(tmp_path), listing(run_dir)) == before
    if case == "output exists":
        assert (tmp_path / "model.onnx").read_text() == "keep me"


def test_a_bad_run_dir_is_one_line_from_a_fresh_process(tmp_path):
    # Checked before TensorFlow is imported, whose start-up lines would come first.
    done = subprocess.run([sys.executable, "-m", "model.export", str(tmp_path), "--format",
                           "litert"], cwd=SRC, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: {tmp_path} has no model.keras (not a finished run)\n"


@pytest.mark.parametrize("args", [["--format", "pdf"], []])
def test_unknown_or_missing_format_is_a_usage_error(args, run_dir, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(run_dir), *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "--format" in err


def test_missing_converter_package(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    status, _, err = run_cli([run_dir, "--format", "onnx", "--out", tmp_path / "m.onnx"], capsys)
    assert status == 2 and "needs the tf2onnx package" in err and "Traceback" not in err
    assert listing(tmp_path) == set()


def test_a_failed_conversion_leaves_nothing(run_dir, tmp_path, capsys, monkeypatch):
    def explode(model, fmt, shape, path):
        path.write_bytes(b"half a model")
        raise RuntimeError("converter trace\n  many lines\nthe real cause")

    monkeypatch.setattr(export_module, "convert", explode)
    status, _, err = run_cli([run_dir, "--format", "onnx", "--out", tmp_path / "m.onnx"], capsys)
    assert status == 2 and err.strip() == "error: onnx export failed: the real cause"
    assert listing(tmp_path) == set()


def test_overwrite_swaps_a_savedmodel_whole_and_a_failed_check_keeps_the_old(
        run_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sm"
    for _ in range(2):  # the second one replaces the first
        status, stdout, err = run_cli([run_dir, "--format", "savedmodel", "--out", out,
                                       "--overwrite"], capsys)
        assert status == 0, err
    assert listing(tmp_path) == {Path("sm"), Path("sm.json"),
                                 *(Path("sm") / p for p in listing(out))}
    assert (out / "saved_model.pb").is_file() and "within" in stdout
    before = (out / "saved_model.pb").read_bytes(), (tmp_path / "sm.json").read_text()

    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no export can pass
    status, _, err = run_cli([run_dir, "--format", "savedmodel", "--out", out, "--overwrite"],
                             capsys)
    assert status == 2 and "differ from the Keras model's" in err
    assert ((out / "saved_model.pb").read_bytes(), (tmp_path / "sm.json").read_text()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_help_imports_no_tensorflow():
    assert "--format" in help_without_tensorflow("model.export")
