"""The HTTP side of ``model.serve``: the API's error type and answer, and the limits that
keep one client from holding the server: the body size, the time a request's headers may
take, the images read at once.
"""

from __future__ import annotations

import io

MAX_BODY = 5 * 1024 * 1024  # 5 MiB: a phone photo as JPEG; base64 in JSON carries 3.75 MiB.
# Reading slots: a request waits at most QUEUE_SECONDS for one, and at most MAX_WAITING
# requests wait at once; beyond either the answer is 503 (busy, retry), and the server
# keeps serving. An image over LARGE_PIXELS (from its header) may take one slot less than
# there are, so that a small request always finds one free among large ones.
QUEUE_SECONDS = 10.0
MAX_WAITING = 16
LARGE_PIXELS = 1_000_000
# Connections: the request line and headers must arrive within HEADER_SECONDS; beyond
# MAX_CONNECTIONS open at once uvicorn answers 503 at once.
HEADER_SECONDS = 10.0
MAX_CONNECTIONS = 64


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def image_pixels(data: bytes) -> int:
    """Width x height from an image's header (no decoding), 0 where it has none."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size[0] * im.size[1]
    except Exception:  # any unreadable file: the reader reports it properly
        return 0


def header_timeout_protocol(seconds: float):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request line and headers do
    not all arrive within ``seconds`` of their first byte (or of connecting): uvicorn has no
    such limit, and a client sending headers a byte at a time would hold a connection
    forever."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeout(H11Protocol):
        _timer = None

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._between_requests():
                self._arm()
            super().data_received(data)
            if not self._between_requests():
                self._disarm()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            if self._timer is None:
                self._timer = self.loop.call_later(seconds, self._expire)

        def _disarm(self):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self):
            self._timer = None
            if self._between_requests() and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeout


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
