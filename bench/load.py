"""Load test of model.serve: many POST /api/read requests, several at a time, on loopback.

    python bench/load.py [RUN_DIR] [--requests 2000] [--concurrency 8] [--images 100]
        [--threads 2] [--body raw|multipart] [--mnist PATH] [--json FILE]

Starts ``python -m model.serve RUN_DIR --quiet`` on a free port of 127.0.0.1, waits until it
answers, and sends ``--requests`` readings from ``--concurrency`` client threads, each with
its own keep-alive connection. The images are the first ``--images`` of the benchmarks'
pinned writer-disjoint test sequences (bench/common.py), drawn as a scan would be: dark ink
on white paper at twice MNIST's size, as PNG. Reports the errors (any answer but 200, or a
failed connection: there should be none), the latency per request as the client sees it
(p50, p90, p99, max) and as the server spent reading (its "ms"), requests per second, and
the share read exactly (a sanity check of the whole path, not a model benchmark). The
client and the server share the machine's cores. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from common import ROOT, report, test_sequences

WARM_UP = 16  # requests before the clock starts: the first ones build TensorFlow's caches


def scan_png(image: np.ndarray) -> bytes:
    """A generated sequence (white ink on black, 28 px high) as a scan: dark ink on white
    paper, twice the size, PNG."""
    from PIL import Image

    im = Image.fromarray(255 - image)
    im = im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def encode(png: bytes, body: str) -> tuple[bytes, dict]:
    if body == "raw":
        return png, {"Content-Type": "image/png"}
    boundary = uuid.uuid4().hex
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"n.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png + \
        f"\r\n--{boundary}--\r\n".encode()
    return data, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class Client(threading.Thread):
    """Takes request numbers from a shared counter until there are none left."""

    def __init__(self, host: str, port: int, bodies, texts, next_index, records):
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.bodies, self.texts = bodies, texts
        self.next_index, self.records = next_index, records

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        while (i := self.next_index()) is not None:
            k = i % len(self.bodies)
            data, headers = self.bodies[k]
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/read", body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
                answer = json.loads(payload)
                ok = response.status == 200 and "text" in answer
                self.records.append((i, elapsed, ok, response.status,
                                     answer.get("ms"), answer.get("text") == self.texts[k]))
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.records.append((i, time.perf_counter() - start, False, repr(e), None,
                                     False))
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.close()


def counter(total: int):
    lock = threading.Lock()
    state = {"next": 0}

    def next_index() -> int | None:
        with lock:
            i = state["next"]
            if i >= total:
                return None
            state["next"] = i + 1
            return i

    return next_index


def blast(url: str, bodies, texts, total: int, concurrency: int) -> tuple[list, float]:
    host, port = url.removeprefix("http://").split(":")
    records: list = []
    next_index = counter(total)
    clients = [Client(host, int(port), bodies, texts, next_index, records)
               for _ in range(concurrency)]
    start = time.perf_counter()
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    return records, time.perf_counter() - start


def percentiles(values, qs=(50, 90, 99)) -> dict:
    a = np.asarray(values, dtype=float)
    out = {f"p{q}": round(float(np.percentile(a, q)), 2) for q in qs}
    out["max"] = round(float(a.max()), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", type=Path, default=ROOT / "runs" / "mnist",
                   help="a finished run directory (default runs/mnist)")
    p.add_argument("--requests", type=int, default=2000, help="timed requests (default 2000)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--images", type=int, default=100, help="distinct images (default 100)")
    p.add_argument("--threads", type=int, default=2, help="model.serve --threads (default 2)")
    p.add_argument("--body", choices=("raw", "multipart"), default="raw",
                   help="send the PNG as the body, or as a multipart upload (the page's way)")
    p.add_argument("--mnist", help="local MNIST (.npz or IDX folder); default: embedded")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.images < 1:
        p.error("--requests, --concurrency and --images must be at least 1")

    sys.path.insert(0, str(ROOT / "tests"))
    from servers import running

    images, texts, source = test_sequences(args.mnist, args.images)
    bodies = [encode(scan_png(im), args.body) for im in images]
    sizes = [len(b[0]) for b in bodies]
    print(f"{len(bodies)} images from {source} MNIST test digits, "
          f"{np.mean(sizes) / 1024:.1f} KiB each on average, sent as {args.body}")
    with running(args.run, args=["--threads", str(args.threads)]) as url:
        warm, _ = blast(url, bodies, texts, WARM_UP, args.concurrency)
        records, wall = blast(url, bodies, texts, args.requests, args.concurrency)
    errors = [r for r in records + warm if not r[2]]
    latency = [r[1] * 1000 for r in records]
    server_ms = [r[4] for r in records if r[4] is not None]
    results = {
        "run": str(args.run), "requests": len(records), "concurrency": args.concurrency,
        "threads": args.threads, "body": args.body, "images": len(bodies),
        "errors": len(errors), "error_examples": [str(r[3]) for r in errors[:5]],
        "wall_s": round(wall, 2), "requests_per_s": round(len(records) / wall, 1),
        "latency_ms": percentiles(latency),
        "server_read_ms": percentiles(server_ms) if server_ms else None,
        "exact": round(float(np.mean([r[5] for r in records])), 4),
    }
    print(f"requests {results['requests']}, {args.concurrency} at a time; errors "
          f"{results['errors']}")
    lat, srv = results["latency_ms"], results["server_read_ms"]
    print(f"latency ms: p50 {lat['p50']}, p90 {lat['p90']}, p99 {lat['p99']}, "
          f"max {lat['max']}")
    if srv:
        print(f"server reading ms: p50 {srv['p50']}, p99 {srv['p99']}")
    print(f"throughput: {results['requests_per_s']} requests/s over {wall:.1f} s; "
          f"read exactly: {results['exact']:.2%}")
    if errors:
        print(f"errors, first ones: {results['error_examples']}", file=sys.stderr)
    report(results, "load.py", argv, args.json)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
