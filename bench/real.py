"""Benchmark reading real handwritten numbers: exact accuracy and CER per labelled folder.

    python bench/real.py RUN_DIR FOLDER... [--limit N] [--beam-width 10] [--grid DIR]
        [--half tune|report] [--prep FIELD=VALUE]... [--ways N] [--battery DIR] [--raw]
        [--json FILE]

A folder holds ``images/`` and ``labels.csv`` (``file_name,text``). Every folder is read
whole and scored on its two fixed halves (``model.reading.folder.half``): settings are
chosen on the tune half, and the report half is the figure to quote. Each image goes through
``model.reading.preprocess`` (``--raw``: only grayscale, inverted when the paper is light, and
resized to the model's height, to measure what preprocessing buys) and is decoded three
ways: greedy, beam, and beam constrained to the folder's own range of lengths. Writes a
grid of misread images per folder with ``--grid``; ``--json`` keeps each misread image by
name, so that ``bench/compare.py`` can compare two runs image by image. A benchmark, not
a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import report  # noqa: E402


def load_folder(root: Path, limit: int | None):
    """The folder's rows (model.reading.folder), or a fixed sample of ``limit`` of them."""
    from model.reading.folder import read_folder

    folder = read_folder(root)
    if limit and limit < len(folder):
        folder = folder.subset(sorted(np.random.default_rng(0).permutation(len(folder))[:limit]))
    return folder


def prepare_all(folder, height: int, raw: bool, prep=None, ways: int | None = None):
    """Each image prepared the ways model.read tries (``--raw``: polarity and height only;
    ``prep``: from this PrepConfig; ``ways``: only the first this many), or None where it
    cannot be read; and how many could not."""
    from model.reading.folder import prepare_folder_ways

    prepared = prepare_folder_ways(folder, height, skip_unreadable=True, log=lambda m: None,
                                   generated=raw, prep=prep, ways=ways)
    images = [None] * len(folder)
    for row, ways in zip(prepared.rows, prepared.ways, strict=True):
        images[row] = ways
    return images, len(prepared.unreadable)


def prep_config(changes: list[str], height: int):
    """The PrepConfig at ``height`` with ``FIELD=VALUE`` changes, typed as each field."""
    import dataclasses

    from model.reading.preprocess import PrepConfig

    kinds = {f.name: f.type for f in dataclasses.fields(PrepConfig)}
    values = {}
    for change in changes:
        name, _, text = change.partition("=")
        if name not in kinds:
            raise SystemExit(f"error: --prep {change}: no PrepConfig field {name!r}")
        kind = kinds[name] if isinstance(kinds[name], str) else kinds[name].__name__
        values[name] = text.lower() in ("1", "true", "yes", "on") if kind == "bool" \
            else int(text) if kind == "int" else float(text)
    return PrepConfig(height=height, **values)


METHODS = ("greedy", "beam", "constrained")


def read_all(model, net, images, constraint, beam_width, only=METHODS):
    """Greedy, beam and constrained strings (those named in `only`; beam always) for every
    image ("" where unreadable), each from the way of preparing it that the model is surest
    of, as model.read does; and the beam reading's calibration signals (NaN where
    unreadable)."""
    from model.decoding import decode
    from model.decoding.constraints import constrained_decode
    from model.decoding.decode import reading_beam
    from model.reading.reader import chosen_signals, most_confident, run_ways

    kept = min(2, beam_width)  # two for the margin; the best reading is the same
    methods = {
        "greedy": lambda logits, lengths: decode(logits, lengths, "greedy"),
        "beam": reading_beam(beam_width, kept),
        "constrained": lambda logits, lengths: constrained_decode(logits, constraint, lengths,
                                                                  beam_width),
    }
    methods = {name: way for name, way in methods.items() if name in only or name == "beam"}
    per_way, entropies = run_ways(images, model, net, methods)
    chosen = {name: most_confident(columns) if columns else [(0, [])] * len(images)
              for name, columns in per_way.items()}
    signals = chosen_signals(per_way["beam"], entropies, chosen["beam"], images)
    return {method: [found[0].text if found else "" for _, found in picks]
            for method, picks in chosen.items()}, signals


def confidences(model, signals):
    """The model's probability of each beam reading, and its confidence as model.read
    reports it (the run's calibrator, if it has one); 0 where unreadable."""
    from model.reading.calibration import probability

    raw = np.nan_to_num(probability(signals), nan=0.0)
    if model.calibrator is None:
        return raw, None
    read = ~np.isnan(signals).any(axis=1)
    calibrated = np.zeros(len(signals))
    if read.any():
        calibrated[read] = model.calibrator(signals[read])
    return raw, calibrated


def confidence_cells(raw, calibrated, right, keep):
    """confidence.summary of the raw and calibrated confidences of the kept images."""
    from model.reading.calibration import summary

    out = {"probability": summary(raw[keep], right[keep])}
    if calibrated is not None:
        out["calibrated"] = summary(calibrated[keep], right[keep])
    return out


def error_grid(path: Path, images, truths, reads, limit: int = 60) -> None:
    """A picture of misread images, each with its label and reading."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = [i for i, (t, r) in enumerate(zip(truths, reads, strict=True))
             if t != r and images[i] is not None][:limit]
    if not wrong:
        return
    cols = 4
    rows = -(-len(wrong) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 0.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{truths[i]} read {reads[i] or '(none)'}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_confidence(report_by_folder: dict) -> None:
    """The beam reading's confidence per folder and half: expected calibration error,
    accuracy at 50/80/100% coverage, coverage at 99% accuracy, and the share of readings at
    confidence >= 0.99 with how many of them are right."""
    print()
    print(f"{'confidence (beam)':<18}{'half':<8}{'kind':<13}{'ECE':>7}{'acc@50':>8}"
          f"{'acc@80':>8}{'acc@100':>8}{'cov@99%':>8}{'>=0.99':>8}{'right':>8}")
    for name, entry in report_by_folder.items():
        for side in ("all", "tune", "report"):
            scores = entry if side == "all" else entry.get(side)
            if not scores or "confidence" not in scores:  # --half reads one half only
                continue
            for kind, s in scores["confidence"].items():
                if not s:
                    continue
                print(f"{name:<18}{side:<8}{kind:<13}{100 * s['ece']:6.2f}%"
                      f"{100 * s['accuracy_at_50']:7.2f}%{100 * s['accuracy_at_80']:7.2f}%"
                      f"{100 * s['accuracy_at_100']:7.2f}%{100 * s['coverage_at_99']:7.2f}%"
                      f"{100 * s['share_at_or_above_0.99']:7.2f}%"
                      f"{100 * s['right_at_or_above_0.99']:7.2f}%")


def print_errors(summaries: dict) -> None:
    """What the beam misread, per folder and half (``model.evaluation.metrics.error_summary``):
    how many of each kind, and the digits most often read as another (truth>read count)."""
    from model.evaluation.metrics import ERROR_KINDS

    heads = {"substituted": "subst", "dropped first": "drop 1st", "dropped inside": "inside",
             "dropped last": "last", "shorter": "shorter", "longer": "longer"}
    print()
    print(f"{'errors (beam)':<18}{'half':<8}{'misread':>8}"
          + "".join(f"{heads[k]:>9}" for k in ERROR_KINDS) + "  most confused (truth>read)")
    for (name, side), s in summaries.items():
        print(f"{name:<18}{side:<8}{s['misread']:>8}"
              + "".join(f"{s['kinds'][k]:>9}" for k in ERROR_KINDS) + "  "
              + ", ".join(f"{a}>{b} {n}" for a, b, n in s["confusions"]))


def plot_confidence(out: Path, name: str, raw, calibrated, right, keep, what: str) -> None:
    """confidence_NAME.png: reliability and risk-coverage of the kept readings, the model's
    probability beside the calibrated confidence."""
    from model.reading.calibration import plot

    out.mkdir(parents=True, exist_ok=True)
    curves = {"model's probability": (raw[keep], right[keep])}
    if calibrated is not None:
        curves["calibrated"] = (calibrated[keep], right[keep])
    plot(out / f"confidence_{name}.png", f"{name}: {what}, beam reading", curves)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folders", type=Path, nargs="+", help="folders with images/ + labels.csv")
    p.add_argument("--limit", type=int, help="read this many images per folder (fixed sample)")
    p.add_argument("--half", choices=("tune", "report"),
                   help="read only this half of each folder (default: whole, scored per half)")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--raw", action="store_true", help="skip model.reading.preprocess (the before)")
    p.add_argument("--prep", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a PrepConfig field for every way, e.g. lines=false, floor=0.1 "
                        "(repeatable): what one step of preparing buys")
    p.add_argument("--ways", type=int, help="prepare each image only the first N ways")
    p.add_argument("--battery", type=Path, metavar="DIR",
                   help="also read a renderings battery (python -m digits.battery) through "
                        "the default path and directly (bench/battery.py has the detail)")
    p.add_argument("--grid", type=Path, help="write a grid of misread images per folder here")
    p.add_argument("--plots", type=Path, metavar="DIR",
                   help="write a reliability diagram and risk-coverage curve per folder here "
                        "(confidence_FOLDER.png)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from model.api import Reader
    from model.decoding.constraints import Constraint
    from model.evaluation.metrics import error_summary, evaluate
    from model.reading.folder import HALVES, half

    model = Reader(args.run, args.beam_width)  # the model as model.read loads it
    net = model.net
    prep = prep_config(args.prep, net.height)
    print(f"model: {model.description}")
    results = {"run": str(args.run), "raw": args.raw, "prep": args.prep, "ways": args.ways,
               "calibrated": model.calibrator is not None, "folders": {}}
    confidence_report = {}
    print(f"{'folder':<18}{'half':<8}{'images':>7}{'unread':>7}  {'greedy':>15}  "
          f"{'beam':>15}  {'constrained':>15}   (exact / CER)")
    for folder in args.folders:
        rows = load_folder(folder, args.limit)
        if args.half:
            rows = rows.half(args.half)
        truths = rows.texts
        start = time.perf_counter()
        images, failed = prepare_all(rows, net.height, args.raw, prep, args.ways)
        lengths = [len(t) for t in truths]
        constraint = Constraint(min_length=min(lengths), max_length=max(lengths))
        reads, signals = read_all(model, net, images, constraint, args.beam_width)
        raw, calibrated = confidences(model, signals)
        right = np.array([t == r for t, r in zip(truths, reads["beam"], strict=True)])
        seconds = time.perf_counter() - start
        entry = {"images": len(rows), "unreadable": failed, "seconds": seconds,
                 "constraint": constraint.describe()}
        sides = np.array([half(n) for n in rows.names])
        for side in ("all", *HALVES) if args.half is None else (args.half,):
            keep = np.ones(len(rows), bool) if side == "all" else sides == side
            scores = {"images": int(keep.sum()),
                      "unreadable": sum(images[i] is None for i in np.flatnonzero(keep))}
            kept = [t for t, k in zip(truths, keep, strict=True) if k]
            kept_reads = {method: [t for t, k in zip(texts, keep, strict=True) if k]
                          for method, texts in reads.items()}
            cells = []
            for method, texts in kept_reads.items():
                m = evaluate(kept, texts)
                scores[method] = {"exact": m["exact"], "cer": m["cer"]}
                cells.append(f"{100 * m['exact']:6.2f}% / {100 * m['cer']:5.2f}%")
            scores["confidence"] = confidence_cells(raw, calibrated, right, keep)
            if side != "all":
                scores["errors"] = error_summary(kept, kept_reads["beam"])
            if side == "all":
                entry.update(scores)
            else:
                entry[side] = scores
            print(f"{folder.name:<18}{side:<8}{scores['images']:>7}{scores['unreadable']:>7}  "
                  + "  ".join(cells), flush=True)
        # Each misread image by name, so that two runs can be compared image by image.
        entry["misread"] = [{"file_name": n, "half": str(h), "text": t, "beam": b}
                            for n, h, t, b in zip(rows.names, sides, truths, reads["beam"],
                                                  strict=True) if t != b]
        confidence_report[folder.name] = entry
        if args.plots:
            shown = args.half or "report"
            plot_confidence(args.plots, folder.name, raw, calibrated, right,
                            sides == shown, f"{shown} half")
        results["folders"][folder.name] = entry
        if args.grid:
            args.grid.mkdir(parents=True, exist_ok=True)
            error_grid(args.grid / f"errors_{folder.name}.png",
                       [ways[0] if ways else None for ways in images], truths,
                       reads["constrained"])
    print_confidence(confidence_report)
    print_errors({(name, side): entry[side]["errors"]
                  for name, entry in confidence_report.items() for side in HALVES
                  if side in entry})
    if args.battery:
        from battery import misread, print_table, read_battery, table

        read = read_battery(model, net, args.battery, args.beam_width, args.limit, prep,
                            args.ways)
        overall = table(read)
        print()
        print_table("renderings battery", {"overall": overall["overall"],
                                           **overall["kinds"]})
        results["battery"] = {"dir": str(args.battery), "overall": overall["overall"],
                              "kinds": overall["kinds"], "misread": misread(read)}
        entry = {}
        for path in ("default", "direct"):
            raw, calibrated = confidences(model, read[path]["signals"])
            right = np.array([t == r for t, r in zip(read["truths"], read[path]["beam"],
                                                        strict=True)])
            entry[path] = {"confidence": confidence_cells(raw, calibrated, right,
                                                          np.ones(len(right), bool))}
            if args.plots:
                plot_confidence(args.plots, f"battery-{path}", raw, calibrated, right,
                                np.ones(len(right), bool), f"renderings battery, {path}")
        print_confidence({"battery " + k: v for k, v in entry.items()})
        results["battery"]["confidence"] = {k: v["confidence"] for k, v in entry.items()}
        results["battery"]["errors"] = {path: error_summary(read["truths"], read[path]["beam"])
                                        for path in ("default", "direct")}
        print_errors({("battery", path): s for path, s in results["battery"]["errors"].items()})
    return report(results, "real.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
