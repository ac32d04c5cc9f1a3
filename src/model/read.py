"""Read handwritten numbers from image files.

    python -m model.read IMAGE... [--run RUN_DIR] [--top-k K] [--json]
        [--length N | --min-length A --max-length B] [--pattern REGEX] [--allow DIGITS]
        [--debug-dir DIR] [--as-generated]

Per image: the digit string and its confidence (the model's probability of that string),
one line each, or JSON with --json. Without --run: the most recent finished run under
runs/, else models/mnist-crnn, the model the repository ships. A bad image
is reported on stderr and the others are still read; the exit status is then 1. Usage
errors (a bad constraint, no model) exit 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from digits.cli import Parser, fail
from digits.errors import DataError
from model.reading.reader import make_constraint
from model.runs import choose_run


def build_parser() -> Parser:
    p = Parser(prog="python -m model.read", description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, BMP, TIFF, ...")
    p.add_argument("--run", type=Path, help="a finished run directory (default: the most "
                   "recent under runs/, else models/mnist-crnn)")
    p.add_argument("--top-k", type=int, default=1, help="alternatives per image (default 1)")
    p.add_argument("--beam-width", type=int, default=10, help="prefix beam width (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--debug-dir", type=Path, help="save each preprocessing step here")
    p.add_argument("--as-generated", action="store_true",
                   help="the images already look like the training sequences (white ink "
                        "on black, e.g. from digits.sequence_generator): skip the "
                        "preprocessing for scans and photos, only fix polarity and height")
    c = p.add_argument_group("constraints (a beam search that keeps only valid prefixes)")
    c.add_argument("--length", type=int, help="exactly N digits")
    c.add_argument("--min-length", type=int, help="at least N digits")
    c.add_argument("--max-length", type=int, help="at most N digits")
    c.add_argument("--pattern", help=r"a regular expression over digits, e.g. '\d{8}'")
    c.add_argument("--allow", help="the only digits that may appear, e.g. 0123")
    return p


def print_results(results: list, as_json: bool, top_k: int) -> None:
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return
    for r in results:
        if r.error is not None:
            continue
        print(f"{r.path}\t{r.text}\t{r.confidence:.4f}")
        if top_k > 1:
            for text, conf in r.alternatives[1:]:
                print(f"  {text}\t{conf:.4f}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.top_k < 1 or args.beam_width < args.top_k:
        return fail("--top-k must be at least 1 and at most --beam-width")
    try:
        constraint = make_constraint(args)
        run = choose_run(args.run)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from model.runs import load_run

        model, net, _ = load_run(run)
    except DataError as e:
        return fail(str(e))
    from model.reading.reader import read_images

    results = read_images(args.images, model, net, constraint, args.top_k, args.beam_width,
                          args.debug_dir, generated=args.as_generated)
    for r in results:
        if r.error is not None:
            message = r.error if r.error.startswith(r.path) else f"{r.path}: {r.error}"
            print(f"error: {message}", file=sys.stderr)
    print_results(results, args.json, args.top_k)
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
