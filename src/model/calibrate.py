"""Fit a run's confidence calibrator, so that the confidence model.read reports is the
chance the reading is right.

    python -m model.calibrate RUN_DIR [--folder DIR] [--count N] [--seed S]
        [--source auto|...] [--mnist PATH] [--signals logit,margin,...] [--beam-width 10]

Without --folder, the readings it is fitted on are made here: a renderings battery of the
MNIST validation digits (``digits.battery --split val``: digits no run of this toolkit
trains on, apart from the test digits every benchmark measures on) is read twice, its
renderings through model.read's default preparation and its clean images as generated
(``--as-generated``), so that the calibrator sees both what users hand over and what the
model knows best. With --folder, a labelled folder of the user's own images
(``images/`` + ``labels.csv``) is read through the default preparation instead.

Writes ``RUN_DIR/calibration.json`` (``model.reading.calibration``), replacing any earlier
one; model.read, model.serve, the Python API and exports made afterwards use it. Prints the
expected calibration error before (the model's probability) and after, on the readings it
was fitted on. Usage errors exit 2; nothing is written on any error.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digits.cli import Parser, fail, number, path
from digits.errors import DataError
from model.decoding.decode import MAX_BEAM

DEFAULT_COUNT = 1200  # renderings (and as many clean images): ~2 minutes on 2 cores
DEFAULT_SEED = 2718  # apart from the battery's measuring seed (digits.battery)
# The signals chosen on the real folders' tune halves (docs/reading.md, "Confidence").
DEFAULT_SIGNALS = ("logit", "margin", "agreement", "one_way")


def folder_signals(reader, folder, beam_width: int = 10, generated: bool = False,
                   log=lambda m: None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a labelled folder as model.read does (unconstrained beam) and return, for each
    image read, its reading, its calibration signals and whether it is right.

    Returns:
        ``(texts, signals, right)`` over the folder's rows in order; an image that cannot
        be read counts as read "" with signals of NaN (wrong, and left out of fitting).
    """
    from model.decoding.decode import reading_beam
    from model.reading import calibration
    from model.reading.folder import prepare_folder_ways
    from model.reading.reader import chosen_signals, most_confident, run_ways

    prepared = prepare_folder_ways(folder, reader.net.height, skip_unreadable=True, log=log,
                                   generated=generated)
    kept = min(2, beam_width)
    per_way, entropies = run_ways(prepared.ways, reader, reader.net,
                                  {"read": reading_beam(beam_width, kept)})
    chosen = most_confident(per_way["read"])
    texts = [""] * len(folder)
    for row, (_, readings) in zip(prepared.rows, chosen, strict=True):
        if readings:
            texts[row] = readings[0].text
    x = np.full((len(folder), len(calibration.SIGNALS)), np.nan)
    x[prepared.rows] = chosen_signals(per_way["read"], entropies, chosen, prepared.ways)
    right = np.array([t == truth for t, truth in zip(texts, folder.texts, strict=True)])
    return texts, x, right


def battery_signals(reader, count: int, seed: int, source: str, mnist_path: str | None,
                    beam_width: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render a validation-digit battery in a temporary folder and read it both ways."""
    from digits.battery import direct_folder, render_battery
    from model.reading.folder import read_folder

    with tempfile.TemporaryDirectory(prefix="calibrate-") as scratch:
        out = Path(scratch) / "battery"
        settings = render_battery(out, count, seed, source, mnist_path, split="val")
        xs, rights = [], []
        for folder, generated in ((read_folder(out), False),
                                  (read_folder(direct_folder(out)), True)):
            _, x, right = folder_signals(reader, folder, beam_width, generated)
            xs.append(x)
            rights.append(right)
    what = {"source": "renderings battery of MNIST validation digits, rendered and clean",
            "count": count, "seed": seed, "mnist": settings["source"]}
    return np.concatenate(xs), np.concatenate(rights), what


def held_out_error(x: np.ndarray, right: np.ndarray, used) -> float:
    """The expected calibration error of calibrators each fitted on one half of the readings
    (a fixed random half) and applied to the other: what fitting buys, not what it
    memorised; NaN where a half is too small to fit."""
    from model.reading import calibration

    halves = np.random.default_rng(0).permutation(len(right)) % 2
    confidence = np.zeros(len(right))
    for part in (0, 1):
        try:
            fitted = calibration.fit(x[halves != part], right[halves != part], used)
        except DataError:
            return float("nan")
        confidence[halves == part] = fitted(x[halves == part])
    return calibration.expected_calibration_error(confidence, right)


def build_parser() -> Parser:
    from digits.sources import SOURCES

    p = Parser(prog="python -m model.calibrate", description=__doc__.splitlines()[0])
    p.add_argument("run", type=path, metavar="RUN_DIR", help="a finished run directory")
    p.add_argument("--folder", type=path, metavar="DIR",
                   help="fit on this labelled folder (images/ + labels.csv) instead of a "
                        "rendered battery")
    p.add_argument("--count", type=number(int, 20, 100_000), default=DEFAULT_COUNT,
                   help=f"battery images to render (default {DEFAULT_COUNT}; 20 to 100,000)")
    p.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=DEFAULT_SEED,
                   help=f"the battery's seed (default {DEFAULT_SEED})")
    p.add_argument("--source", default="auto", choices=SOURCES,
                   help="MNIST source for the battery, as the generator's (default auto)")
    p.add_argument("--mnist", metavar="PATH", help="a local MNIST for the battery")
    p.add_argument("--signals", default=",".join(DEFAULT_SIGNALS),
                   help="the signals to fit on, comma-separated, from: logit, margin, "
                        "agreement, entropy, peak, digits, one_way (default: "
                        f"{','.join(DEFAULT_SIGNALS)})")
    p.add_argument("--beam-width", type=number(int, 1, MAX_BEAM), default=10,
                   help="prefix beam width, as model.read's (default 10)")
    return p


def parse_signals(text: str) -> tuple[str, ...]:
    from model.reading.calibration import SIGNALS

    used = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in used if s not in SIGNALS]
    if not used or unknown or len(set(used)) < len(used):
        raise DataError(f"--signals must name distinct signals from {', '.join(SIGNALS)}; "
                        f"got {text!r}")
    return tuple(s for s in SIGNALS if s in used)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    try:
        used = parse_signals(args.signals)
        if args.folder is not None:
            from model.reading.folder import read_folder

            folder = read_folder(args.folder)  # a bad folder fails before the model loads
        if not os.access(args.run, os.W_OK) and Path(args.run).is_dir():
            raise DataError(f"cannot write to {args.run}")
        from model.api import Reader
        from model.reading import calibration

        reader = Reader(args.run, args.beam_width)
        print(f"model: {reader.description}", file=sys.stderr)
        if args.folder is not None:
            _, x, right = folder_signals(reader, folder, args.beam_width, log=print)
            what = {"source": f"labelled folder {args.folder}", "count": len(folder)}
        else:
            x, right, what = battery_signals(reader, args.count, args.seed, args.source,
                                             args.mnist, args.beam_width)
        read = ~np.isnan(x).any(axis=1)
        x, right = x[read], right[read]
        fitted = calibration.fit(x, right, used, what)
        before = calibration.expected_calibration_error(calibration.probability(x), right)
        after = held_out_error(x, right, used)
        saved = calibration.save(fitted, reader.run)
    except DataError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write {e.filename or args.run}: {e.strerror or e}", 1)
    except KeyboardInterrupt:
        return fail("interrupted; no calibrator was written", 130)
    print(f"fitted on {len(right):,} readings ({100 * right.mean():.1f}% right) over "
          f"{', '.join(used)}")
    print(f"expected calibration error on them: {100 * before:.2f}% (the model's probability) "
          f"-> {100 * after:.2f}% (calibrated, each half by a calibrator fitted on the other)")
    print(f"wrote {saved} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
