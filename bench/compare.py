"""Compare two readings of the same images, image by image: what a change fixed and broke.

    python bench/compare.py BEFORE.json AFTER.json [--json FILE]

BEFORE and AFTER are what ``bench/real.py --json`` or ``bench/battery.py --json`` wrote for
two models (or two settings) on the same folders, halves and battery. For each folder's half,
and for the battery's default path, prints the images, both exact accuracies, the difference
in points, how many images the change read right that were misread before (fixed) and the
reverse (broke), and the exact McNemar test's two-sided p on those two counts: how likely a
difference at least this large is if the change did nothing and the images fell either way
by chance. It measures the images' sampling alone: two training draws of one recipe differ
by more than that (docs/journal.md), so a small p for one draw is no proof of a recipe.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import report  # first: it puts src/ on the path
from model.reading.folder import HALVES


def load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read {path}: {e}") from None
    if not isinstance(data, dict) or not ("folders" in data or "misread" in data):
        raise SystemExit(f"error: {path} is not what bench/real.py or bench/battery.py "
                         "writes with --json")
    return data


def groups(data: dict) -> dict[str, tuple[int, set[str]]]:
    """{name: (images, names of the misread images)} for each folder's half and for the
    battery's default path, as far as the JSON holds them."""
    out = {}
    for folder, entry in data.get("folders", {}).items():
        for side in (s for s in HALVES if s in entry):  # a folder read whole has both
            out[f"{folder} {side}"] = (
                entry[side]["images"],
                {m["file_name"] for m in entry["misread"] if m["half"] == side})
    battery = data.get("battery", {}) if "folders" in data else data
    if "misread" in battery:
        out["battery (default path)"] = (
            battery["overall"]["default"]["images"],
            {m["file_name"] for m in battery["misread"] if m["default"] != m["text"]})
    return out


def mcnemar(fixed: int, broke: int) -> float:
    """The exact McNemar test's two-sided p: the discordant images as fair coin tosses."""
    from scipy.stats import binomtest

    n = fixed + broke
    return 1.0 if n == 0 else float(binomtest(min(fixed, broke), n, 0.5).pvalue)


def compare(before: dict, after: dict) -> dict[str, dict]:
    """Each group both readings hold: images, exact before and after, points, fixed, broke,
    p. Raises SystemExit when one group counts different images in the two."""
    a, b = groups(before), groups(after)
    out = {}
    for name in (n for n in a if n in b):
        (images, wrong_a), (images_b, wrong_b) = a[name], b[name]
        if images != images_b:
            raise SystemExit(f"error: {name}: {images} images before, {images_b} after; "
                             "compare readings of the same images")
        fixed, broke = len(wrong_a - wrong_b), len(wrong_b - wrong_a)
        out[name] = {"images": images, "before": 1 - len(wrong_a) / images,
                     "after": 1 - len(wrong_b) / images,
                     "points": 100 * (len(wrong_a) - len(wrong_b)) / images,
                     "fixed": fixed, "broke": broke, "p": mcnemar(fixed, broke)}
    if not out:
        raise SystemExit("error: the two files hold no folder half or battery in common")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path, help="bench/real.py or bench/battery.py --json output")
    p.add_argument("after", type=Path, help="the same, for the change")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    rows = compare(load(args.before), load(args.after))
    print(f"{'':<28}{'images':>7}{'before':>9}{'after':>9}{'points':>8}{'fixed':>7}"
          f"{'broke':>7}{'p':>8}")
    for name, r in rows.items():
        print(f"{name:<28}{r['images']:>7}{100 * r['before']:>8.2f}%{100 * r['after']:>8.2f}%"
              f"{r['points']:>+8.2f}{r['fixed']:>7}{r['broke']:>7}{r['p']:>8.3f}")
    print("p: exact McNemar on fixed and broke; the images' chance alone, not a training "
          "draw's")
    return report({"before": str(args.before), "after": str(args.after), "groups": rows},
                  "compare.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
