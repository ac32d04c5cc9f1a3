"""model.deploy.runtime: running an export without TensorFlow, and what it refuses to run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SRC, sequences, untrained_run
from digits.errors import DataError
from model.deploy.exporter import export_run
from model.deploy.runtime import load_exported, sidecar_path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """An untrained tiny run exported in every format, name -> path: what the runtime does
    with an export does not depend on what its weights say."""
    run = untrained_run(tmp_path_factory.mktemp("run"))
    out = tmp_path_factory.mktemp("exports")
    made = {"onnx": ("onnx", None), "litert": ("litert", None),
            "litert_any_width": ("litert", 0), "savedmodel": ("savedmodel", None)}
    paths = {}
    for name, (fmt, width) in made.items():
        paths[name] = out / name
        export_run(run, fmt, paths[name], width=width, log=lambda message: None)
    return paths


@pytest.fixture(scope="module")
def images():
    """Six composed sequences of different widths, (28, w) uint8, as the model takes them."""
    return sequences()[0]


def test_the_json_lies_beside_the_export():
    assert sidecar_path(Path("runs/a/model.onnx")) == Path("runs/a/model.onnx.json")
    assert sidecar_path("exports/sm") == Path("exports/sm.json")  # a SavedModel directory


def test_runtime_reads_without_tensorflow(exports, images, tmp_path):
    pytest.importorskip("ai_edge_litert")
    np.savez(tmp_path / "images.npz", *images)
    code = (
        "import json, sys\nimport numpy as np\nfrom model.deploy.runtime import load_exported\n"
        f"images = list(np.load({str(tmp_path / 'images.npz')!r}).values())\n"
        "out = {}\n"
        "for path in sys.argv[1:]:\n"
        "    out[path] = [[row[0].text, row[0].score]\n"
        "                 for row in load_exported(path).read(images)]\n"
        "assert not {'tensorflow', 'keras'} & set(sys.modules), sys.modules.keys()\n"
        "print(json.dumps(out))\n")
    paths = [str(exports[name]) for name in ("onnx", "litert", "litert_any_width")]
    done = subprocess.run([sys.executable, "-c", code, *paths], cwd=SRC, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    for path in paths:
        same = [row[0] for row in load_exported(path, threads=1).read(images)]
        assert [text for text, _ in read[path]] == [r.text for r in same]
        np.testing.assert_allclose([score for _, score in read[path]],
                                   [r.score for r in same], atol=1e-5)


def test_runtime_refuses_what_it_cannot_run(exports, tmp_path):
    with pytest.raises(DataError, match="no exported model"):
        load_exported(exports["savedmodel"])  # a directory
    pb = tmp_path / "sm.pb"
    pb.write_bytes((exports["savedmodel"] / "saved_model.pb").read_bytes())
    sidecar_path(pb).write_text(sidecar_path(exports["savedmodel"]).read_text())
    with pytest.raises(DataError, match="savedmodel export"):
        load_exported(pb)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(exports["onnx"].read_bytes())
    with pytest.raises(DataError, match="missing or unreadable"):
        load_exported(lone)
    pytest.importorskip("ai_edge_litert")
    exported = load_exported(exports["litert"])
    wide = np.zeros((28, exported.width + 1), np.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        exported.read([wide])
    with pytest.raises(ValueError, match="28 pixels high"):
        exported.read([np.zeros((20, 30), np.uint8)])


def test_time_steps_follow_the_strided_first_convolution(exports, tmp_path):
    import shutil

    from model.network import NetConfig

    net = NetConfig(conv_filters=(4, 8, 8), dense=16, gru_units=(8,))  # untrained_run's
    exported = load_exported(exports["onnx"])
    for width in (28, 29, 61, 139, 140, 141):
        assert exported.time_steps(width) == net.time_steps(width)
        logits = exported.logits(np.zeros((1, 28, width, 1), np.float32))
        assert logits.shape[1] == net.time_steps(width)
    # An export made before the stride existed has no column_stride: stride 1, as the
    # network of the time had (its pools were 2x2, 2x2, 2x1).
    old = tmp_path / "old.onnx"
    shutil.copyfile(exports["onnx"], old)
    meta = json.loads(sidecar_path(exports["onnx"]).read_text())
    del meta["time_steps"]["column_stride"]
    meta["time_steps"]["column_pools"] = [2, 2, 1]
    sidecar_path(old).write_text(json.dumps(meta))
    assert load_exported(old).time_steps(141) == 35
