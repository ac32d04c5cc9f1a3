"""What a user might pick instead: Tesseract 5 with a digits whitelist, on the same 2,000
test sequences as the other benchmarks.

    python bench/tesseract.py [--mnist PATH] [--json FILE]

Needs the ``tesseract`` program (Debian: ``apt-get install tesseract-ocr``; installed here
through apt when missing and running as root). Images are given as Tesseract expects them:
dark ink on white, upscaled 2x, with a white border. Every page-segmentation mode that
suits a single line is tried on the first 200 sequences and the best is run on all 2,000.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import report, test_sequences
from model.evaluation.metrics import evaluate

MODES = {6: "uniform block", 7: "single line", 8: "single word", 13: "raw line"}


def ensure_tesseract() -> str:
    found = shutil.which("tesseract")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing tesseract-ocr with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "tesseract-ocr"], check=False,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("tesseract")
    if not found:
        sys.exit("tesseract is not installed: apt-get install tesseract-ocr")
    return found


def read_all(tesseract: str, files: list[Path], psm: int, workdir: Path) -> list[str]:
    """One Tesseract process over a list of images; pages come back separated by \\f."""
    listing = workdir / f"list-{psm}.txt"
    listing.write_text("\n".join(map(str, files)) + "\n")
    out = subprocess.run([tesseract, str(listing), "stdout", "--psm", str(psm),
                          "-c", "tessedit_char_whitelist=0123456789"],
                         capture_output=True, text=True, check=True).stdout
    pages = out.split("\f")[: len(files)]
    pages += [""] * (len(files) - len(pages))
    return ["".join(ch for ch in page if ch.isdigit()) for page in pages]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    from PIL import Image, ImageOps

    tesseract = ensure_tesseract()
    images, texts, source = test_sequences(args.mnist)
    version = subprocess.run([tesseract, "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        files = []
        for i, image in enumerate(images):
            page = ImageOps.invert(Image.fromarray(image))
            page = page.resize((page.width * 2, page.height * 2), Image.BICUBIC)
            page = ImageOps.expand(page, border=20, fill=255)
            files.append(workdir / f"{i:05d}.png")
            page.save(files[-1])
        trial = {psm: evaluate(texts[:200], read_all(tesseract, files[:200], psm, workdir))
                 for psm in MODES}
        best = max(trial, key=lambda m: (trial[m]["exact"], -trial[m]["cer"]))
        full = evaluate(texts, read_all(tesseract, files, best, workdir))
    print(f"{version} on {len(images):,} five-digit test sequences from {source} MNIST")
    for psm, m in trial.items():
        print(f"  psm {psm:>2} ({MODES[psm]}), first 200: exact {100 * m['exact']:.1f}%, "
              f"CER {100 * m['cer']:.1f}%")
    print(f"best psm {best}, all {len(images):,}: exact {100 * full['exact']:.2f}%, "
          f"CER {100 * full['cer']:.2f}%")
    results = {"version": version, "source": source, "best_psm": best, "exact": full["exact"],
               "cer": full["cer"], "trial": {str(k): v for k, v in trial.items()}}
    return report(results, "tesseract.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
