"""digits.battery: the renderings battery's layout, labels, determinism, each rendering, its
errors; and bench/battery.py's reading of one with the shipped model."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import bench_module, without_tensorflow
from digits import battery
from digits.battery import KINDS, direct_folder, main, read_renderings, render_battery

ROOT = Path(__file__).resolve().parents[1]
COUNT = 24  # > len(EXTRAS) and a multiple of 3: every kind, every polarity 8 times
SEED = 11


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A battery of COUNT images from the embedded digits, and its settings."""
    out = tmp_path_factory.mktemp("battery") / "b"
    settings = render_battery(out, COUNT, SEED, source="embedded")
    return out, settings


def rows(root: Path) -> list[dict]:
    with open(root / "renderings.csv", newline="") as f:
        return list(csv.DictReader(f))


def ink(root: Path, row: dict) -> np.ndarray:
    """The rendered image as ink strength, float: 0 on the paper, up to 255."""
    gray = np.asarray(Image.open(root / row["file_name"]).convert("L"), np.float32)
    polarity = row["rendering"].split("+")[0]
    if polarity == "white":
        return gray
    if polarity == "inverted":
        return 255 - gray
    return np.median(gray) - gray  # paper: the median pixel is paper, ink is darker


def with_kind(root: Path, kind: str, without: tuple = ()) -> list[dict]:
    found = [r for r in rows(root) if kind in r["rendering"].split("+")
             and not set(without) & set(r["rendering"].split("+"))]
    assert found, f"no {kind} rendering without {without}"
    return found


def longest_run(mask: np.ndarray) -> int:
    """The longest run of True along the last axis, over all rows."""
    best = 0
    for line in mask:
        run = 0
        for v in line:
            run = run + 1 if v else 0
            best = max(best, run)
    return best


def test_layout_and_labels(made):
    from digits.blocks import compose_block, split_pools
    from digits.sources import load_mnist
    from model.reading.folder import find_folder, read_folder

    out, settings = made
    folder = read_folder(out)
    direct = read_folder(direct_folder(out))
    assert len(folder) == len(direct) == COUNT
    assert folder.texts == direct.texts
    assert folder.names == [f"images/{i:05d}{Path(n).suffix}" for i, n in enumerate(folder.names)]
    assert all(1 <= len(t) <= 6 for t in folder.texts)
    assert find_folder(str(out)) == out  # a labelled folder, not a generated dataset
    assert not (out / "manifest.json").exists()
    assert set(read_renderings(out)) == set(folder.names)
    assert sorted(p.name for p in out.iterdir()) == ["battery.json", "direct", "images",
                                                     "labels.csv", "renderings.csv"]
    # direct/ holds the generator's test-split composition, untouched.
    pool = split_pools(load_mnist("embedded"))["test"]
    chunk = compose_block(pool, "test", 0, COUNT, battery.COMPOSE, SEED)
    assert chunk.texts == direct.texts
    for image, file in zip(chunk.images, direct.files, strict=True):
        assert np.array_equal(np.asarray(Image.open(file)), image)
        assert image.shape[0] == 28
    saved = json.loads((out / "battery.json").read_text())
    assert saved == settings
    assert (saved["count"], saved["seed"], saved["source"]["name"]) == (COUNT, SEED, "embedded")
    assert saved["source"]["test_digits"] == 1000  # the embedded test split only
    assert sum(saved["renderings"].values()) == COUNT


def test_same_seed_same_bytes(made, tmp_path):
    out, _ = made
    again = tmp_path / "again"
    render_battery(again, COUNT, SEED, source="embedded")
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (out / f).read_bytes() == (again / f).read_bytes(), f
    other = tmp_path / "other"
    render_battery(other, COUNT, SEED + 1, source="embedded")
    assert (other / "labels.csv").read_bytes() != (out / "labels.csv").read_bytes()


def test_every_kind_appears(made):
    out, _ = made
    seen = {k for r in rows(out) for k in r["rendering"].split("+")}
    assert seen == set(KINDS)
    combined = [r for r in rows(out) if len(r["rendering"].split("+")) >= 2]
    assert len(combined) > COUNT * 0.8  # most: a polarity plus one or two others


def test_sizes(made):
    out, _ = made
    heights = [int(r["height"]) for r in rows(out)]
    assert all(20 <= h <= 300 for h in heights)
    assert max(heights) > 2 * min(heights)  # drawn, not fixed
    for r in rows(out):
        if not {"frame", "rule", "margins", "rotate"} & set(r["rendering"].split("+")):
            assert Image.open(out / r["file_name"]).height == int(r["height"])


def test_polarities(made):
    out, _ = made
    for r in rows(out):
        gray = np.asarray(Image.open(out / r["file_name"]).convert("L"))
        background = np.median(gray) if "tight" not in r["rendering"] else None
        polarity = r["rendering"].split("+")[0]
        if background is None:
            continue
        if polarity == "white":
            assert background < 40
        elif polarity == "inverted":
            assert background > 215  # a light background
        else:
            assert 160 <= background <= 250
            assert gray.min() < background - 60  # dark ink on it


def test_tight_crops_touch_every_edge(made):
    out, _ = made
    for r in with_kind(out, "tight"):
        a = ink(out, r)
        top = a.max()
        for edge in (a[:, 0], a[:, -1], a[0], a[-1]):
            assert edge.max() > 0.3 * top, r


def test_wide_margins(made):
    out, _ = made
    for r in with_kind(out, "margins", without=("rotate",)):
        a = ink(out, r)
        h = int(r["height"])
        rim = int(0.45 * h)
        assert a.shape[0] > 2 * h and a.shape[1] > 2 * h
        for side in (a[:rim], a[-rim:], a[:, :rim], a[:, -rim:]):
            assert side.max() < 60, r  # paper (and its grain) only
    for r in with_kind(out, "margins"):
        assert min(Image.open(out / r["file_name"]).size) > 2 * int(r["height"])


def test_jpeg_files_are_jpegs(made):
    out, _ = made
    for r in rows(out):
        kind = Image.open(out / r["file_name"]).format
        if "jpeg" in r["rendering"].split("+"):
            assert r["file_name"].endswith(".jpg") and kind == "JPEG"
            assert (out / r["file_name"]).read_bytes()[:2] == b"\xff\xd8"
        else:
            assert r["file_name"].endswith(".png") and kind == "PNG"
            assert Image.open(out / r["file_name"]).mode == "L"


@pytest.mark.parametrize("kind", ["frame", "rule"])
def test_frames_and_rules_are_long_straight_lines(made, kind):
    out, _ = made
    for r in with_kind(out, kind, without=("rotate",)):
        a = ink(out, r) > 100
        assert longest_run(a) >= 0.8 * a.shape[1], r  # a row of ink across the number
        if kind == "frame":
            assert longest_run(a.T) >= 0.8 * a.shape[0], r  # and its sides


def test_rotation_turns_the_canvas(made):
    out, _ = made
    for r in with_kind(out, "rotate"):
        a = ink(out, r)
        assert a.shape[0] > int(r["height"])  # the canvas grew to hold the turned number
        corners = (a[:2, :2], a[:2, -2:], a[-2:, :2], a[-2:, -2:])
        assert all(c.max() < 60 for c in corners)  # paper fills them


def test_cli_writes_without_tensorflow(tmp_path):
    out = tmp_path / "b"
    without_tensorflow(f"from digits.battery import main\n"
                       f"assert main(['--out', {str(out)!r}, '--count', '3', "
                       f"'--source', 'embedded']) == 0")
    assert len(list((out / "images").iterdir())) == 3


@pytest.mark.parametrize("count", ["0", "-2", "x"])
def test_bad_count_is_a_usage_error(tmp_path, capsys, count):
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "b"), "--count", count, "--source", "embedded"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--count" in err
    assert not (tmp_path / "b").exists()


def test_existing_folder_is_kept(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["--out", str(out), "--count", "3", "--source", "embedded"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--overwrite" in err
    # --overwrite replaces only a battery: this folder is something else.
    assert main(["--out", str(out), "--count", "3", "--source", "embedded",
                 "--overwrite"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing half-written


def test_overwrite_replaces_a_battery(tmp_path):
    out = tmp_path / "b"
    assert main(["--out", str(out), "--count", "4", "--source", "embedded"]) == 0
    assert main(["--out", str(out), "--count", "2", "--source", "embedded",
                 "--overwrite"]) == 0
    assert len(list((out / "images").iterdir())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_failure_leaves_nothing(tmp_path, monkeypatch, capsys):
    calls = []

    def broken(direct, rendering, rng):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        return b"x", ".png"

    monkeypatch.setattr(battery, "render", broken)
    assert main(["--out", str(tmp_path / "b"), "--count", "5", "--source", "embedded"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"error: cannot write {tmp_path / 'b'}: No space left on device"]
    assert list(tmp_path.iterdir()) == []


def test_bench_reads_both_paths(made):
    """bench/battery.py's reading with the shipped model on 12 images: it runs and gives
    accuracies for both paths (how good they are is bench/battery.py's to measure)."""
    out, _ = made
    bench = bench_module("battery")
    from model.api import Reader

    model = Reader(ROOT / "models" / "mnist-crnn")
    read = bench.read_battery(model, model.net, out, limit=12)
    assert all(len(read[p]["texts"]) == 12 for p in bench.PATHS)
    results = bench.table(read)
    for path in bench.PATHS:
        assert 0 <= results["overall"][path]["exact"] <= 1
        assert results["overall"][path]["images"] == 12


@pytest.mark.parametrize("half", [None, "tune"])
def test_bench_real_reads_a_folder_whole_or_one_half(made, half, tmp_path, capsys):
    """bench/real.py on the battery as a labelled folder (images/ + labels.csv): whole, it
    scores every half; with --half it scores that half alone, and its confidence table and
    plot come from that half."""
    out, _ = made
    args = [str(ROOT / "models" / "mnist-crnn"), str(out), "--limit", "16",
            "--json", str(tmp_path / "r.json"), "--plots", str(tmp_path / "plots")]
    assert bench_module("real").main(args + (["--half", half] if half else [])) == 0
    entry = json.loads((tmp_path / "r.json").read_text())["folders"][out.name]
    sides = [s for s in ("tune", "report") if s in entry]
    assert sides == ([half] if half else ["tune", "report"])
    assert ("confidence" in entry) == (half is None)
    assert sum(entry[s]["images"] for s in sides) == entry["images"]
    # Each misread image by name and half: as many as the beam's exact score leaves.
    for side in sides:
        misread = [m for m in entry["misread"] if m["half"] == side]
        assert len(misread) == round(entry[side]["images"] * (1 - entry[side]["beam"]["exact"]))
        assert all(m["text"] != m["beam"] for m in misread)
        # The error kinds count the same misread images, each once.
        assert entry[side]["errors"]["misread"] == len(misread)
        assert sum(entry[side]["errors"]["kinds"].values()) == len(misread)
    printed = capsys.readouterr().out
    table = printed.split("confidence (beam)")[1].split("errors (beam)")[0]
    assert f"{out.name:<18}{half or 'report':<8}" in table
    errors = printed.split("errors (beam)")[1]
    for side in sides:
        assert f"{out.name:<18}{side:<8}{entry[side]['errors']['misread']:>8}" in errors
    assert (tmp_path / "plots" / f"confidence_{out.name}.png").is_file()


def test_bench_real_reads_a_battery_both_ways(made, tmp_path, capsys, monkeypatch):
    """bench/real.py --battery: the battery read through the default path and directly,
    with each path's error kinds counting its misread images."""
    out, _ = made
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # real.py imports battery.py late
    args = [str(ROOT / "models" / "mnist-crnn"), str(out), "--limit", "8", "--half", "tune",
            "--battery", str(out), "--json", str(tmp_path / "r.json")]
    assert bench_module("real").main(args) == 0
    battery = json.loads((tmp_path / "r.json").read_text())["battery"]
    errors = capsys.readouterr().out.split("errors (beam)")[-1]
    for path in ("default", "direct"):
        exact = battery["overall"][path]["exact"]
        assert battery["errors"][path]["misread"] == round(8 * (1 - exact))
        assert f"{'battery':<18}{path:<8}{battery['errors'][path]['misread']:>8}" in errors


def test_invariance_changes_do_what_they_say():
    """bench/invariance.py's changes: a stretch scales the width, a slant leans the tops
    right (positive) or left and keeps all the ink, a weight thickens or thins strokes, a waist
    move shifts the middle row up (positive) or down and holds the top and bottom."""
    bench = bench_module("invariance")
    image = np.zeros((28, 30), np.uint8)
    image[4:24, 12:15] = 255  # a vertical bar
    assert bench.stretch(image, 1.3).shape == (28, 39)
    assert bench.stretch(image, 0.77).shape == (28, 23)
    for shear in (0.3, -0.3):
        leaned = bench.slant(image, shear)
        assert leaned.shape == (28, 30 + 9)
        top, bottom = (np.average(np.arange(39), weights=leaned[r]) for r in (5, 22))
        assert np.sign(top - bottom) == np.sign(shear) and abs(top - bottom) > 3
        assert leaned.sum() == pytest.approx(image.sum(), rel=0.02)
    np.testing.assert_array_equal(bench.slant(image, 0.0), image)
    assert (bench.weight(image, 0.5) > 0).sum() > (image > 0).sum()
    assert (bench.weight(image, -0.5) > 127).sum() < (image > 127).sum()
    barred = np.zeros((28, 30), np.uint8)
    barred[0, :] = barred[27, :] = 255  # the held rows
    barred[14, :] = 255  # a bar half a row below the middle
    for amount in (0.25, -0.25):
        moved = bench.waist(barred, amount)
        assert moved.shape == barred.shape and moved[0].min() == moved[27].min() == 255
        bar = 2 + int(moved[2:26, 15].argmax())  # clear of the held rows' neighbours
        assert np.sign(14 - bar) == np.sign(amount) and abs(14 - bar) >= 2
    np.testing.assert_array_equal(bench.waist(barred, 0.0), barred)


def test_bench_invariance_reads_a_folder_each_change(made, tmp_path):
    """bench/invariance.py on the battery as a labelled folder: one score per value of each
    change, and "any" at least the best of them and the unchanged reading."""
    out, _ = made
    args = [str(ROOT / "models" / "mnist-crnn"), str(out), "--limit", "8", "--stretch",
            "0.8,1.2", "--slant", "0.2", "--weight", "", "--waist", "",
            "--json", str(tmp_path / "i.json")]
    assert bench_module("invariance").main(args) == 0
    entry = json.loads((tmp_path / "i.json").read_text())["folders"][out.name]
    assert set(entry["changes"]) == {"stretch", "slant"}
    assert set(entry["changes"]["stretch"]["values"]) == {"0.8", "1.2"}
    for change in entry["changes"].values():
        assert change["any"] >= max([entry["none"], *change["values"].values()])


def test_read_all_beam_only_reads_as_the_full_call(made):
    """bench/real.py's read_all with only=("beam",): the same beam readings and signals as
    with every decoding, and no other decoding run."""
    from model.api import Reader
    from model.decoding.constraints import Constraint

    real = bench_module("real")
    out, _ = made
    model = Reader(ROOT / "models" / "mnist-crnn", 4)
    rows = real.load_folder(out, 6)
    images, _ = real.prepare_all(rows, model.net.height, False)
    everything, signals = real.read_all(model, model.net, images, Constraint(), 4)
    beam, beam_signals = real.read_all(model, model.net, images, None, 4, only=("beam",))
    assert set(everything) == set(real.METHODS) and set(beam) == {"beam"}
    assert beam["beam"] == everything["beam"]
    np.testing.assert_array_equal(beam_signals, signals)
