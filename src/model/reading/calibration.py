"""Calibrated confidence: the chance that a reading is right, from signals the reader
already has, so that a threshold on it means what it says.

The model's probability of its string is overconfident on images unlike its training data
(a wrong reading of a real register row often carries 0.98). A small logistic model over a
few signals of each reading, fitted on labelled readings (``python -m model.calibrate``),
turns them into a probability of being right:

- ``logit``: the model's probability p of the string, as log(p / (1 - p));
- ``margin``: how much likelier the string is than the second best, in nats;
- ``agreement``: the share of the ways of preparing the image that read the same string;
- ``entropy``: the mean entropy of the model's per-frame distributions, in nats;
- ``peak``: the largest of those entropies: one frame the model could not decide;
- ``digits``: the string's length;
- ``one_way``: 1 where the image was prepared one way only (``--as-generated``), whose
  readings have no agreement to tell and are right more often.

A logistic model over the chosen signals gives a score; an isotonic map fitted on the same
readings turns the score into the share of readings right at that score, which may reach
0.99 where the fitting readings say so (a logistic curve saturates before). The calibrator
never lowers its output as the model's probability, the margin or the agreement rise, nor
as the entropies fall: each of those weights is bounded in sign when fitting, and the map
is non-decreasing. It is saved as ``calibration.json`` in the run directory and beside an
export, and applied with numpy alone (the exported runtime uses it without TensorFlow).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digits.errors import DataError

SCHEMA_VERSION = 1
FILE = "calibration.json"
SIGNALS = ("logit", "margin", "agreement", "entropy", "peak", "digits", "one_way")
# +1: the calibrated confidence may only rise with the signal; -1: only fall; 0: either.
DIRECTION = {"logit": 1, "margin": 1, "agreement": 1, "entropy": -1, "peak": -1, "digits": 0,
             "one_way": 0}
# A float32 log-probability of 0 is p = 1: its logit is capped where float32 stops telling
# probabilities apart (1 - 1e-7); margins past 20 nats (a 5e8 ratio) say nothing more.
LOGIT_CAP = 16.0
MARGIN_CAP = 20.0
# Weight decay on the standardised weights: a few thousand readings fit six weights without
# it; it keeps a signal that never varies in the fitting data (agreement on clean images)
# from taking an arbitrary weight.
L2 = 1e-3
BINS = 10  # expected calibration error over ten equal-width confidence bins


def frame_entropies(logits: np.ndarray, length: int) -> tuple[float, float]:
    """The mean and the largest entropy (nats) of the per-frame distributions over the
    first ``length`` frames of one row of logits (T, classes)."""
    x = np.asarray(logits[:max(1, length)], np.float64)
    x = x - x.max(axis=1, keepdims=True)
    p = np.exp(x)
    p /= p.sum(axis=1, keepdims=True)
    h = -(p * np.log(np.maximum(p, 1e-30))).sum(axis=1)
    return float(h.mean()), float(h.max())


def signals(scores: Sequence[float], text: str, agreement: float, entropy: float,
            peak: float, ways: int = 6) -> np.ndarray:
    """One reading's SIGNALS as a vector.

    Args:
        scores: log-probabilities of the readings of the kept way, best first (one or more).
        text: the best reading.
        agreement: the share of ways whose best reading is ``text`` (1 for a single way).
        entropy, peak: ``frame_entropies`` of the kept way.
        ways: how many ways the image was prepared.
    """
    best = float(scores[0])
    # log(p / (1 - p)) from log p, without rounding 1 - p to 0 for p near 1.
    logit = best - math.log(-math.expm1(best)) if best < 0 else LOGIT_CAP
    margin = best - float(scores[1]) if len(scores) > 1 else MARGIN_CAP
    return np.array([min(max(logit, -LOGIT_CAP), LOGIT_CAP), min(max(margin, 0.0), MARGIN_CAP),
                     agreement, entropy, peak, len(text), float(ways == 1)], np.float64)


def probability(x: np.ndarray) -> np.ndarray:
    """The model's probability of each reading, from its SIGNALS rows (the logit)."""
    return 1.0 / (1.0 + np.exp(-np.atleast_2d(x)[:, SIGNALS.index("logit")]))


@dataclass(frozen=True)
class Calibrator:
    """A logistic model of P(right | signals) over some of SIGNALS.

    Attributes:
        used: the signals it reads, a subset of SIGNALS in that order.
        mean, scale: each used signal is standardised as (x - mean) / scale.
        weights, bias: of the logistic model on the standardised signals: the score.
        knots: (scores, confidences), both non-decreasing: the isotonic map from the score
            to the confidence, linear between knots; None: the logistic curve itself.
        fitted_on: what it was fitted on (readings, share right, source), for the record.
    """

    used: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    knots: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    fitted_on: dict = field(default_factory=dict, compare=False)

    def score(self, x: np.ndarray) -> np.ndarray:
        """The logistic model's log-odds for readings whose SIGNALS are the rows of ``x``."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        columns = [SIGNALS.index(s) for s in self.used]
        z = (x[:, columns] - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights) + self.bias

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Calibrated confidences of readings whose SIGNALS are the rows of ``x`` (n, 7)
        (or one reading's vector)."""
        s = self.score(x)
        if self.knots is None:
            return 1.0 / (1.0 + np.exp(-s))
        return np.interp(s, *self.knots)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "signals": list(self.used),
                "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias,
                "knots": None if self.knots is None else [list(k) for k in self.knots],
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict, where: str = "calibration") -> Calibrator:
        """Raises DataError naming ``where`` for anything but what ``to_dict`` writes."""
        try:
            if d["schema_version"] != SCHEMA_VERSION:
                raise ValueError(f"schema version {d['schema_version']}, this code reads "
                                 f"{SCHEMA_VERSION}")
            used = tuple(d["signals"])
            numbers = [tuple(float(v) for v in d[k]) for k in ("mean", "scale", "weights")]
            bias = float(d["bias"])
            if not used or any(s not in SIGNALS for s in used) or len(set(used)) < len(used):
                raise ValueError(f"signals must be distinct names from {', '.join(SIGNALS)}")
            if any(len(v) != len(used) for v in numbers):
                raise ValueError("mean, scale and weights must have one value per signal")
            values = [v for vs in numbers for v in vs] + [bias]
            if not all(math.isfinite(v) for v in values) or min(numbers[1]) <= 0:
                raise ValueError("values must be finite, scales positive")
            for name, w in zip(used, numbers[2], strict=True):
                if w * DIRECTION[name] < 0:
                    raise ValueError(f"the weight of {name} has the wrong sign")
            knots = d.get("knots")
            if knots is not None:
                knots = tuple(tuple(float(v) for v in k) for k in knots)
                if len(knots) != 2 or len(knots[0]) != len(knots[1]) or not knots[0]:
                    raise ValueError("knots must be two lists of one length")
                flat = knots[0] + knots[1]
                if (not all(math.isfinite(v) for v in flat)
                        or any(np.diff(k).min(initial=0) < 0 for k in knots)
                        or not 0 <= min(knots[1]) <= max(knots[1]) <= 1):
                    raise ValueError("knots must be finite and non-decreasing, confidences "
                                     "within 0 and 1")
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where} is not a calibrator this code can use: "
                            f"{type(e).__name__}: {e}") from None
        return cls(used, *numbers, bias, knots, dict(d.get("fitted_on") or {}))


def fit(x: np.ndarray, right: np.ndarray, used: Sequence[str] = SIGNALS,
        fitted_on: dict | None = None, isotonic: bool = True) -> Calibrator:
    """The calibrator over ``used`` that best predicts ``right`` from the SIGNALS rows ``x``
    (log loss plus L2 on the standardised weights, each weight's sign bounded as
    DIRECTION says), with the isotonic map from its score to the share right (``isotonic``).

    Raises:
        DataError: fewer than 20 readings, or all right or all wrong: nothing to fit.
    """
    from scipy.optimize import minimize

    x = np.atleast_2d(np.asarray(x, np.float64))
    y = np.asarray(right, np.float64)
    if len(y) < 20 or y.min() == y.max():
        raise DataError(f"calibrating needs at least 20 readings, some right and some wrong; "
                        f"got {len(y)}, {int(y.sum())} right")
    columns = [SIGNALS.index(s) for s in used]
    z = x[:, columns]
    mean, scale = z.mean(axis=0), z.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (z - mean) / scale

    def loss(params):
        w, b = params[:-1], params[-1]
        s = z @ w + b
        # log(1 + e^s) - y s, written to stay finite for large |s|.
        value = np.mean(np.logaddexp(0.0, s) - y * s) + L2 * w @ w
        g = 1.0 / (1.0 + np.exp(-s)) - y
        return value, np.append(z.T @ g / len(y) + 2 * L2 * w, g.mean())

    bounds = [(0, None) if DIRECTION[s] > 0 else (None, 0) if DIRECTION[s] < 0 else (None, None)
              for s in used] + [(None, None)]
    start = np.zeros(len(used) + 1)
    start[-1] = math.log(max(y.mean(), 1e-3) / max(1 - y.mean(), 1e-3))
    best = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    w = [float(v) for v in best.x[:-1]]
    info = {"readings": int(len(y)), "right": float(y.mean()), **(fitted_on or {})}
    logistic = Calibrator(tuple(used), tuple(float(v) for v in mean),
                          tuple(float(v) for v in scale), tuple(w), float(best.x[-1]),
                          None, info)
    if not isotonic:
        return logistic
    return dataclasses.replace(logistic, knots=isotonic_knots(logistic.score(x), y))


def isotonic_knots(score: np.ndarray, right: np.ndarray) -> tuple[tuple, tuple]:
    """The isotonic regression of ``right`` on ``score`` as knots: each block of equal fitted
    values gives a knot at its lowest and its highest score. The values are kept 1/n from 0
    and 1 (n readings): no fitting set of n readings tells certainty."""
    from scipy.optimize import isotonic_regression

    order = np.argsort(score, kind="stable")
    s = score[order]
    v = isotonic_regression(right[order].astype(np.float64)).x
    v = np.clip(v, 1 / len(v), 1 - 1 / len(v))
    first = np.r_[True, v[1:] != v[:-1]]
    last = np.r_[v[1:] != v[:-1], True]
    keep = first | last
    return tuple(float(a) for a in s[keep]), tuple(float(a) for a in v[keep])


def load(run_dir: Path) -> Calibrator | None:
    """The run's calibrator, or None where it has none (raw probabilities are reported)."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is unreadable: {e}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a calibrator this code can use: not a JSON object")
    return Calibrator.from_dict(data, str(path))


def save(calibrator: Calibrator, run_dir: Path) -> Path:
    """Write ``calibration.json`` in ``run_dir`` whole or not at all."""
    from digits.files import write_json

    path = Path(run_dir) / FILE
    write_json(path, calibrator.to_dict())
    return path


def expected_calibration_error(confidence, right, bins: int = BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by the share
    of readings in each."""
    c = np.asarray(confidence, np.float64)
    r = np.asarray(right, np.float64)
    if len(c) == 0:
        return float("nan")
    which = np.minimum((c * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(r[inside].mean() - c[inside].mean())
    return total / len(c)


def risk_coverage(confidence, right) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and accuracy when only the k most confident readings are kept, k = 1..n."""
    order = np.argsort(-np.asarray(confidence, np.float64), kind="stable")
    r = np.asarray(right, np.float64)[order]
    k = np.arange(1, len(r) + 1)
    return k / max(len(r), 1), np.cumsum(r) / k


def summary(confidence, right) -> dict:
    """What ``bench/real.py`` reports of a set of readings' confidences."""
    c = np.asarray(confidence, np.float64)
    r = np.asarray(right, bool)
    if len(c) == 0:
        return {}
    coverage, accuracy = risk_coverage(c, r)
    at = {f"accuracy_at_{round(100 * f)}": float(accuracy[max(0, math.ceil(f * len(c)) - 1)])
          for f in (0.5, 0.8, 1.0)}
    good = np.flatnonzero(accuracy >= 0.99)
    high = c >= 0.99
    return {"ece": expected_calibration_error(c, r), **at,
            "coverage_at_99": float(coverage[good[-1]]) if len(good) else 0.0,
            "share_at_or_above_0.99": float(high.mean()),
            "right_at_or_above_0.99": float(r[high].mean()) if high.any() else float("nan")}


def plot(path: Path, title: str, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """One PNG: a reliability diagram and a risk-coverage curve for each named set of
    (confidences, right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--")
    edges = np.linspace(0, 1, BINS + 1)
    for name, (c, r) in curves.items():
        c, r = np.asarray(c, np.float64), np.asarray(r, np.float64)
        which = np.minimum((c * BINS).astype(int), BINS - 1)
        xs, ys = [], []
        for b in range(BINS):
            if (which == b).any():
                xs.append(c[which == b].mean())
                ys.append(r[which == b].mean())
        ece = expected_calibration_error(c, r)
        left.plot(xs, ys, marker="o", label=f"{name} (ECE {100 * ece:.1f}%)")
        coverage, accuracy = risk_coverage(c, r)
        right_ax.plot(coverage, accuracy, label=name)
    left.set(xlabel="confidence", ylabel="share right", title="reliability", xlim=(0, 1),
             ylim=(0, 1), xticks=edges[::2])
    right_ax.axhline(0.99, color="#999999", lw=1, ls="--")
    right_ax.set(xlabel="coverage (most confident first)", ylabel="accuracy",
                 title="risk-coverage", xlim=(0, 1))
    for ax in (left, right_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
