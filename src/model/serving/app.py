"""The web app behind ``python -m model.serve``: the demo page, ``POST /api/read`` and
``GET /api/info``, each request read by one run's model loaded once (:class:`Service`).

The request forms, options, answers and error statuses are described in
:mod:`model.serve`'s docstring, the command's help.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digits.errors import DataError
from model.serving.http import (
    LARGE_PIXELS,
    MAX_BODY,
    MAX_WAITING,
    QUEUE_SECONDS,
    ApiError,
    LimitBody,
    error_response,
    image_pixels,
)

DEFAULT_TOP_K = 5  # Alternatives the page lists: enough to see what else was likely.
MAX_PATTERN = 1000  # Characters; a digit-string pattern longer than this is an attack.
INT_OPTIONS = ("length", "min_length", "max_length", "top_k")
NUMBER_OPTIONS = ("min_confidence",)
TEXT_OPTIONS = ("pattern", "allow")
RAW_TYPES = ("application/octet-stream",)  # besides every image/* type
STATIC = Path(__file__).with_name("static")
# The page loads only its own script and style, and shows images from data: and blob: URLs.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
               "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

log = logging.getLogger("model.serve")


class Service:
    """One run's :class:`model.api.Reader`, loaded once, reading one uploaded image per
    call.

    Args:
        run: a finished run directory (``"latest"``: the newest under runs/).
        beam_width: prefix beam width, also the most alternatives a request may ask for.
        min_confidence: readings below it are not ``sure``, unless a request says otherwise.
    """

    def __init__(self, run: Path, beam_width: int = 10, min_confidence: float = 0.0):
        from model.api import Reader

        self.reader = Reader(run, beam_width, min_confidence)
        self.run, self.net = self.reader.run, self.reader.net
        self.beam_width = beam_width
        self.parameters = int(self.reader.keras_model.count_params())

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
        from model.reading.reader import make_constraint

        started = time.perf_counter()
        top_k = options.get("top_k", min(DEFAULT_TOP_K, self.beam_width))
        if not 1 <= top_k <= self.beam_width:
            raise ApiError(400, f"top_k must be between 1 and {self.beam_width}, got {top_k}")
        try:
            constraint = make_constraint(options)
        except DataError as e:
            raise ApiError(400, str(e)) from None
        result = self.reader.results([data], constraint, top_k, names=[name],
                                     min_confidence=options.get("min_confidence"))[0]
        if result.error is not None:
            raise ApiError(422, result.error)
        return {
            "text": result.text,
            "confidence": result.confidence,
            "sure": result.sure,
            "probability": result.probability,
            "alternatives": [{"text": t, "probability": p} for t, p in result.alternatives],
            "image": png_data_url(result.image),
            "constraint": constraint.describe() if constraint else "any digit string",
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def info(self) -> dict:
        return {"run": self.run.name, "path": str(self.run), "model": self.reader.description,
                "parameters": self.parameters,
                "height": self.net.height, "beam_width": self.beam_width,
                "calibrated": self.reader.calibrator is not None,
                "min_confidence": self.reader.min_confidence,
                "default_top_k": min(DEFAULT_TOP_K, self.beam_width), "max_body": MAX_BODY}


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
    known = INT_OPTIONS + NUMBER_OPTIONS + TEXT_OPTIONS
    options: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in known:
            raise ApiError(400, f"unknown option {name!r} (known: {', '.join(known)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in INT_OPTIONS:
            options[name] = _whole_number(name, value)
        elif name in NUMBER_OPTIONS:
            options[name] = _fraction(name, value)
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


def _fraction(name: str, value: Any) -> float:
    """A number from 0 to 1, as ``model.api.check_confidence`` takes it, or its text."""
    from model.api import check_confidence

    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    try:
        return check_confidence(number)
    except DataError:
        raise ApiError(400, f"{name} must be a number from 0 to 1, got "
                            f"{_describe(value)}") from None


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
        except RecursionError:
            raise ApiError(400, "malformed JSON: nested too deeply") from None
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


def create_app(run: Path | str | None = None, beam_width: int = 10, threads: int = 2,
               min_confidence: float = 0.0):
    """The Starlette app serving one run: the page, its static files and the JSON API.

    Args:
        run: a finished run directory, loaded now; None for the shipped model,
            "latest" for the newest run under runs/.
        beam_width: prefix beam width for every request.
        threads: images read at once; more requests wait their turn.
        min_confidence: readings below it are marked unsure unless a request says otherwise.

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

    reader = Service(run, beam_width, min_confidence)
    slots = anyio.CapacityLimiter(threads)
    large_slots = anyio.CapacityLimiter(max(1, threads - 1))
    waiting = 0
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
        nonlocal waiting
        if waiting >= MAX_WAITING:
            raise ApiError(503, f"busy: {waiting} requests are waiting to be read; retry "
                                "shortly")
        lanes = [large_slots, slots] if image_pixels(data) > LARGE_PIXELS else [slots]
        waiting += 1
        held = []
        try:
            with anyio.move_on_after(QUEUE_SECONDS):
                for lane in lanes:
                    await lane.acquire()
                    held.append(lane)
        finally:
            waiting -= 1
        try:
            if len(held) < len(lanes):
                raise ApiError(503, f"busy: no reading slot came free within "
                                    f"{QUEUE_SECONDS:g} s; retry shortly")
            answer = await anyio.to_thread.run_sync(reader.read, data, name, options)
        finally:
            for lane in reversed(held):
                lane.release()
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


def warm_up(reader: Service) -> None:
    """One reading at start-up, so the first visitor does not wait for TensorFlow's set-up."""
    import numpy as np
    from PIL import Image

    canvas = np.full((40, 60), 255, np.uint8)
    canvas[8:32, 28:33] = 0  # a "1"
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    reader.read(buffer.getvalue(), "warm-up", {})
