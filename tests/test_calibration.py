"""model.reading.calibration and model.calibrate: the calibrator is monotone, fits what it
is shown, travels with the run and its exports, and model.read / model.serve / the API mark
unsure readings without dropping them."""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import run_main, untrained_run
from digits.errors import DataError
from model.reading import calibration
from model.reading.calibration import SIGNALS, Calibrator


def synthetic_readings(n=2000, seed=0):
    """Signals whose logit and agreement say how likely a reading is right, and the
    outcomes drawn from that."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(SIGNALS)))
    x[:, 0] = rng.uniform(-2, 12, n)  # logit
    x[:, 1] = rng.uniform(0, 15, n)  # margin
    x[:, 2] = rng.choice([1 / 3, 2 / 3, 1.0], n)  # agreement
    x[:, 3] = rng.uniform(0, 0.2, n)  # entropy
    x[:, 4] = rng.uniform(0, 1.5, n)  # peak
    x[:, 5] = rng.integers(1, 7, n)  # digits
    p = 1 / (1 + np.exp(-(0.5 * x[:, 0] + 3 * (x[:, 2] - 1) - 1)))
    return x, rng.random(n) < p, p


def scan(width=90):
    paper = np.full((40, width), 228, np.uint8)
    for x in range(15, width - 15, 20):
        paper[8:32, x:x + 4] = 25
    return paper


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
    run = untrained_run(tmp_path_factory.mktemp("run"))
    x, right, _ = synthetic_readings()
    calibration.save(calibration.fit(x, right), run)
    return run


@pytest.mark.parametrize("confidence,right,ece", [
    ([0.95, 0.95, 0.95, 0.95], [1, 1, 1, 0], 0.20),  # one bin: |0.75 - 0.95|
    ([0.15, 0.85], [0, 1], 0.15),  # two bins of one: each off by 0.15
    ([1.0, 1.0], [1, 1], 0.0),  # 1.0 falls in the top bin
])
def test_expected_calibration_error(confidence, right, ece):
    assert calibration.expected_calibration_error(confidence, right) == pytest.approx(ece)


def test_summary_reads_the_risk_coverage_curve():
    confidence = np.linspace(1, 0.01, 100)
    right = np.arange(100) < 60  # the 60 surest right, the rest wrong
    s = calibration.summary(confidence, right)
    assert s["accuracy_at_50"] == 1.0 and s["accuracy_at_80"] == pytest.approx(0.75)
    assert s["accuracy_at_100"] == pytest.approx(0.6) and s["coverage_at_99"] == 0.6
    assert s["share_at_or_above_0.99"] == 0.02 and s["right_at_or_above_0.99"] == 1.0


def test_the_signals_of_a_reading():
    x = calibration.signals([math.log(0.9), math.log(0.05)], "123", 2 / 3, 0.1, 0.7)
    assert x[0] == pytest.approx(math.log(9)) and x[1] == pytest.approx(math.log(18))
    assert list(x[2:]) == pytest.approx([2 / 3, 0.1, 0.7, 3, 0])
    certain = calibration.signals([0.0], "1", 1.0, 0.0, 0.0, ways=1)  # p = 1, no second
    assert certain[0] == calibration.LOGIT_CAP and certain[1] == calibration.MARGIN_CAP
    assert certain[-1] == 1
    mean, peak = calibration.frame_entropies(np.array([[0.0, 0.0], [50.0, 0.0]]), 2)
    assert peak == pytest.approx(math.log(2)) and mean == pytest.approx(math.log(2) / 2)


@pytest.mark.parametrize("isotonic", [False, True])
def test_a_fit_recovers_the_chance_of_being_right(isotonic):
    x, right, p = synthetic_readings(6000)
    fitted = calibration.fit(x, right, isotonic=isotonic)
    assert (fitted.knots is not None) == isotonic
    held_x, held_right, held_p = synthetic_readings(4000, seed=1)
    assert np.abs(fitted(held_x) - held_p).mean() < 0.03
    assert calibration.expected_calibration_error(fitted(held_x), held_right) < 0.03
    raw = 1 / (1 + np.exp(-held_x[:, 0]))  # the overconfident model's probability
    assert calibration.expected_calibration_error(raw, held_right) > 0.1


def test_the_calibrator_is_monotone_in_every_signal_that_says_sure():
    x, right, _ = synthetic_readings()
    right = right.copy()
    right[x[:, 1] > 12] = False  # wide margins wrong more often: a fit would like a
    fitted = calibration.fit(x, right)  # negative weight, which it may not take
    base = np.tile(np.median(x, axis=0), (50, 1))
    for name, grid in (("logit", np.linspace(-16, 16, 50)), ("margin", np.linspace(0, 20, 50)),
                       ("agreement", np.linspace(0, 1, 50)), ("entropy", np.linspace(0, 2, 50)),
                       ("peak", np.linspace(0, 2, 50))):
        xs = base.copy()
        xs[:, SIGNALS.index(name)] = grid
        steps = np.diff(fitted(xs)) * calibration.DIRECTION[name]
        assert (steps >= -1e-12).all(), name


def test_a_calibrator_is_saved_and_loaded_with_the_run(calibrated_run):
    loaded = calibration.load(calibrated_run)
    x, _, _ = synthetic_readings(50, seed=2)
    again = Calibrator.from_dict(json.loads(json.dumps(loaded.to_dict())))
    assert again == loaded and np.array_equal(again(x), loaded(x))
    assert loaded.fitted_on["readings"] == 2000


@pytest.mark.parametrize("change,message", [
    ({"schema_version": 9}, "schema version"),
    ({"signals": ["logit", "colour"]}, "distinct names"),
    ({"weights": [1.0]}, "one value per signal"),
    ({"scale": [0.0] * 7}, "scales positive"),
    ({"weights": [-1.0, 0, 0, 0, 0, 0, 0]}, "logit has the wrong sign"),
    ({"bias": "high"}, "ValueError"),
    ({"knots": [[0, 1], [0.9, 0.1]]}, "non-decreasing"),
    ({"knots": [[0, 1], [0.5, 1.5]]}, "within 0 and 1"),
    ({"knots": [[0, 1, 2], [0.5, 0.6]]}, "one length"),
])
def test_a_damaged_calibrator_is_one_clear_error(calibrated_run, tmp_path, change, message):
    data = {**calibration.load(calibrated_run).to_dict(), **change}
    (tmp_path / calibration.FILE).write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        calibration.load(tmp_path)


def test_the_reader_reports_the_calibrated_confidence(calibrated_run, tmp_path):
    from model import Reader

    uncalibrated = Reader(untrained_run(tmp_path))  # the same weights (seed 0)
    reader = Reader(calibrated_run)
    got, plain = reader.read(scan(), top_k=2), uncalibrated.read(scan(), top_k=2)
    assert got.text == plain.text and got.probability == plain.probability
    assert plain.confidence == plain.probability and got.confidence != got.probability
    assert got.alternatives[0] == (got.text, got.probability)
    assert got.sure and reader.read(scan(), min_confidence=1.0).sure is False


def test_an_export_reports_the_same_calibrated_confidence(calibrated_run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from model import Reader
    from model.deploy.exporter import export_run

    meta = export_run(calibrated_run, "onnx", tmp_path / "model.onnx", log=lambda m: None)
    assert meta["calibration"] == calibration.load(calibrated_run).to_dict()
    images = [scan(60), scan(90), scan(150)]
    ours = Reader(calibrated_run).read(images)
    exported = Reader.from_onnx(tmp_path / "model.onnx", min_confidence=0.5).read(images)
    for a, b in zip(exported, ours, strict=True):
        assert a.text == b.text and a.confidence == pytest.approx(b.confidence, abs=1e-3)
        assert a.sure == (a.confidence >= 0.5)


def test_min_confidence_marks_readings_and_keeps_them(calibrated_run, tmp_path, capsys):
    from model.read import main

    image = tmp_path / "n.png"
    Image.fromarray(scan()).save(image)
    assert main([str(image), "--run", str(calibrated_run), "--quiet"]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert len(line) == 3
    assert main([str(image), "--run", str(calibrated_run), "--quiet",
                 "--min-confidence", "1"]) == 0
    marked = capsys.readouterr().out.strip().split("\t")
    assert marked == [*line, "?"]
    assert main([str(image), "--run", str(calibrated_run), "--quiet", "--json",
                 "--min-confidence", "1"]) == 0
    (reading,) = json.loads(capsys.readouterr().out)
    assert reading["sure"] is False and reading["text"] == line[1]
    assert reading["confidence"] == float(line[2]) or abs(reading["confidence"]
                                                          - float(line[2])) < 1e-4


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan"])
def test_a_bad_min_confidence_is_a_usage_error(calibrated_run, value, capsys):
    from model.read import main
    from model.serve import main as serve

    for command in (main, serve):
        args = ["x.png"] if command is main else []
        with pytest.raises(SystemExit) as raised:
            command([*args, "--min-confidence", value])
        assert raised.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "--min-confidence" in err[-1] and "Traceback" not in "".join(err)


@pytest.mark.parametrize("value", [1.5, -1, "0.5", True, float("nan")])
def test_the_api_refuses_a_bad_min_confidence(calibrated_run, value):
    from model import Reader

    with pytest.raises(DataError, match="min_confidence must be a number from 0 to 1"):
        Reader(calibrated_run).read(scan(), min_confidence=value)
    with pytest.raises(DataError, match="min_confidence"):
        Reader(calibrated_run, min_confidence=value)


def test_model_calibrate_fits_on_a_labelled_folder(tmp_path, capsys):
    from model import Reader
    from model.calibrate import main

    (tmp_path / "run").mkdir()
    run = untrained_run(tmp_path / "run")
    (tmp_path / "folder" / "images").mkdir(parents=True)
    images = [scan(50 + 5 * i) for i in range(40)]
    rows = []
    # Read as one batch, as the folder is read (padding to the widest image changes what
    # an untrained model reads).
    for i, (image, reading) in enumerate(zip(images, Reader(run).read(images), strict=True)):
        Image.fromarray(image).save(tmp_path / "folder" / "images" / f"{i}.png")
        rows.append((f"images/{i}.png", reading.text + "7" * (i % 2)))  # half right
    with open(tmp_path / "folder" / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file_name", "text"), *rows])
    assert main([str(run), "--folder", str(tmp_path / "folder"),
                 "--signals", "logit,agreement"]) == 0
    out = capsys.readouterr().out
    assert "fitted on 40 readings (50.0% right) over logit, agreement" in out
    fitted = calibration.load(run)
    assert fitted.used == ("logit", "agreement") and fitted.fitted_on["count"] == 40
    # Half the folder's readings were right: read again as the folder was, their mean
    # confidence is about a half (an untrained model's readings of one image alone differ
    # from those of the batch, as padding differs).
    confidences = [r.confidence for r in Reader(run).read(images)]
    assert np.mean(confidences) == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("args,message", [
    (["--signals", "logit,colour"], "--signals must name distinct signals"),
    (["--count", "5"], "out of range"),
    (["--source", "embedded", "--count", "20"], "some right and some wrong"),
])
def test_model_calibrate_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args,
                                                                  message):
    from model.calibrate import main

    run = untrained_run(tmp_path)
    code, _, err = run_main(main, [run, *args], capsys)
    assert code == 2
    err = err.strip().splitlines()
    assert message in err[-1] and not (run / calibration.FILE).exists()
