"""Adapt a finished run to a folder of unlabelled images of one's own.

    python -m model.adapt FOLDER [--from RUN_DIR] [--run-dir DIR] [--overwrite]

FOLDER holds images: FOLDER/images/ if present, else FOLDER itself, searched recursively.
A labels.csv beside them is never used to adapt; if present, it is read at the end to
report accuracy before and after. The model of RUN_DIR (default: the shipped model) has
its batch-norm statistics re-estimated on the folder's prepared images, then trains a few
rounds on its own confident, stable readings mixed with synthetic sequences; a guard keeps
the original model when the adapted one does not read the folder more consistently
(model.adaptation.job). The result is an ordinary run directory for model.read --run,
model.export, model.serve and model.icr --from. A killed adaptation leaves nothing
half-written; the same command starts it again.
"""

from __future__ import annotations

import argparse
import os
import sys

from digits.cli import Parser, describe_range, fail, number, path
from digits.errors import DataError
from model.adaptation.job import AdaptConfig

# How each AdaptConfig field is parsed on the command line; a test checks they match.
FLAGS = {"seed": (number(int, 0, 2**31 - 1), "random seed"),
         "adabn": (number(float, 0, 1), "share of the folder's batch-norm statistics in "
                                        "the blend with the training data's (0: off)"),
         "rounds": (number(int, 0, 10), "self-training rounds (0: AdaBN only)"),
         "epochs": (number(int, 1, 100), "training epochs per round"),
         "learning_rate": (number(float, 1e-8, 1e-1), "peak Adam learning rate"),
         "batch_size": (number(int, 1, 1024), "images per batch"),
         "min_confidence": (number(float, 0, 1), "least probability of a pseudo-label"),
         "min_agree": (number(float, 0, 1), "least share of the ways of preparing an image "
                                            "that read its pseudo-label"),
         "synthetic": (number(float, 0, 10), "synthetic sequences per pseudo-labelled image"),
         "extra_ways": (number(int, 0, 5), "other ways of preparing a pseudo-labelled "
                                           "image trained on with its label"),
         "augment": (bool, "light slant, tilt, width and stroke changes of the images"),
         "margin": (number(float, 0, 1), "the guard: least rise of the model's agreement "
                                         "with itself"),
         "max_drift": (number(float, 0, 1), "the guard: most exact accuracy lost on fixed "
                                            "synthetic sequences"),
         "beam_width": (number(int, 1, 100), "prefix beam width of the readings")}


def build_parser() -> Parser:
    p = Parser(prog="python -m model.adapt", description=__doc__.splitlines()[0])
    p.add_argument("folder", type=path, help="a folder of images (FOLDER/images/ or FOLDER)")
    p.add_argument("--from", dest="from_run", type=path, metavar="RUN_DIR",
                   help="the finished run to adapt (default: models/mnist-crnn)")
    p.add_argument("--run-dir", type=path,
                   help="where the adapted run goes (default: runs/adapt-FOLDER, or "
                        "runs/adapt-FOLDER-N when that holds a finished run)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run directory --run-dir holds")
    defaults = AdaptConfig()
    g = p.add_argument_group("adaptation (defaults: model.adaptation.job.AdaptConfig)")
    for name, (kind, text) in FLAGS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction,
                           help=f"{text} (default {'on' if getattr(defaults, name) else 'off'})")
        else:
            g.add_argument(flag, type=kind, help=f"{text} (default {getattr(defaults, name)}; "
                                                 f"{describe_range(kind.low, kind.high)})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from model.adaptation.job import adapt
        from model.runs import choose_run, log, new_run_dir

        cfg = AdaptConfig(**{k: getattr(args, k) for k in FLAGS
                             if getattr(args, k) is not None})
        from_run = choose_run(args.from_run)
        name = f"adapt-{args.folder.resolve().name}"
        run_dir = new_run_dir(name, args.run_dir, True, from_run)
        metrics = adapt(args.folder, from_run, run_dir, cfg, args.overwrite, log)
    except DataError as e:
        return fail(str(e))
    except OSError as e:  # a read-only or full disk
        return fail(f"cannot write {e.filename or 'the run'}: {e.strerror or e}", 1)
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written; rerun the same command", 130)
    print(metrics["guard"])
    original, kept = metrics["original"], metrics["candidates"].get(metrics["kept"])
    print(f"agreement with itself: {100 * original['agreement']:.2f}%"
          + (f" -> {100 * kept['agreement']:.2f}%" if kept else " (kept)"))
    if "accuracy" in metrics:
        acc = metrics["accuracy"]
        print(f"exact on labels.csv (not used to adapt): {100 * acc['original']['exact']:.2f}% "
              f"-> {100 * acc['kept']['exact']:.2f}% ({acc['labelled']:,} images)")
    print(f"run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
