"""Starting ``python -m model.serve`` in a child process on loopback, for the tests, the
load benchmark (bench/load.py) and the demo screenshot (docs/screenshot.py), which need a
real server on a real socket."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


@contextlib.contextmanager
def running(run: Path, port: int | None = None, args: Sequence[str] = (),
            timeout: float = 180.0) -> Iterator[str]:
    """Start ``python -m model.serve`` in a child process on loopback and stop it after.

    For tests, benchmarks and screenshots, which need a real server on a real socket.

    Args:
        run: the run directory to serve.
        port: the port; default a free one.
        args: more command-line arguments.
        timeout: seconds to wait for the model to load.

    Yields:
        The server's base URL, e.g. ``http://127.0.0.1:8123``, once it answers.

    Raises:
        RuntimeError: the server exited or did not answer in time (with its last output).
    """
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryFile("w+") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "model.serve", str(Path(run).resolve()), "--port", str(port),
             "--quiet", *args],
            cwd=SRC, env=env, stdout=log_file,
            stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(url + "/api/info", timeout=5):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log_file.seek(0)
                        tail = log_file.read()[-2000:]
                        raise RuntimeError(f"model.serve did not start: {tail}") from None
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


