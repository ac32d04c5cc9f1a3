"""Benchmark the reading path on a renderings battery (``python -m digits.battery``): each
number read from its rendering through model.read's preparation, and from its composed
image as a generated one, per rendering kind.

    python bench/battery.py RUN_DIR BATTERY_DIR [--beam-width 10] [--json FILE]
        [--sheet FILE] [--grid DIR]

``images/`` goes through ``model.reading.preprocess`` the six ways model.read tries (the
surest reading kept), ``direct/`` through ``as_generated`` (polarity and height only, as
``model.read --as-generated``); both are decoded as model.read decodes (beam, no
constraint). Prints exact accuracy and CER for both per rendering kind (every image whose
rendering includes it), per rendering, and overall, with the difference in points: what
rendering and preparing cost over reading the clean composition. A third column, the
control, prepares ``direct/`` as the default path prepares a scan (``generated_look`` off:
the default path reads an image that looks generated as generated): what preparing costs on
the composition itself (faint, thinned synthetic strokes), before any rendering. A
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import report  # noqa: E402
from real import prep_config, prepare_all, read_all  # noqa: E402

DECODER = "beam"  # what model.read prints without a constraint
# images/ through the default path; direct/ as generated images; direct/ through the
# default path (the control: what preparing costs before any rendering).
PATHS = ("default", "direct", "control")


def read_battery(model, net, battery: Path, beam_width: int = 10, limit: int | None = None,
                 prep=None, ways: int | None = None) -> dict:
    """Read a battery both ways (the default path from ``prep``, a PrepConfig, and only its
    first ``ways`` ways if given: bench/real.py's --prep and --ways).

    Returns:
        {"names", "truths", "renderings": per image, "default"/"direct"/"control":
        {"texts": per image ("" where unreadable), "unreadable": count, "seconds"}, "ways":
        the prepared images of the default path (for ``--grid``)}. "control" reads direct/
        through the default path: what the preparation costs on the composition itself,
        before any rendering.
    """
    from digits.battery import direct_folder, read_renderings
    from model.decoding.constraints import Constraint
    from model.reading.folder import read_folder
    from model.reading.preprocess import PrepConfig

    rendered, direct = read_folder(battery), read_folder(direct_folder(battery))
    if limit and limit < len(rendered):
        rendered, direct = rendered.subset(range(limit)), direct.subset(range(limit))
    if rendered.texts != direct.texts:
        raise SystemExit(f"{battery}: images/ and direct/ hold different labels")
    kinds = read_renderings(battery)
    constraint = Constraint(min_length=1, max_length=max(len(t) for t in rendered.texts))
    out = {"names": rendered.names, "truths": rendered.texts,
           "renderings": [kinds[n] for n in rendered.names]}
    # The control prepares the clean images even though they look generated: the default
    # path reads those as generated, which would make it the direct reading again.
    control = dataclasses.replace(prep or PrepConfig(height=net.height), generated_look=False)
    for path, folder, generated, how in (("default", rendered, False, prep),
                                         ("direct", direct, True, prep),
                                         ("control", direct, False, control)):
        start = time.perf_counter()
        images, failed = prepare_all(folder, net.height, generated, how, ways)
        reads, signals = read_all(model, net, images, constraint, beam_width)
        out[path] = {"texts": reads[DECODER], "greedy": reads["greedy"], "beam": reads["beam"],
                     "signals": signals, "unreadable": failed,
                     "seconds": time.perf_counter() - start}
        if path == "default":
            out["ways"] = images
    return out


def score(truths, texts) -> dict:
    from model.evaluation.metrics import evaluate

    m = evaluate(truths, texts)
    return {"images": len(truths), "exact": m["exact"], "cer": m["cer"]}


def table(read: dict) -> dict:
    """{"overall", "kinds", "renderings"}: each group's scores per path and the exact
    difference in points (default minus direct)."""
    from digits.battery import KINDS

    truths, names = read["truths"], read["renderings"]

    def group(keep) -> dict:
        idx = [i for i, n in enumerate(names) if keep(n)]
        pick = [truths[i] for i in idx]
        entry = {p: score(pick, [read[p]["texts"][i] for i in idx]) for p in PATHS}
        entry["points"] = 100 * (entry["default"]["exact"] - entry["direct"]["exact"])
        return entry

    return {"overall": group(lambda n: True),
            "kinds": {k: group(lambda n, k=k: k in n.split("+")) for k in KINDS
                      if any(k in n.split("+") for n in names)},
            "renderings": {r: group(lambda n, r=r: n == r) for r in sorted(set(names))}}


def misread(read: dict) -> list[dict]:
    """Each image some path misread, by name, with every path's reading: two runs' files
    compare image by image (bench/compare.py)."""
    return [{"file_name": n, "text": t, "rendering": r,
             **{p: read[p]["texts"][i] for p in PATHS}}
            for i, (n, t, r) in enumerate(zip(read["names"], read["truths"],
                                              read["renderings"], strict=True))
            if any(read[p]["texts"][i] != t for p in PATHS)]


def print_table(title: str, rows: dict) -> None:
    print(f"{title:<26}{'images':>7}  {'default path':>16}  {'direct':>16}  {'points':>7}"
          f"  {'control':>16}   (exact / CER)")
    for name, e in rows.items():
        cells = [f"{100 * e[p]['exact']:6.2f}% / {100 * e[p]['cer']:5.2f}%" for p in PATHS]
        print(f"{name:<26}{e['default']['images']:>7}  {cells[0]:>16}  {cells[1]:>16}  "
              f"{e['points']:>+7.2f}  {cells[2]:>16}")


def contact_sheet(battery: Path, file: Path, count: int = 30, columns: int = 3,
                  row_height: int = 64) -> None:
    """A PNG of the first ``count`` rendered images, each scaled to ``row_height`` (at most
    300 pixels wide) on a mid-grey ground, with its rendering and label under it."""
    from PIL import Image, ImageDraw

    from digits.battery import read_renderings
    from model.reading.folder import read_folder

    folder = read_folder(battery)
    kinds = read_renderings(battery)
    cell_w, cell_h = 320, row_height + 18
    n = min(count, len(folder))
    sheet = Image.new("L", (columns * cell_w, -(-n // columns) * cell_h), 128)
    draw = ImageDraw.Draw(sheet)
    for i in range(n):
        image = Image.open(folder.files[i]).convert("L")
        scale = min(row_height / image.height, 300 / image.width)
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.LANCZOS)
        x, y = (i % columns) * cell_w + 10, (i // columns) * cell_h
        sheet.paste(image, (x, y + 2))
        draw.text((x, y + row_height + 4), f"{folder.texts[i]}  {kinds[folder.names[i]]}",
                  fill=255)
    sheet.save(file)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished run directory")
    p.add_argument("battery", type=Path, help="a battery written by python -m digits.battery")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--limit", type=int, help="read only the first N images")
    p.add_argument("--prep", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a PrepConfig field of the default path (as bench/real.py)")
    p.add_argument("--ways", type=int, help="prepare each image only the first N ways")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--sheet", type=Path, help="write a contact sheet of 30 renderings here")
    p.add_argument("--grid", type=Path, help="write a grid of misread renderings here "
                                             "(as the default path prepared them)")
    args = p.parse_args(argv)

    from model.api import Reader

    if args.sheet:
        contact_sheet(args.battery, args.sheet)
    model = Reader(args.run, args.beam_width)
    print(f"model: {model.description}")
    read = read_battery(model, model.net, args.battery, args.beam_width, args.limit,
                        prep_config(args.prep, model.net.height), args.ways)
    results = table(read)
    print_table("rendering kind", results["kinds"])
    print()
    print_table("rendering", results["renderings"])
    print()
    print_table("", {"overall": results["overall"]})
    for path in PATHS:
        n = len(read["truths"])
        print(f"{path}: {read[path]['unreadable']} unreadable, {read[path]['seconds']:.1f} s "
              f"to prepare and read ({1000 * read[path]['seconds'] / n:.0f} ms per image)")
    if args.grid:
        from real import error_grid

        args.grid.mkdir(parents=True, exist_ok=True)
        error_grid(args.grid / "errors_battery.png",
                   [ways[0] if ways else None for ways in read["ways"]], read["truths"],
                   read["default"]["texts"])
    results.update({"run": str(args.run), "battery": str(args.battery), "decoder": DECODER,
                    "seconds": {p: read[p]["seconds"] for p in PATHS},
                    "unreadable": {p: read[p]["unreadable"] for p in PATHS},
                    "misread": misread(read)})
    return report(results, "battery.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
