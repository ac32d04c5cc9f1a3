"""model.committee (several runs read as one model) and model.icr --teacher (one network
taught by another's readings), on tiny runs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import sequences
from model.committee import main as committee_main
from model.icr import main as icr_main


@pytest.fixture(scope="module")
def runs(tiny_dataset, tmp_path_factory):
    """Two tiny runs of one architecture with different seeds, and one of another."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("a", ["--seed", "1"]), ("b", ["--seed", "2"]),
                        ("wide", ["--seed", "1", "--dense", "24"])):
        assert icr_main([str(tiny_dataset), "--preset", "tiny", "--epochs", "1",
                         "--run-dir", str(root / name), *extra]) == 0
    return root


@pytest.fixture(scope="module")
def committee(runs):
    out = runs / "committee"
    assert committee_main([str(out), str(runs / "a"), str(runs / "b")]) == 0
    return out


def test_the_committee_reads_the_log_of_its_members_mean_probability(runs, committee):
    from model.decoding.ctc import log_softmax
    from model.inputs.datasets import pad_images
    from model.runs import load_run

    images = pad_images(sequences(4)[0], np.float32)
    members = [np.asarray(load_run(runs / n)[0](images, training=False)) for n in "ab"]
    model, net, config = load_run(committee)
    got = np.asarray(model(images, training=False))
    mean = (np.exp(log_softmax(members[0])) + np.exp(log_softmax(members[1]))) / 2
    np.testing.assert_allclose(got, np.log(mean), atol=1e-5)
    assert not np.allclose(members[0], members[1], atol=1e-3)  # the members differ
    assert config["committee"] == [str((runs / n).resolve()) for n in "ab"]
    assert net == load_run(runs / "a")[1]


def test_model_read_reads_with_a_committee(committee, tmp_path, capsys):
    from conftest import png_bytes
    from model.read import main as read_main

    path = tmp_path / "n.png"
    path.write_bytes(png_bytes(255 - sequences(2)[0][0]))
    assert read_main([str(path), "--run", str(committee)]) == 0
    assert str(path) in capsys.readouterr().out


@pytest.mark.parametrize("case", ["one", "architectures", "missing", "exists", "member",
                                  "nested", "not a run"])
def test_bad_committees_are_one_line_errors(case, runs, committee, tmp_path, capsys):
    out = tmp_path / "c"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    args = {"one": [out, runs / "a"],
            "architectures": [out, runs / "a", runs / "wide"],
            "missing": [out, runs / "a", tmp_path / "nope"],
            "exists": [committee, runs / "a", runs / "b"],
            "member": [runs / "a", runs / "a", runs / "b", "--overwrite"],
            "nested": [out, committee, runs / "a"],
            "not a run": [tmp_path / "mine", runs / "a", runs / "b", "--overwrite"]}[case]
    before = (committee / "model.keras").read_bytes()
    assert committee_main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (out / "model.keras").exists()
    assert (committee / "model.keras").read_bytes() == before
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_overwrite_replaces_a_committee_whole(runs, committee, tmp_path):
    out = tmp_path / "c"
    assert committee_main([str(out), str(runs / "a"), str(runs / "b")]) == 0
    (out / "stale.txt").write_text("from before")
    assert committee_main([str(out), str(runs / "b"), str(runs / "a"), "--overwrite"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["committee"] == [str((runs / n).resolve()) for n in "ba"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.keras"]


def test_distillation_loss_is_ctc_when_the_teacher_agrees_and_more_otherwise():
    import keras
    from keras import ops

    from model.training.distill import DistillCTC

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6, 11)).astype(np.float32)
    labels = np.array([[3, 4, 0, 0, 0, 0], [7, 0, 0, 0, 0, 0]], np.float32)
    same = np.concatenate([np.asarray(ops.log_softmax(logits, axis=-1)), labels[..., None]], -1)
    ctc = np.asarray(keras.losses.ctc(labels.astype(np.int32), logits))
    loss = DistillCTC(reduction=None)
    np.testing.assert_allclose(np.asarray(loss(same, logits)), ctc, rtol=1e-5)
    other = rng.normal(size=logits.shape).astype(np.float32)
    differ = np.concatenate([np.asarray(ops.log_softmax(other, axis=-1)), labels[..., None]], -1)
    assert (np.asarray(loss(differ, logits)) > ctc + 1e-3).all()


def test_icr_teacher_trains_and_records_its_teacher(tiny_dataset, runs, committee, tmp_path):
    run_dir = tmp_path / "taught"
    assert icr_main([str(tiny_dataset), "--from", str(runs / "a"), "--teacher", str(committee),
                     "--epochs", "1", "--batch-size", "16", "--run-dir", str(run_dir)]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["teacher"] == {"run": str(committee.resolve()),
                                 "committee": [str((runs / n).resolve()) for n in "ab"]}
    # A plain network: it loads where the distillation's loss was never imported.
    code = (f"import keras\nm = keras.models.load_model({str(run_dir / 'model.keras')!r}, "
            "safe_mode=True)\nassert m.name == 'crnn' and m.output_shape[-1] == 11\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("case", ["frames", "folder", "evaluate"])
def test_bad_teachers_are_one_line_errors(case, tiny_dataset, runs, committee, tmp_path,
                                          capsys):
    from conftest import png_bytes

    if case == "frames":  # a teacher whose network makes a time step of other columns
        args = [tiny_dataset, "--preset", "tiny", "--first-stride", "1", "--teacher",
                runs / "a", "--epochs", "1", "--run-dir", tmp_path / "r"]
    elif case == "folder":
        folder = tmp_path / "folder"
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "a.png").write_bytes(png_bytes(255 - sequences(2)[0][0]))
        (folder / "labels.csv").write_text("file_name,text\nimages/a.png,12\n")
        args = [folder, "--from", runs / "a", "--teacher", committee, "--run-dir",
                tmp_path / "r"]
    else:
        args = [tiny_dataset, "--evaluate", runs / "a", "--teacher", committee]
    assert icr_main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "teacher" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "model.keras").exists()


def test_help_imports_no_tensorflow():
    from conftest import help_without_tensorflow

    assert "committee" in help_without_tensorflow("model.committee")


def test_a_committee_is_not_fine_tuned_or_adapted(tiny_dataset, committee, tmp_path, capsys):
    from model.adapt import main as adapt_main

    assert icr_main([str(tiny_dataset), "--from", str(committee), "--epochs", "1",
                     "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is a committee of 2 runs" in err and len(err.strip().splitlines()) == 1
    folder = tmp_path / "images"
    folder.mkdir()
    from conftest import png_bytes

    for k, image in enumerate(sequences(4)[0]):
        (folder / f"{k}.png").write_bytes(png_bytes(255 - image))
    assert adapt_main([str(folder), "--from", str(committee), "--run-dir",
                       str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "is a committee of 2 runs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "model.keras").exists()
    assert not (tmp_path / "a" / "model.keras").exists()
