"""Bounded time and memory on hostile-but-fair images: a 7000 x 7000 scan, a 12-megapixel
photo, and a small request to the server while two large ones are being read.

    python bench/hostile.py [RUN_DIR] [--json FILE]

Each large image is read by ``model.read`` in a fresh process (its wall time and peak
memory, TensorFlow's start included, and the reading alone as the process reports it);
the server part starts ``python -m model.serve`` on loopback. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from common import machine, report  # noqa: E402

# Reads one image after loading the model as model.read does (model.Reader), and prints
# the reading's own seconds.
PROBE = """
import sys, time
from model.api import Reader
reader = Reader(sys.argv[1])
reader.results([sys.argv[3]])  # warm: TensorFlow's first call traces the graph
start = time.perf_counter()
result = reader.results([sys.argv[2]])[0]
print(time.perf_counter() - start, result.text, result.error)
"""


def number_on_paper(width: int, height: int, fmt: str, path: Path) -> Path:
    """A handwritten-looking number (four strokes and a loop) on grey paper."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (width, height), 228)
    d = ImageDraw.Draw(im)
    s = min(width, height) // 6
    x0, y0 = width // 2 - 2 * s, height // 2 - s // 2
    for i in range(3):
        d.line([(x0 + i * s + s // 2, y0), (x0 + i * s + s // 3, y0 + s)], fill=35,
               width=max(2, s // 10))
    d.ellipse([x0 + 3 * s, y0, x0 + 3 * s + s * 2 // 3, y0 + s], outline=35,
              width=max(2, s // 10))
    im.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


def read_in_a_process(run: Path, image: Path, warm: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, str(run), str(image), str(warm)],
                          cwd=ROOT / "src", capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    seconds, text, error = done.stdout.split()[-3:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"read_s": float(seconds), "process_s": wall, "peak_rss_mib": peak,
            "text": text, "error": None if error == "None" else error}


def post(url: str, data: bytes) -> float:
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.request("POST", "/api/read", body=data, headers={"content-type": "image/png"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    assert answer.status in (200, 422), answer.status
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", type=Path, default=ROOT / "models" / "mnist-crnn")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    from servers import running

    results = {"run": str(args.run), "machine": machine()}
    print(f"machine: {results['machine']}")
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch:
        scratch = Path(scratch)
        small = number_on_paper(160, 60, "PNG", scratch / "small.png")
        scan = number_on_paper(7000, 7000, "PNG", scratch / "scan.png")
        photo = number_on_paper(4000, 3000, "JPEG", scratch / "photo.jpg")
        for name, path in (("7000x7000 PNG", scan), ("12 MP JPEG", photo)):
            r = read_in_a_process(args.run, path, small)
            results[name] = {"bytes": path.stat().st_size, **r}
            print(f"{name}: read {r['read_s']:.2f} s ({r['process_s']:.1f} s with start-up), "
                  f"peak {r['peak_rss_mib']:,.0f} MiB, read {r['text']!r}")
        large = scan.read_bytes()
        tiny = small.read_bytes()
        with running(args.run, args=["--threads", "2"]) as url:
            for _ in range(3):
                post(url, tiny)  # warm
            alone = sorted(post(url, tiny) for _ in range(5))[2]
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                big = [pool.submit(post, url, large) for _ in range(2)]
                time.sleep(0.3)  # both large ones are being read
                during = post(url, tiny)
                big_s = [f.result() for f in big]
        results["server"] = {"small_alone_s": alone, "small_during_two_large_s": during,
                             "delay_s": during - alone, "large_s": big_s}
        print(f"server: a small image alone {alone * 1000:.0f} ms, while two 7000x7000 "
              f"images are read {during * 1000:.0f} ms (delay {(during - alone) * 1000:.0f} "
              f"ms); the large ones took {big_s[0]:.1f} and {big_s[1]:.1f} s")
    return report(results, "hostile.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
