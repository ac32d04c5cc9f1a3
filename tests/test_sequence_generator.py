"""The generator's command line: end to end, and every bad input as a one-line error."""

import gzip

import numpy as np
import pytest
from PIL import Image

from conftest import fake_mnist, help_without_tensorflow, run_main
from digits.sequence_generator import main

TINY = ["--count-train", "30", "--count-val", "10", "--count-test", "10", "--workers", "1"]


@pytest.fixture
def npz(tmp_path):
    m = fake_mnist()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=m.x_train, y_train=m.y_train, x_test=m.x_test, y_test=m.y_test)
    return path


def run(argv, capsys):
    status, _, err = run_main(main, argv, capsys)
    return status, err


def test_writes_a_dataset_and_examples(tmp_path, npz, capsys):
    out = tmp_path / "ds"
    status, err = run(["--source", "file", "--mnist", npz, "--out", out, "--min-length", "2",
                       "--max-length", "4", "--examples", tmp_path / "ex", *TINY], capsys)
    assert status == 0, err
    assert "MNIST: file" in err
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test", "train", "val"]
    assert len(list((out / "train" / "images").glob("*.png"))) == 30
    for name in ("example1.bmp", "example2.bmp"):
        image = Image.open(tmp_path / "ex" / name)
        assert image.format == "BMP" and image.height == 28


def test_embedded_source_end_to_end(tmp_path, capsys):
    out = tmp_path / "ds"
    status, err = run(["--source", "embedded", "--out", out, *TINY], capsys)
    assert status == 0, err
    assert "embedded" in err
    assert (out / "manifest.json").is_file()


def corrupt_gzip_idx(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        data = bytearray(gzip.compress(b"\x00\x00\x08\x03" + bytes(100)))
        data[20:30] = b"garbage!!!"
        (folder / (name + ".gz")).write_bytes(bytes(data))
    return folder


def wrong_magic_idx(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"\x00\x00\x08\x99" + bytes(16))
    return folder


def bad_npz(tmp_path, **arrays):
    m = fake_mnist()
    full = dict(x_train=m.x_train, y_train=m.y_train, x_test=m.x_test, y_test=m.y_test)
    full.update(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in full.items() if v is not None})
    return path


def truncated_npz(tmp_path):
    good = bad_npz(tmp_path)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    return good


def a_file(tmp_path):
    path = tmp_path / "plain-file"
    path.write_text("x")
    return path


BAD = {
    "unknown source": (lambda t: ["--source", "cloud"], "unknown --source"),
    "missing file": (lambda t: ["--source", "file", "--mnist", t / "nope.npz"], "nope.npz"),
    "file without path": (lambda t: ["--source", "file"], "--mnist"),
    "truncated npz": (lambda t: ["--mnist", truncated_npz(t)], "bad.npz"),
    "missing key": (lambda t: ["--mnist", bad_npz(t, y_test=None)], "y_test"),
    "wrong shape": (lambda t: ["--mnist", bad_npz(t, x_train=np.zeros((5, 28, 27), np.uint8),
                                                  y_train=np.zeros(5, np.uint8))], "shape"),
    "wrong dtype": (lambda t: ["--mnist", bad_npz(t, x_test=np.zeros((100, 28, 28), np.float32))],
                    "dtype"),
    "bad gzip": (lambda t: ["--mnist", corrupt_gzip_idx(t)], "idx"),
    "wrong magic": (lambda t: ["--mnist", wrong_magic_idx(t)], "magic"),
    "length zero": (lambda t: ["--length", "0"], "out of range: from 1"),
    "min over max": (lambda t: ["--min-length", "6", "--max-length", "3"], "greater than"),
    "negative count": (lambda t: ["--count-val", "-1"], "--count-val"),
    "low height": (lambda t: ["--height", "12"], "--height"),
    "unwritable out": (lambda t: ["--out", a_file(t) / "sub"], "cannot write"),
    "narrow width": (lambda t: ["--width", "50"], "--width"),
    "shard size zero": (lambda t: ["--format", "tfrecord", "--shard-size", "0"], "--shard-size"),
    "shard size for png": (lambda t: ["--shard-size", "10"], "--format tfrecord"),
    "examples of one test image": (lambda t: ["--count-test", "1", "--examples", t / "ex"],
                                   "--examples"),
    "negative slant": (lambda t: ["--slant", "-0.1"], "--slant"),
    "proportion too large": (lambda t: ["--proportion", "0.6"], "--proportion"),
    "share over one": (lambda t: ["--marks", "1.5"], "--marks"),
    "remnants over one": (lambda t: ["--remnants", "1.2"], "--remnants"),
    "negative oldstyle": (lambda t: ["--oldstyle", "-0.1"], "--oldstyle"),
    "no ink": (lambda t: ["--ink", "0"], "--ink"),
    "jpeg quality": (lambda t: ["--jpeg", "100"], "--jpeg"),
    "no font folder": (lambda t: ["--fonts", t / "missing"], "no font folder"),
    "font folder without fonts": (lambda t: ["--fonts", t], "no font file"),
    "font share zero": (lambda t: ["--fonts", t, "--font-share", "0"], "--font-share"),
    "font share without fonts": (lambda t: ["--font-share", "0.3"], "needs --fonts"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, case, capsys):
    make_args, needle = BAD[case]
    out = tmp_path / "out"
    args = make_args(tmp_path)
    if "--out" not in args:
        args += ["--out", out]
    if "--source" not in args:
        args += ["--source", "file"] if "--mnist" in args else ["--source", "embedded"]
    status, err = run([*TINY, *args], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle.lower() in lines[0].lower(), err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("argv", [["--length", "five"], ["--format", "parquet"],
                                  ["--format", "tfrecord", "--shard-size", "many"]])
def test_argparse_errors_are_one_line_too(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_writes_a_tfrecord_dataset_and_examples(tmp_path, npz, capsys):
    out = tmp_path / "ds"
    args = ["--source", "file", "--mnist", npz, "--min-length", "2", "--max-length", "4",
            "--count-train", "30", "--count-val", "10", "--count-test", "10", "--workers", "2"]
    status, err = run([*args, "--out", out, "--format", "tfrecord", "--shard-size", "8",
                       "--examples", tmp_path / "ex"], capsys)
    assert status == 0, err
    assert sorted(p.name for p in (out / "train").iterdir()) == [
        f"train-0000{i}-of-00004.tfrecord" for i in range(4)]
    assert run([*args, "--out", tmp_path / "png", "--examples", tmp_path / "ex-png"],
               capsys)[0] == 0
    for name in ("example1.bmp", "example2.bmp"):  # the same test images in both formats
        assert (tmp_path / "ex" / name).read_bytes() == (tmp_path / "ex-png" / name).read_bytes()


def test_existing_out_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "ds"
    assert run(["--source", "embedded", "--out", out, *TINY], capsys)[0] == 0
    status, err = run(["--source", "embedded", "--out", out, *TINY], capsys)
    assert status == 2 and "--overwrite" in err
    assert run(["--source", "embedded", "--out", out, "--overwrite", *TINY], capsys)[0] == 0


def test_help_imports_no_tensorflow():
    assert "--no-augment" in help_without_tensorflow("digits.sequence_generator")


def test_realistic_preset_applies_and_explicit_flags_win():
    from digits.compose import REALISTIC, ComposeConfig
    from digits.sequence_generator import build_parser, config_from_args

    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["--realistic"]))
    assert {k: getattr(cfg, k) for k in REALISTIC} == REALISTIC
    cfg = config_from_args(parser.parse_args(["--realistic", "--marks", "0", "--length", "3"]))
    assert cfg.marks == 0 and cfg.min_length == cfg.max_length == 3
    assert cfg.slant == REALISTIC["slant"]
    cfg = config_from_args(parser.parse_args(["--realistic", "--max-length", "8"]))
    assert (cfg.min_length, cfg.max_length) == (ComposeConfig.min_length, 8)
    assert config_from_args(parser.parse_args([])) == ComposeConfig()
