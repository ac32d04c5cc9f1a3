"""Make docs/demo.png: the demo page after writing a number on its pad with a trained model.

    python docs/screenshot.py [RUN_DIR] [--text 31415] [--out docs/demo.png]

Starts ``python -m model.serve RUN_DIR`` (default runs/mnist) on loopback, writes the digits
on the pad in Debian's headless Chromium with mouse strokes (tests/browser.py), waits for the
reading and saves a screenshot of the page. Needs chromium, chromium-driver and selenium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import browser  # noqa: E402
from servers import running  # noqa: E402


def crop(png: bytes, height: int, out: Path) -> None:
    """Save the screenshot without the empty window below the page."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.crop((0, 0, image.width, min(image.height, height))).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", type=Path, default=ROOT / "runs" / "mnist")
    p.add_argument("--text", default="31415", help="the digits to write (default 31415)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.png")
    args = p.parse_args(argv)
    if not args.text.isdigit():
        p.error("--text must be digits")
    reason = browser.missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    with running(args.run) as url, tempfile.TemporaryDirectory() as profile, \
            browser.chromium(Path(profile), width=1280, height=900) as driver:
        driver.get(url + "/")
        browser.write(driver, driver.find_element("id", "pad"), args.text)
        strokes = len(browser.layout(args.text, 1, 1))
        state = browser.wait_for_reading(driver, strokes=strokes)
        shown = browser.shown_reading(driver)
        height = driver.execute_script(
            "return Math.ceil(document.querySelector('footer').getBoundingClientRect().bottom"
            " + 16)")
        png = driver.get_screenshot_as_png()
    crop(png, height, args.out)
    print(f"wrote {args.out}: the page read {shown['text']!r} ({state}, confidence "
          f"{shown['confidence']}) for {args.text!r}")
    return 0 if state == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
