"""Read handwritten numbers from image files.

    python -m model.read IMAGE... [--run RUN_DIR] [--top-k K] [--json]
        [--length N | --min-length A --max-length B] [--pattern REGEX] [--allow DIGITS]
        [--debug-dir DIR] [--as-generated] [--min-confidence P]

Per image: the digit string and its confidence, one line each, or JSON with --json. The
confidence is the chance that the reading is right, calibrated where the run has a
calibrator (python -m model.calibrate; the shipped model has one), else the model's
probability of the string. With --min-confidence P a reading below P is marked unsure (a
fourth column "?" in the text output, "sure": false in JSON) and still given; the exit
status does not change for it. Without --run: models/mnist-crnn, the model the
repository ships (--run latest: the newest finished run under runs/); a line on stderr
says which model read the images (--quiet: none). A bad image
is reported on stderr and the others are still read; the exit status is then 1. Usage
errors (a bad constraint, no model) exit 2.
"""

from __future__ import annotations

import json
import sys

from digits.cli import Parser, fail, number, path
from digits.errors import DataError
from model.decoding.decode import MAX_BEAM
from model.reading.reader import make_constraint

MAX_DIGITS = 64  # a digit-string constraint longer than any number on a form


def build_parser() -> Parser:
    p = Parser(prog="python -m model.read", description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, BMP, TIFF, ...")
    p.add_argument("--run", help="a finished run directory, or 'latest': the newest under "
                                  "runs/ (default: models/mnist-crnn, the shipped model)")
    p.add_argument("--quiet", action="store_true",
                   help="do not say on stderr which model reads the images")
    p.add_argument("--top-k", type=number(int, 1, MAX_BEAM), default=1,
                   help="alternatives per image (default 1)")
    p.add_argument("--beam-width", type=number(int, 1, MAX_BEAM), default=10,
                   help=f"prefix beam width (default 10; at most {MAX_BEAM})")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--min-confidence", type=number(float, 0, 1), default=0.0, metavar="P",
                   help="mark readings whose confidence is below P (0 to 1) unsure: a '?' "
                        "after the confidence, \"sure\": false in JSON (default 0: none)")
    p.add_argument("--debug-dir", type=path, help="save each preprocessing step here")
    p.add_argument("--as-generated", action="store_true",
                   help="read every image as digits.sequence_generator's output: skip the "
                        "preprocessing for scans and photos, only fix polarity, wide margins "
                        "and height (images of light strokes on a flat dark ground are read "
                        "so without it)")
    c = p.add_argument_group("constraints (a beam search that keeps only valid prefixes)")
    digits = number(int, 1, MAX_DIGITS)
    c.add_argument("--length", type=digits, help=f"exactly N digits (1 to {MAX_DIGITS})")
    c.add_argument("--min-length", type=digits, help="at least N digits")
    c.add_argument("--max-length", type=digits, help="at most N digits")
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
        mark = "" if r.sure else "\t?"
        print(f"{r.path}\t{r.text}\t{r.confidence:.4f}{mark}")
        if top_k > 1:
            for text, conf in r.alternatives[1:]:
                print(f"  {text}\t{conf:.4f}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.top_k < 1 or args.beam_width < args.top_k:
        return fail("--top-k must be at least 1 and at most --beam-width")
    try:
        constraint = make_constraint(args)
        if args.debug_dir is not None:
            try:
                args.debug_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DataError(f"cannot write to {args.debug_dir}: {e.strerror}") from None
        from model.api import Reader

        reader = Reader(args.run, args.beam_width, args.min_confidence)
    except DataError as e:
        return fail(str(e))
    if not args.quiet:
        print(f"model: {reader.description}", file=sys.stderr)
    results = reader.results(args.images, constraint, args.top_k, args.beam_width,
                             args.debug_dir, generated=args.as_generated)
    for r in results:
        if r.error is not None:
            message = r.error if r.error.startswith(r.path) else f"{r.path}: {r.error}"
            print(f"error: {message}", file=sys.stderr)
    print_results(results, args.json, args.top_k)
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
