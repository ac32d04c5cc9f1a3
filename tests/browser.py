"""Driving Debian's headless Chromium on model.serve's page, and writing digits on its pad.

Used by tests/test_browser.py and docs/screenshot.py. Only the system's Chromium and
ChromeDriver are used (an explicit Service path, so Selenium Manager downloads nothing).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
# Headless as root in a sandbox-less container, and no calls home: on this closed network
# every background connection Chromium tries is refused, and component updates stall.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")

# Each digit as strokes of control points in a unit box (x right, y down), written the way
# MNIST's writers write them; a smooth curve is drawn through the points of each stroke.
DIGITS: dict[str, list[list[tuple[float, float]]]] = {
    "0": [[(0.5, 0.02), (0.18, 0.2), (0.1, 0.55), (0.28, 0.92), (0.6, 0.98), (0.88, 0.7),
           (0.88, 0.3), (0.7, 0.06), (0.48, 0.04)]],
    "1": [[(0.62, 0.0), (0.56, 0.5), (0.5, 1.0)]],
    "2": [[(0.12, 0.25), (0.35, 0.03), (0.7, 0.04), (0.85, 0.28), (0.6, 0.6), (0.12, 0.97),
           (0.5, 0.93), (0.92, 0.95)]],
    "3": [[(0.12, 0.12), (0.45, 0.0), (0.8, 0.12), (0.75, 0.36), (0.4, 0.48), (0.8, 0.6),
           (0.85, 0.85), (0.5, 1.0), (0.1, 0.9)]],
    "4": [[(0.2, 0.0), (0.12, 0.58), (0.92, 0.58)], [(0.72, 0.05), (0.7, 0.55), (0.68, 1.0)]],
    "5": [[(0.85, 0.02), (0.28, 0.03)], [(0.28, 0.03), (0.22, 0.46), (0.55, 0.4), (0.85, 0.6),
                                          (0.8, 0.88), (0.48, 1.0), (0.12, 0.9)]],
    "6": [[(0.75, 0.0), (0.4, 0.2), (0.18, 0.58), (0.28, 0.92), (0.55, 1.0), (0.8, 0.82),
           (0.75, 0.58), (0.48, 0.5), (0.22, 0.66)]],
    "7": [[(0.08, 0.05), (0.92, 0.04), (0.62, 0.5), (0.42, 1.0)]],
    "8": [[(0.78, 0.14), (0.5, 0.0), (0.2, 0.16), (0.34, 0.38), (0.66, 0.58), (0.8, 0.82),
           (0.5, 1.0), (0.2, 0.82), (0.34, 0.6), (0.68, 0.38), (0.8, 0.18), (0.72, 0.08)]],
    "9": [[(0.8, 0.18), (0.5, 0.02), (0.2, 0.15), (0.22, 0.42), (0.5, 0.5), (0.8, 0.32),
           (0.8, 0.15)], [(0.8, 0.15), (0.78, 0.6), (0.72, 1.0)]],
}


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    return None


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator:
    """A headless Chromium WebDriver with a fresh profile in ``profile``, quit after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def smooth(points: list[tuple[float, float]], per_segment: int = 4) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through the points, ``per_segment`` samples between each pair."""
    if len(points) < 3:
        return [(a[0] + (b[0] - a[0]) * t / per_segment, a[1] + (b[1] - a[1]) * t / per_segment)
                for a, b in zip(points, points[1:], strict=False) for t in range(per_segment)] \
            + [points[-1]]
    padded = [points[0], *points, points[-1]]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1:i + 3]
        for step in range(per_segment):
            t = step / per_segment
            out.append(tuple(0.5 * (2 * p1[k] + (p2[k] - p0[k]) * t
                                    + (2 * p0[k] - 5 * p1[k] + 4 * p2[k] - p3[k]) * t * t
                                    + (3 * p1[k] - p0[k] - 3 * p2[k] + p3[k]) * t ** 3)
                             for k in (0, 1)))
    out.append(points[-1])
    return out


def layout(text: str, width: float, height: float) -> list[list[tuple[float, float]]]:
    """Strokes writing ``text`` across a pad of ``width`` x ``height`` pixels, in pad
    coordinates: digits 60% of the pad's height, a little slanted, evenly spaced."""
    digit_h = 0.6 * height
    pitch = min(0.55 * digit_h * 1.3, 0.9 * width / max(len(text), 1))
    digit_w = pitch / 1.3
    left = (width - pitch * len(text) + (pitch - digit_w)) / 2
    top = (height - digit_h) / 2
    strokes = []
    for i, digit in enumerate(text):
        for stroke in DIGITS[digit]:
            points = []
            for x, y in smooth(stroke):
                slant = 0.12 * (0.5 - y) * digit_h  # lean right, as most writers do
                points.append((left + i * pitch + x * digit_w + slant, top + y * digit_h))
            strokes.append(points)
    return strokes


def write(driver, pad, text: str, pointer: str = "mouse") -> None:
    """Write ``text`` on the ``pad`` element with real input events (mouse, pen or touch),
    as a person would: each stroke a press, moves along the curve, and a release."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    kind = {"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
            "touch": interaction.POINTER_TOUCH}[pointer]
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                "return [r.left, r.top, r.width, r.height];", pad)
    left, top, width, height = box
    actions = ActionBuilder(driver, mouse=PointerInput(kind, pointer), duration=0)
    for stroke in layout(text, width, height):
        points = [(math.floor(left + x), math.floor(top + y)) for x, y in stroke]
        actions.pointer_action.move_to_location(*points[0])
        actions.pointer_action.pointer_down()
        for x, y in points[1:]:
            actions.pointer_action.move_to_location(x, y)
        actions.pointer_action.pointer_up()
    actions.perform()


def requests_sent(driver) -> int:
    """How many readings the page has asked for so far."""
    return int(driver.find_element("id", "result").get_attribute("data-request"))


def wait_for_reading(driver, after: int = 0, strokes: int | None = None,
                     timeout: float = 60) -> str:
    """Wait until the page shows the answer to a request later than its ``after``-th, and,
    given ``strokes``, a reading of a drawing of that many strokes (the pad reads itself
    after each pause in the writing). Returns the state: "done" or "error"."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        result = d.find_element("id", "result")
        state, request, read = (result.get_attribute(a) for a in
                                ("data-state", "data-request", "data-strokes"))
        return (state in ("done", "error") and int(request) > after
                and (strokes is None or int(read) == strokes) and state)

    return WebDriverWait(driver, timeout).until(ready)


def shown_reading(driver) -> dict:
    """What the page shows: the text, confidence, alternatives and the model's image."""
    return driver.execute_script("""
        const alts = [...document.querySelectorAll('#alternatives li')].map(
            (li) => ({text: li.dataset.text, probability: Number(li.dataset.probability)}));
        return {text: document.getElementById('text').dataset.value,
                shown: document.getElementById('text').textContent,
                confidence: Number(document.getElementById('confidence').dataset.value),
                alternatives: alts,
                image: document.getElementById('model-input').src,
                error: document.getElementById('error').hidden ? null
                       : document.getElementById('error').textContent};
    """)
