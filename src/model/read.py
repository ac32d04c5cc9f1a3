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
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digits.cli import PROJECT_ROOT, Parser, fail
from digits.errors import DataError

RUNS_DIR = PROJECT_ROOT / "runs"
SHIPPED_RUN = PROJECT_ROOT / "models" / "mnist-crnn"


@dataclass
class Result:
    """One image's reading, or its error."""

    path: str
    text: str | None = None
    confidence: float | None = None
    alternatives: list[tuple[str, float]] | None = None
    error: str | None = None
    # What the model saw: (height, width) uint8, white ink on black (model.serve shows it).
    image: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"image": self.path, "error": self.error}
        return {"image": self.path, "text": self.text, "confidence": self.confidence,
                "alternatives": [{"text": t, "confidence": c} for t, c in self.alternatives]}


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


def latest_run(runs_dir: Path | None = None) -> Path | None:
    """The finished run (one with model.keras) under ``runs_dir`` (runs/) written last."""
    runs_dir = RUNS_DIR if runs_dir is None else runs_dir
    finished = [m.parent for m in runs_dir.glob("*/model.keras") if m.is_file()]
    return max(finished, key=lambda d: (d / "model.keras").stat().st_mtime, default=None)


def choose_run(run: Path | None) -> Path:
    if run is not None:
        return run
    found = latest_run()
    if found is not None:
        return found
    if (SHIPPED_RUN / "model.keras").is_file():
        return SHIPPED_RUN
    raise DataError("no trained model: give --run RUN_DIR, or train one with "
                    "`python -m model.icr digits` (from src/)")


def make_constraint(args):
    """The Constraint the flags ask for, or None when none is given."""
    from model.constraints import Constraint

    given = {k: getattr(args, k) for k in ("length", "min_length", "max_length", "pattern",
                                            "allow")}
    if all(v is None for v in given.values()):
        return None
    try:
        return Constraint(**given)
    except ValueError as e:
        raise DataError(str(e)) from None


def save_steps(debug_dir: Path, path: str, steps: dict) -> None:
    from PIL import Image

    stem = Path(path).stem
    debug_dir.mkdir(parents=True, exist_ok=True)
    for label, image in steps.items():
        Image.fromarray(image).save(debug_dir / f"{stem}.{label}.png")


def prepare_ways(gray, prep, name: str = "image", keep_steps: bool = False,
                 generated: bool = False) -> list:
    """The image prepared each way reading tries (``model.preprocess.read_variants``; one
    way for ``generated`` images), as ``Prepared``, None where a further way finds no ink.

    Raises:
        ImageError: the first way, the default, finds no ink: the image's own error.
    """
    from model.preprocess import as_generated, read_variants
    from model.preprocess import prepare_ways as prepare_each

    if generated:
        return [as_generated(gray, prep.height, name)]
    return prepare_each(gray, read_variants(prep), name, keep_steps)


def most_confident(per_way: Sequence[Sequence[list | None]]) -> list[tuple[int, list]]:
    """Per image, the readings of the way whose best reading the model is surest of.

    Args:
        per_way: ``per_way[w][i]``: image i's readings (best first) when prepared the w-th
            way; None or [] where that way gave none.

    Returns:
        ``(w, readings)`` per image; ``(0, [])`` where no way gave a reading. Ties go to
        the earlier way.
    """
    chosen = []
    for i in range(len(per_way[0])):
        best_way, best = 0, []
        for w, readings in enumerate(column[i] for column in per_way):
            if readings and (not best or readings[0].score > best[0].score):
                best_way, best = w, readings
        chosen.append((best_way, best))
    return chosen


def read_ways(ways: Sequence[Sequence | None], model, net, decoders: dict,
              batch: int = 64) -> dict[str, list[tuple[int, list]]]:
    """Run the model on every way each image was prepared, once, and keep per image the
    way whose best reading the model is surest of, for each decoder.

    Args:
        ways: ``ways[i][w]``: image i prepared the w-th way, (height, width) uint8; None
            where that way, or the whole image (``ways[i]``), gave nothing.
        decoders: name -> ``f(logits, lengths)`` returning readings per row, best first
            (``model.ctc.decode``, ``model.constraints.constrained_decode``).
        batch: images per model call.

    Returns:
        name -> ``(w, readings)`` per image, as ``most_confident`` gives it.
    """
    import numpy as np

    from model.data import pad_images

    per_way: dict[str, list] = {name: [] for name in decoders}
    for w in range(max((len(each) for each in ways if each), default=0)):
        columns: dict[str, list] = {name: [None] * len(ways) for name in decoders}
        which = [i for i, each in enumerate(ways) if each and each[w] is not None]
        for start in range(0, len(which), batch):
            chunk = which[start:start + batch]
            images = [ways[i][w] for i in chunk]
            logits = np.asarray(model(pad_images(images, np.float32), training=False))
            lengths = [net.time_steps(im.shape[1]) for im in images]
            for name, decode in decoders.items():
                for i, readings in zip(chunk, decode(logits, lengths), strict=True):
                    columns[name][i] = readings
        for name in decoders:
            per_way[name].append(columns[name])
    return {name: most_confident(columns) if columns else [(0, [])] * len(ways)
            for name, columns in per_way.items()}


def read_images(paths: Sequence[str | os.PathLike | bytes], model, net, constraint=None,
                top_k: int = 1, beam_width: int = 10, debug_dir: Path | None = None, prep=None,
                names: Sequence[str] | None = None, generated: bool = False) -> list[Result]:
    """Preprocess each image the ways reading tries, run the model on all of them, and
    keep per image the reading the model is surest of.

    Args:
        paths: image files, or their bytes (an upload to model.serve).
        names: what each Result calls its image (default: the path as given).
        generated: the images look like the training sequences already: only polarity
            and height are fixed (``model.preprocess.as_generated``), not ``prepare``.

    Returns:
        One Result per path, in order, with the model's input image for the kept reading;
        unreadable images carry their error.
    """
    from model.images import open_gray
    from model.preprocess import PrepConfig

    prep = prep or PrepConfig(height=net.height)
    names = [str(p) for p in paths] if names is None else list(names)
    results = [Result(name) for name in names]
    ready: list[tuple[int, list]] = []
    for i, (source, name) in enumerate(zip(paths, names, strict=True)):
        try:
            ways = prepare_ways(open_gray(source), prep, name, debug_dir is not None,
                                generated)
        except DataError as e:
            results[i].error = str(e)
            continue
        if debug_dir is not None:
            save_steps(debug_dir, name, ways[0].steps)
        ready.append((i, [w.image if w is not None else None for w in ways]))
    if constraint is not None:
        from model.constraints import constrained_decode

        def decode(logits, lengths):
            return constrained_decode(logits, constraint, lengths, beam_width, top_k)
    else:
        from model.ctc import decode as ctc_decode

        def decode(logits, lengths):
            return ctc_decode(logits, lengths, "beam", beam_width, top_k)
    chosen = read_ways([ways for _, ways in ready], model, net, {"read": decode})["read"]
    for (i, ways), (w, found) in zip(ready, chosen, strict=True):
        results[i].image = ways[w]
        if debug_dir is not None:
            from PIL import Image

            debug_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ways[w]).save(debug_dir / f"{Path(names[i]).stem}.9_read.png")
        if not found:
            results[i].error = (f"{names[i]}: no reading satisfies the constraint "
                                f"({constraint.describe()})")
            continue
        results[i].text = found[0].text
        results[i].confidence = float(f"{math.exp(found[0].score):.4g}")
        results[i].alternatives = [(r.text, float(f"{math.exp(r.score):.4g}")) for r in found]
    return results


def print_results(results: list[Result], as_json: bool, top_k: int) -> None:
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
        from model.evaluate import load_run

        model, net, _ = load_run(run)
    except DataError as e:
        return fail(str(e))
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
