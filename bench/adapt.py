"""Benchmark unsupervised adaptation (``python -m model.adapt``) on labelled folders.

    python bench/adapt.py RUN_DIR FOLDER... [--transductive] [--battery DIR]
        [--work DIR] [--json FILE] [ADAPT FLAGS...]

Per folder (``images/`` + ``labels.csv``):

* inductive: the tune half's images, without labels.csv, are adapted to through
  ``model.adapt.main`` itself (a temporary folder of links); the original and the adapted
  run then read the report half as ``model.read`` reads it (``model.api.Reader``).
* ``--transductive``: every image of the folder, without labels, is adapted to, and all
  of them are read.

``--battery DIR`` adapts to a renderings battery (``python -m digits.battery``) and reads it
whole: a model that already reads it well must be kept by the guard. Prints exact accuracy
and CER before and after, the adaptation's wall time and what its guard kept, the machine
and the command. The adapted runs stay under ``--work`` (default runs/bench-adapt). A
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import ROOT, report  # noqa: E402
from finetune import halves, link_folder  # noqa: E402


def exact(run, folder, rows) -> dict:
    """Exact accuracy and CER of ``run`` reading the rows as model.read reads them."""
    from model.api import Reader
    from model.evaluation.metrics import evaluate

    results = Reader(run).results([folder.files[i] for i in rows])
    m = evaluate([folder.texts[i] for i in rows], [r.text or "" for r in results])
    return {"images": len(rows), "exact": m["exact"], "cer": m["cer"]}


def measure(run: Path, folder, adapt_rows, read_rows, out: Path, flags, scratch: Path,
            name: str) -> dict:
    from model.adapt import main as adapt
    from model.runs import load_run

    source = link_folder(folder, adapt_rows, scratch / name, labels=False)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        status = adapt([str(source), "--from", str(run), "--run-dir", str(out),
                        "--overwrite", *flags])
    if status != 0:
        raise SystemExit(status)
    seconds = time.perf_counter() - start
    _, _, config = load_run(out)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"adapted_images": len(adapt_rows), "adapt_s": round(seconds, 1),
            "kept": config["kept"], "guard": metrics["guard"],
            "pseudo_labels": [r["pseudo_labels"] for r in config["rounds"]],
            "before": exact(run, folder, read_rows), "after": exact(out, folder, read_rows),
            "run": str(out)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folders", type=Path, nargs="*", help="labelled folders")
    p.add_argument("--transductive", action="store_true",
                   help="also adapt to every image of each folder and read them all")
    p.add_argument("--battery", type=Path, help="also adapt to a renderings battery")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-adapt",
                   help="where the adapted runs go (overwritten)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args, flags = p.parse_known_args(argv)

    from model.reading.folder import read_folder

    results = {"run": str(args.run), "flags": flags, "folders": {}}
    cases = []
    for root in args.folders:
        folder = read_folder(root)
        tune, report_rows = halves(folder.names)
        cases.append((root.name, "inductive", folder, tune, report_rows))
        if args.transductive:
            every = list(range(len(folder)))
            cases.append((root.name, "transductive", folder, every, every))
    if args.battery:
        folder = read_folder(args.battery)
        every = list(range(len(folder)))
        cases.append(("battery", "transductive", folder, every, every))
    with tempfile.TemporaryDirectory(prefix="bench-adapt-") as scratch:
        for name, how, folder, adapt_rows, read_rows in cases:
            print(f"{name} {how}: adapting to {len(adapt_rows):,} images", file=sys.stderr,
                  flush=True)
            entry = measure(args.run, folder, adapt_rows, read_rows,
                            args.work / f"{name}-{how}", flags, Path(scratch),
                            f"{name}-{how}")
            results["folders"][f"{name} {how}"] = entry
            print(f"{name:<16}{how:<13} adapt {entry['adapted_images']:>5} read "
                  f"{entry['before']['images']:>5}: exact {100 * entry['before']['exact']:6.2f}%"
                  f" -> {100 * entry['after']['exact']:6.2f}%, CER "
                  f"{100 * entry['before']['cer']:5.2f}% -> {100 * entry['after']['cer']:5.2f}%"
                  f"; kept {entry['kept']}, {entry['adapt_s']:.0f} s", flush=True)
    return report(results, "adapt.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
