"""Benchmark confidence calibrators: which signals, and whether an isotonic map, transfer
from the synthetic readings they are fitted on to real folders.

    python bench/calibration.py RUN_DIR FOLDER... --mnist PATH [--battery DIR]
        [--count 1200] [--seed 2718] [--half tune|report] [--json FILE]

Fits each candidate calibrator exactly as ``python -m model.calibrate RUN_DIR`` does (a
battery of MNIST validation digits, rendered and clean, read by RUN_DIR's model), then
scores it on the chosen half of every labelled FOLDER (default: the tune half, where the
choice is made) and on a renderings battery (``--battery``: read through the default path,
and its clean images as generated). Per candidate and set: expected calibration error (10
bins), the share of readings at confidence >= 0.99 and how many of those are right, and the
coverage at 99% accuracy. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import report  # noqa: E402

CANDIDATES = (
    ("logit",),
    ("logit", "agreement"),
    ("logit", "margin", "agreement"),
    ("logit", "margin", "agreement", "one_way"),
    ("logit", "margin", "agreement", "entropy", "peak", "one_way"),
    ("logit", "margin", "agreement", "digits", "one_way"),
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folders", type=Path, nargs="+", help="labelled folders")
    p.add_argument("--mnist", required=True, help="a local MNIST (the fitting battery's)")
    p.add_argument("--battery", type=Path, help="a renderings battery to score on as well")
    p.add_argument("--count", type=int, default=1200)
    p.add_argument("--seed", type=int, default=2718)
    p.add_argument("--half", choices=("tune", "report"), default="tune")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from digits.battery import direct_folder
    from model.api import Reader
    from model.calibrate import battery_signals, folder_signals
    from model.reading import calibration
    from model.reading.folder import half, read_folder

    reader = Reader(args.run)
    print(f"model: {reader.description}")
    fit_x, fit_right, _ = battery_signals(reader, args.count, args.seed, "file", args.mnist, 10)
    read = ~np.isnan(fit_x).any(axis=1)
    fit_x, fit_right = fit_x[read], fit_right[read]
    sets = {}
    for root in args.folders:
        folder = read_folder(root)
        keep = np.array([half(n) == args.half for n in folder.names])
        _, x, right = folder_signals(reader, folder.subset(np.flatnonzero(keep)))
        sets[f"{root.name} {args.half}"] = (x, right)
    if args.battery:
        sets["battery"] = folder_signals(reader, read_folder(args.battery))[1:]
        sets["battery direct"] = folder_signals(reader, read_folder(direct_folder(args.battery)),
                                                generated=True)[1:]
    rows = {"model's probability": None}
    for used in CANDIDATES:
        for isotonic in (False, True):
            name = f"{'isotonic' if isotonic else 'logistic'} {','.join(used)}"
            rows[name] = calibration.fit(fit_x, fit_right, used, isotonic=isotonic)
    results = {"run": str(args.run), "half": args.half, "fitted_on": int(len(fit_right)),
               "candidates": {}}
    print(f"fitted on {len(fit_right):,} readings; per set: ECE, share at >= 0.99, right "
          "there, coverage at 99% accuracy")
    print(f"{'calibrator':<62}" + "".join(f"{name:>30}" for name in sets))
    for name, calibrator in rows.items():
        line, entry = f"{name:<62}", {}
        for set_name, (x, right) in sets.items():
            ok = ~np.isnan(x).any(axis=1)
            confidence = np.zeros(len(right))
            confidence[ok] = (calibration.probability(x[ok]) if calibrator is None
                              else calibrator(x[ok]))
            s = calibration.summary(confidence, right)
            entry[set_name] = s
            line += (f"  {100 * s['ece']:6.2f}% {100 * s['share_at_or_above_0.99']:5.1f}% "
                     f"{100 * s['right_at_or_above_0.99']:5.1f}% "
                     f"{100 * s['coverage_at_99']:5.1f}%")
        results["candidates"][name] = entry
        print(line, flush=True)
    return report(results, "calibration.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
