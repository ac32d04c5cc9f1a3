"""The pictures of a run: each is a real PNG, and the graph falls back to .dot."""

import csv
import shutil

import pytest
from PIL import Image

import model.evaluation.plots as plots
from model.network import NetConfig, build_model

TINY = NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,))


def test_summary_image_is_not_clipped(tmp_path):
    model = build_model(TINY)
    text = plots.summary_text(model)
    assert "Param #" in text and "Total params" in text
    plots.plot_summary(model, tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").format == "PNG"


def test_graph_is_a_png_with_graphviz(tmp_path):
    if shutil.which("dot") is None:  # scripts/setup.sh installs it, so CI never skips
        pytest.skip("Graphviz's dot is not installed")
    message = plots.plot_graph(build_model(TINY), tmp_path / "g.png")
    assert message == f"wrote {tmp_path / 'g.png'}"
    assert Image.open(tmp_path / "g.png").format == "PNG"
    assert not (tmp_path / "g.dot").exists()


def test_without_graphviz_the_graph_is_a_dot_with_a_hint(tmp_path, monkeypatch):
    model = build_model(TINY)
    import keras

    def no_graphviz(*args, **kwargs):
        raise ImportError("You must install pydot and graphviz")

    monkeypatch.setattr(keras.utils, "model_to_dot", no_graphviz)
    message = plots.plot_graph(model, tmp_path / "h.png")
    assert "dot -Tpng" in message and not (tmp_path / "h.png").exists()
    text = (tmp_path / "h.dot").read_text()
    assert '"conv1" -> "bn1"' in text and text.startswith("digraph")


def test_curves_and_samples(tmp_path):
    history = tmp_path / "history.csv"
    with open(history, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "val_loss", "val_exact", "val_cer"])
        for e in range(3):
            w.writerow([e, 3 - e, 3.5 - e, 0.3 * e, 0.3 - 0.1 * e])
    plots.plot_curves(history, tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").format == "PNG"
    image = tmp_path / "x.png"
    Image.new("L", (60, 28)).save(image)
    plots.plot_samples([str(image)] * 3, ["12", "34", "5"], ["12", "35", "5"], ["12", "34", "6"],
                       tmp_path / "samples.png")
    assert Image.open(tmp_path / "samples.png").format == "PNG"
    assert not list(tmp_path.glob(".*partial*"))  # written via a temporary, then renamed
