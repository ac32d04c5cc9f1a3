"""model.api: the Reader a Python program reads with, every input type, the same messages
as the command line, an export read without TensorFlow, and which model the commands use."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import SRC, untrained_run, without_tensorflow
from digits.errors import DataError
from model import Reader, Reading
from model.reading.images import ImageError

ROOT = SRC.parent
EXAMPLES = [ROOT / "example1.bmp", ROOT / "example2.bmp"]


@pytest.fixture(scope="module")
def shipped():
    return Reader()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Reader(untrained_run(tmp_path_factory.mktemp("run")))


def scan(text_width=90):
    """Dark strokes on light paper, (40, width) uint8."""
    paper = np.full((40, text_width), 228, np.uint8)
    for x in range(15, text_width - 15, 20):
        paper[8:32, x:x + 4] = 25
    return paper


def test_the_readme_example_runs_on_the_example_images(shipped, monkeypatch):
    monkeypatch.chdir(SRC)
    reading = shipped.read("../example1.bmp")
    assert isinstance(reading, Reading) and reading.text.isdigit()
    assert 0 < reading.confidence <= 1 and reading.alternatives[0][0] == reading.text
    readings = shipped.read(["../example1.bmp", "../example2.bmp"], min_length=5)
    assert [r.text for r in readings] == [shipped.read(p, min_length=5).text
                                          for p in EXAMPLES]
    assert all(len(r.text) >= 5 for r in readings)
    assert "models/mnist-crnn" in shipped.description.replace("\\", "/")


def test_a_list_returns_a_list_in_order_and_arrays_read_as_their_files(shipped):
    arrays = [np.asarray(Image.open(p)) for p in EXAMPLES]
    from_files = shipped.read(EXAMPLES)
    from_arrays = shipped.read(arrays)
    reversed_order = shipped.read(arrays[::-1])
    assert [r.text for r in from_arrays] == [r.text for r in from_files]
    assert [r.text for r in reversed_order] == [r.text for r in from_files][::-1]
    for one, other in zip(from_files, from_arrays, strict=True):
        assert one.confidence == pytest.approx(other.confidence)
        assert np.array_equal(one.image, other.image)


@pytest.mark.parametrize("form", ["str", "path", "bytes", "pil_l", "pil_rgb", "pil_rgba",
                                  "uint8_2d", "uint8_3d", "uint8_1ch", "float_2d",
                                  "float_rgb", "tuple"])
def test_every_input_type_reads_the_same(tiny, tmp_path, form):
    paper = scan()
    path = tmp_path / "n.png"
    Image.fromarray(paper).save(path)
    rgb = np.repeat(paper[:, :, None], 3, axis=2)
    forms = {
        "str": str(path), "path": path, "bytes": path.read_bytes(),
        "pil_l": Image.fromarray(paper), "pil_rgb": Image.fromarray(rgb),
        "pil_rgba": Image.fromarray(np.dstack([rgb, np.full(paper.shape, 255, np.uint8)])),
        "uint8_2d": paper, "uint8_3d": rgb, "uint8_1ch": paper[:, :, None],
        "float_2d": paper / 255.0, "float_rgb": rgb.astype(np.float32) / 255,
        "tuple": (path,),
    }
    reference = tiny.read(str(path), top_k=3)
    got = tiny.read(forms[form], top_k=3)
    got = got[0] if form == "tuple" else got
    assert got.text == reference.text and got.alternatives == reference.alternatives
    assert np.array_equal(got.image, reference.image)


def test_constraints_and_top_k_are_the_command_lines(tiny, tmp_path):
    paper = scan()
    for length in (2, 4, 7):
        assert len(tiny.read(paper, length=length).text) == length
    assert set(tiny.read(paper, allow="37").text) <= set("37")
    assert tiny.read(paper, pattern=r"9\d{2}").text.startswith("9")
    reading = tiny.read(paper, top_k=4, beam_width=8)
    assert len(reading.alternatives) == 4
    confidences = [c for _, c in reading.alternatives]
    assert confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("kwargs,message", [
    ({"pattern": "(12"}, "pattern"),
    ({"pattern": ""}, "--pattern is empty"),
    ({"length": 2, "min_length": 1}, "not both"),
    ({"allow": "x1"}, "allow"),
    ({"top_k": 0}, "top_k"),
    ({"top_k": 5, "beam_width": 3}, "top_k"),
    ({"beam_width": 1000}, "beam_width"),
])
def test_bad_options_raise_the_command_lines_message(tiny, kwargs, message):
    with pytest.raises(DataError, match=message):
        tiny.read(scan(), **kwargs)


@pytest.mark.parametrize("image,message", [
    (np.zeros((4, 5, 2), np.uint8), "expected an H x W"),
    (np.full((20, 20), 2.0), r"values in \[0, 1\]"),
    (np.zeros((20, 20), np.int64), "expected uint8"),
    (np.zeros((0, 20), np.uint8), "no pixels"),
    (b"not an image", "not an image"),
    ("missing.png", "cannot read missing.png"),
    (3.5, "expected a path, bytes"),
    (np.full((30, 60), 200, np.uint8), "no ink"),
])
def test_bad_images_raise_image_errors(tiny, image, message):
    with pytest.raises(ImageError, match=message):
        tiny.read(image)
    with pytest.raises(ImageError) as raised:  # in a list: its position or path is named
        tiny.read([scan(), image])
    assert ("missing.png" if isinstance(image, str) else "image 1") in str(raised.value)


def test_importing_model_imports_no_tensorflow():
    without_tensorflow("import model\nfrom model import Reader, Reading\n"
                       "from model.api import gray_from_array")


def test_an_onnx_export_reads_what_the_keras_model_reads(tiny, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from model.deploy.exporter import export_run

    export_run(tiny.run, "onnx", tmp_path / "model.onnx", log=lambda m: None)
    exported = Reader.from_onnx(tmp_path / "model.onnx")
    images = [scan(60), scan(90), scan(150)]
    keras_readings = tiny.read(images, top_k=3)
    onnx_readings = exported.read(images, top_k=3)
    assert [r.text for r in onnx_readings] == [r.text for r in keras_readings]
    for a, b in zip(onnx_readings, keras_readings, strict=True):
        assert [t for t, _ in a.alternatives] == [t for t, _ in b.alternatives]
        assert a.confidence == pytest.approx(b.confidence, rel=1e-3)
    without_tensorflow("from model import Reader\n"
                       f"r = Reader.from_onnx({str(tmp_path / 'model.onnx')!r})\n"
                       "import numpy as np\n"
                       "p = np.full((40, 90), 228, np.uint8); p[8:32, 20:24] = 25\n"
                       "print(r.read(p).text)")


def test_the_commands_use_the_shipped_model_and_say_so(tmp_path, monkeypatch, capsys):
    import model.runs as runs
    from model.read import main

    run = tmp_path / "runs" / "mine"  # a newer run under runs/: not taken by default
    run.mkdir(parents=True)
    untrained_run(run)
    (run / "metrics.json").write_text("{}")
    monkeypatch.setattr(runs, "RUNS_DIR", tmp_path / "runs")
    status = main([str(EXAMPLES[0])])
    captured = capsys.readouterr()
    assert status == 0
    assert "models/mnist-crnn" in captured.err.replace("\\", "/")
    assert "trained on" in captured.err
    status = main([str(EXAMPLES[0]), "--run", "latest", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0 and captured.err == ""
    status = main([str(EXAMPLES[0]), "--run", "latest"])
    assert str(run) in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["net"]
