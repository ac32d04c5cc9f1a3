"""Benchmark fine-tuning on a real labelled folder: a fixed half before and after.

    python bench/finetune.py RUN_DIR FOLDER [--json [FILE]] [--run-dir DIR] [ICR FLAGS...]

The folder (``images/`` + ``labels.csv``) is cut into its two fixed halves
(``model.reading.folder.half``, the split every real-folder figure uses): A is the tune
half, B the report half. The cut depends on nothing but the file names, so every run and
every machine gets the same halves, and it is salted differently from the validation
hold-out inside fine-tuning.

1. B is prepared once, each way ``model.read`` tries (``model.reading.preprocess``), and read by
   RUN_DIR's model three ways: greedy, beam, and beam constrained to the lengths of A's
   labels, keeping per image the way the model is surest of.
2. RUN_DIR is fine-tuned on A through ``python -m model.icr A --from RUN_DIR`` itself
   (``model.icr.main``, on a temporary labelled folder of links to A's images), with the
   fine-tuning defaults unless ICR FLAGS (e.g. ``--epochs 5 --no-augment``) say otherwise.
3. The fine-tuned model reads B the same three ways.

Prints exact accuracy and CER before and after, the wall times, and the command that
reproduces it; ``--json`` prints the results as one JSON document instead (``--json FILE``:
also writes them there). The fine-tuned run stays in ``--run-dir`` (default
runs/finetune-FOLDER, overwritten). A benchmark, not a test.
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


def halves(names: list[str]) -> tuple[list[int], list[int]]:
    """Row indices of halves A (the tune half) and B (the report half)."""
    from model.reading.folder import half

    sides = [half(n) for n in names]
    return ([i for i, s in enumerate(sides) if s == "tune"],
            [i for i, s in enumerate(sides) if s == "report"])


def link_folder(folder, rows: list[int], out: Path, labels: bool = True) -> Path:
    """A folder at ``out`` holding the given rows: links to the original images, under the
    same file names, and (``labels``) their labels.csv."""
    import csv

    out.mkdir(parents=True)
    for i in rows:
        link = out / folder.names[i]
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(folder.files[i]).resolve())
    if labels:
        with open(out / "labels.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", "text"])
            writer.writerows([folder.names[i], folder.texts[i]] for i in rows)
    return out


def score(model, net, images, truths, constraint, beam_width: int) -> dict:
    """Exact accuracy and CER of greedy, beam and constrained readings (bench/real.py's)."""
    from model.evaluation.metrics import evaluate
    from real import read_all

    reads, _ = read_all(model, net, images, constraint, beam_width)
    return {method: {k: evaluate(truths, texts)[k] for k in ("exact", "cer")}
            for method, texts in reads.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("folder", type=Path, help="a labelled folder: images/ + labels.csv")
    p.add_argument("--run-dir", type=Path, help="where the fine-tuned run goes (default "
                   "runs/finetune-FOLDER; overwritten)")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="print the results as JSON instead of a table (FILE: also write them)")
    args, icr_flags = p.parse_known_args(argv)

    from digits.errors import DataError
    from model.decoding.constraints import Constraint
    from model.icr import main as icr
    from model.reading.folder import read_folder
    from model.runs import load_run
    from real import prepare_all

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    start = time.perf_counter()
    try:
        folder = read_folder(args.folder)
        base, net, _ = load_run(args.run)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a, b = halves(folder.names)
    lengths = [len(folder.texts[i]) for i in a]
    constraint = Constraint(min_length=min(lengths), max_length=max(lengths))
    run_dir = args.run_dir or ROOT / "runs" / f"finetune-{args.folder.resolve().name}"
    results = {"run": str(args.run), "folder": str(args.folder), "images": len(folder),
               "half_a": len(a), "half_b": len(b),
               "halves": "model.reading.folder.half: A the tune half (fine-tuning), B the "
                         "report half (scored)",
               "constraint": constraint.describe(), "icr_flags": icr_flags,
               "fine_tuned_run": str(run_dir)}
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as scratch:
        scratch = Path(scratch)
        t = time.perf_counter()
        say(f"preparing half B ({len(b):,} images)")
        # Prepared the ways model.read tries; unreadable images stay in the score, as
        # misread (read_all reads them as "").
        images, _ = prepare_all(folder.subset(b), net.height, raw=False)
        truths = [folder.texts[i] for i in b]
        results["prepare_b_s"] = time.perf_counter() - t
        results["before"] = score(base, net, images, truths, constraint, args.beam_width)

        half_a = link_folder(folder, a, scratch / f"{args.folder.resolve().name}-half-a")
        t = time.perf_counter()
        say(f"fine-tuning {args.run} on half A ({len(a):,} images) into {run_dir}")
        with contextlib.redirect_stdout(sys.stderr):  # its tables are progress here
            status = icr([str(half_a), "--from", str(args.run), "--run-dir", str(run_dir),
                          "--overwrite", *icr_flags])
        if status != 0:
            return status
        results["finetune_s"] = time.perf_counter() - t
        tuned, _, config = load_run(run_dir)
        results["finetune"] = {"train": config["train"], "images": {
            k: v if isinstance(v, int) else len(v) for k, v in config["images"].items()
            if k != "val_rule"}}
        results["after"] = score(tuned, net, images, truths, constraint, args.beam_width)
    results["wall_s"] = time.perf_counter() - start

    if args.json == "-":
        with contextlib.redirect_stdout(sys.stderr):
            report(results, "finetune.py", argv, None)
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.folder.name}: fine-tuned on half A ({len(a):,} images), scored on half B "
          f"({len(b):,})")
    print(f"{'':<8}{'greedy':>17}{'beam':>17}{'constrained':>17}   (exact / CER)")
    for when in ("before", "after"):
        print(f"{when:<8}" + "".join(
            f"{100 * results[when][m]['exact']:8.2f}% /{100 * results[when][m]['cer']:6.2f}%"
            for m in ("greedy", "beam", "constrained")))
    print(f"wall {results['wall_s']:.0f} s (preparing B {results['prepare_b_s']:.0f} s, "
          f"fine-tuning {results['finetune_s']:.0f} s)")
    return report(results, "finetune.py", argv, Path(args.json) if args.json not in (None, "-")
                  else None)


if __name__ == "__main__":
    sys.exit(main())
