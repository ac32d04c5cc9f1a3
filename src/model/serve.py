"""A web page and a JSON API that read handwritten numbers with a trained run.

    python -m model.serve [RUN_DIR] [--host 127.0.0.1] [--port 8000] [--beam-width 10]

RUN_DIR defaults as for model.read: the most recent finished run under runs/, else
models/mnist-crnn. The model is loaded once, at start-up. Only this machine can connect
unless --host says otherwise; there is no authentication, so keep it that way on shared
networks.

``GET /`` is the demo page: write digits on a canvas (mouse, pen or finger) or upload an
image, and see the digit string, its confidence, the alternatives and the image the model
saw. ``POST /api/read`` is what the page calls, and takes an image in one of three forms:

- ``multipart/form-data``: the file in a part named ``image``; options as text fields;
- a raw image body (``Content-Type: image/png``, ``image/jpeg``, ...
  or ``application/octet-stream``); options in the query string;
- ``application/json``: ``{"image": "<base64 or a data: URL>", "length": 8, ...}``.

Options (query string fields work with every form): ``length``, ``min_length``,
``max_length``, ``pattern``, ``allow`` (as model.read's constraint flags) and ``top_k``
(alternatives, default 5). An empty value means "not given". The answer is JSON:
``{"text", "confidence", "alternatives": [{"text", "confidence"}, ...], "image",
"constraint", "ms"}``: ``alternatives`` starts with ``text`` itself, ``image`` is what the
model saw as a ``data:image/png;base64,...`` URL, ``ms`` the time spent reading.
Errors are JSON ``{"error": "..."}``: 400 for a malformed request or options (bad JSON, an
invalid pattern, an impossible constraint, a bad number), 413 for a body over 5 MiB, 415
for another content type, 422 for an image that cannot be read (not an image, truncated,
a decompression bomb, no ink) or that no string allowed by the constraint fits.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from digits.cli import Parser, fail
from digits.errors import DataError

MAX_BODY = 5 * 1024 * 1024  # 5 MiB: a phone photo as JPEG; base64 in JSON carries 3.75 MiB.
DEFAULT_TOP_K = 5  # Alternatives the page lists: enough to see what else was likely.
MAX_PATTERN = 1000  # Characters; a digit-string pattern longer than this is an attack.
INT_OPTIONS = ("length", "min_length", "max_length", "top_k")
TEXT_OPTIONS = ("pattern", "allow")
RAW_TYPES = ("application/octet-stream",)  # besides every image/* type
STATIC = Path(__file__).with_name("static")
# The page loads only its own script and style, and shows images from data: and blob: URLs.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
               "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

log = logging.getLogger("model.serve")


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def build_parser() -> Parser:
    p = Parser(prog="python -m model.serve", description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", type=Path, metavar="RUN_DIR",
                   help="a finished run directory (default: the most recent under runs/, "
                        "else models/mnist-crnn)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--beam-width", type=int, default=10,
                   help="prefix beam width (default 10); also the most alternatives")
    p.add_argument("--threads", type=int, default=2,
                   help="images read at once (default 2, one per core of a small machine)")
    p.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    return p


class Reader:
    """One run's model, loaded once, reading one image per call through model.read.

    Args:
        run: a finished run directory.
        beam_width: prefix beam width, also the most alternatives a request may ask for.
    """

    def __init__(self, run: Path, beam_width: int = 10):
        from model.evaluate import load_run

        self.run = Path(run)
        self.model, self.net, _ = load_run(self.run)
        self.beam_width = beam_width
        self.parameters = int(self.model.count_params())
        self._compiled = compiled(self.model)

    def __call__(self, x, training: bool = False):
        """The model as model.read.read_images calls it, run as one traced graph."""
        return self._compiled(x)

    def read(self, data: bytes, name: str, options: Mapping[str, Any]) -> dict:
        """Read one image's bytes under the given options.

        Args:
            data: the image file's bytes.
            name: what error messages call the image.
            options: from ``parse_options``.

        Returns:
            The API's JSON answer as a dict.

        Raises:
            ApiError: 400 for a bad constraint, 422 for an unreadable image or no reading.
        """
        from model.read import make_constraint, read_images

        started = time.perf_counter()
        top_k = options.get("top_k", min(DEFAULT_TOP_K, self.beam_width))
        if not 1 <= top_k <= self.beam_width:
            raise ApiError(400, f"top_k must be between 1 and {self.beam_width}, got {top_k}")
        constraint_args = SimpleNamespace(**{k: options.get(k) for k in
                                             ("length", "min_length", "max_length", "pattern",
                                              "allow")})
        try:
            constraint = make_constraint(constraint_args)
        except DataError as e:
            raise ApiError(400, str(e)) from None
        result = read_images([data], self, self.net, constraint, top_k, self.beam_width,
                             names=[name])[0]
        if result.error is not None:
            raise ApiError(422, result.error)
        return {
            "text": result.text,
            "confidence": result.confidence,
            "alternatives": [{"text": t, "confidence": c} for t, c in result.alternatives],
            "image": png_data_url(result.image),
            "constraint": constraint.describe() if constraint else "any digit string",
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def info(self) -> dict:
        return {"run": self.run.name, "path": str(self.run), "parameters": self.parameters,
                "height": self.net.height, "beam_width": self.beam_width,
                "default_top_k": min(DEFAULT_TOP_K, self.beam_width), "max_body": MAX_BODY}


def compiled(model):
    """The model traced once for any batch and width: an eager Keras call of this small
    model costs tens of milliseconds of Python, the graph a few (bench/infer.py)."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, model.input_shape[1], None, 1), tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def png_data_url(image) -> str:
    """A uint8 (height, width) array as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parse_options(fields: Mapping[str, Any]) -> dict:
    """Check the request's options: whole numbers, strings, no unknown names.

    Args:
        fields: name -> value, from a form, a query string or a JSON object.

    Returns:
        The given options only, numbers as int; empty values count as not given.

    Raises:
        ApiError: 400 naming the first bad option.
    """
    known = INT_OPTIONS + TEXT_OPTIONS
    options: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in known:
            raise ApiError(400, f"unknown option {name!r} (known: {', '.join(known)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in INT_OPTIONS:
            options[name] = _whole_number(name, value)
        elif not isinstance(value, str):
            raise ApiError(400, f"{name} must be a string, got {_describe(value)}")
        elif name == "pattern" and len(value) > MAX_PATTERN:
            raise ApiError(400, f"pattern is {len(value)} characters, over {MAX_PATTERN}")
        else:
            options[name] = value.strip() if name == "allow" else value
    return options


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0 and math.isfinite(value):
        return int(value)
    raise ApiError(400, f"{name} must be a whole number of at least 0, got {_describe(value)}")


def _describe(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _merge(query: Mapping[str, str], body: Mapping[str, Any]) -> dict:
    both = sorted(set(query) & set(body))
    if both:
        raise ApiError(400, f"option {both[0]!r} given both in the query and the body")
    return {**query, **body}


async def _image_and_fields(request) -> tuple[bytes, str, dict]:
    """The image bytes, its name and the option fields, from any of the three forms."""
    from starlette.datastructures import UploadFile

    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = dict(request.query_params)
    if len(query) != len(request.query_params.multi_items()):
        raise ApiError(400, "an option is given more than once in the query")
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=20) as form:
            image = form.get("image")
            if not isinstance(image, UploadFile):
                raise ApiError(400, "multipart upload without a file part named 'image'")
            fields = {}
            for key, value in form.multi_items():
                if key == "image":
                    continue
                if key in fields or not isinstance(value, str):
                    raise ApiError(400, f"form field {key!r} must be one text value")
                fields[key] = value
            return await image.read(), image.filename or "upload", _merge(query, fields)
    if media == "application/json":
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"malformed JSON: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the JSON body must be an object with an 'image' member")
        encoded = body.pop("image", None)
        if not isinstance(encoded, str):
            raise ApiError(400, "'image' must be a string: base64 or a data: URL")
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            if not header.endswith(";base64"):
                raise ApiError(400, "a data: URL image must be base64-encoded")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "'image' is not valid base64") from None
        return data, "image", _merge(query, body)
    if media.startswith("image/") or media in RAW_TYPES:
        return await request.body(), "image", query
    shown = media or "none"
    raise ApiError(415, f"content type {shown} is not accepted: send multipart/form-data, "
                        "application/json, or the image itself as image/*")


class LimitBody:
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413: at once when
    Content-Length says so, else as soon as the streamed (chunked) body passes the limit."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await error_response(413, self._message())(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is over the {self.limit / 2**20:g} MiB limit"


def error_response(status: int, message: str):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def create_app(run: Path, beam_width: int = 10, threads: int = 2):
    """The Starlette app serving one run: the page, its static files and the JSON API.

    Args:
        run: a finished run directory, loaded now.
        beam_width: prefix beam width for every request.
        threads: images read at once; more requests wait their turn.

    Raises:
        DataError: the run cannot be loaded.
    """
    import anyio
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    reader = Reader(run, beam_width)
    limiter = anyio.CapacityLimiter(threads)
    warm_up(reader)

    async def page(request):
        return FileResponse(STATIC / "index.html", headers={
            "Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})

    async def info(request):
        return JSONResponse(reader.info())

    async def read(request):
        data, name, fields = await _image_and_fields(request)
        if not data:
            raise ApiError(400, "the image is empty")
        options = parse_options(fields)
        answer = await anyio.to_thread.run_sync(reader.read, data, name, options,
                                                limiter=limiter)
        return JSONResponse(answer)

    async def api_error(request, exc: ApiError):
        return error_response(exc.status, exc.message)

    async def http_error(request, exc: HTTPException):
        return error_response(exc.status_code, str(exc.detail))

    async def server_error(request, exc: Exception):
        log.exception("error while serving %s", request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")

    app = Starlette(
        routes=[Route("/", page), Route("/api/info", info), Route("/api/read", read,
                                                                   methods=["POST"]),
                Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(LimitBody, limit=MAX_BODY)],
        exception_handlers={ApiError: api_error, HTTPException: http_error,
                            Exception: server_error},
    )
    app.state.reader = reader
    return app


def warm_up(reader: Reader) -> None:
    """One reading at start-up, so the first visitor does not wait for TensorFlow's set-up."""
    import numpy as np
    from PIL import Image

    canvas = np.full((40, 60), 255, np.uint8)
    canvas[8:32, 28:33] = 0  # a "1"
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    reader.read(buffer.getvalue(), "warm-up", {})


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
    import socket
    import subprocess
    import tempfile
    import urllib.request

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
            cwd=Path(__file__).resolve().parents[1], env=env, stdout=log_file,
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return fail(f"--port must be 0-65535, got {args.port}")
    if args.beam_width < 1 or args.threads < 1:
        return fail("--beam-width and --threads must be at least 1")
    from model.read import choose_run

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        run = choose_run(args.run)
        app = create_app(run, args.beam_width, args.threads)
    except DataError as e:
        return fail(str(e))
    import uvicorn

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can use the "
              "model, there is no authentication", file=sys.stderr)
    print(f"serving {run} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, access_log=not args.quiet,
                log_level="warning" if args.quiet else "info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
