"""A web page and a JSON API that read handwritten numbers with a trained run.

    python -m model.serve [RUN_DIR] [--host 127.0.0.1] [--port 8000] [--beam-width 10]
        [--min-confidence P]

RUN_DIR defaults as for model.read: models/mnist-crnn, the shipped model ("latest": the
newest finished run under runs/); a line on stderr says which model serves. The model is
loaded once, at start-up. Only this machine can connect unless --host says otherwise;
there is no authentication, so keep it that way on shared networks.

``GET /`` is the demo page: write digits on a canvas (mouse, pen or finger) or upload an
image, and see the digit string, its confidence, the alternatives and the image the model
saw. ``POST /api/read`` is what the page calls, and takes an image in one of three forms:

- ``multipart/form-data``: the file in a part named ``image``; options as text fields;
- a raw image body (``Content-Type: image/png``, ``image/jpeg``, ...
  or ``application/octet-stream``); options in the query string;
- ``application/json``: ``{"image": "<base64 or a data: URL>", "length": 8, ...}``.

Options (query string fields work with every form): ``length``, ``min_length``,
``max_length``, ``pattern``, ``allow`` (as model.read's constraint flags), ``top_k``
(alternatives, default 5) and ``min_confidence`` (0 to 1; default: the server's
--min-confidence). An empty value means "not given". The answer is JSON:
``{"text", "confidence", "sure", "probability", "alternatives": [{"text", "probability"},
...], "image", "constraint", "ms"}``: ``confidence`` is the chance the reading is right
(calibrated where the run has a calibrator), ``sure`` whether it reaches the minimum,
``probability`` the model's probability of ``text``; ``alternatives`` starts with ``text``
itself, ``image`` is what the model saw as a ``data:image/png;base64,...`` URL, ``ms`` the
time spent reading.
Errors are JSON ``{"error": "..."}``: 400 for a malformed request or options (bad JSON, an
invalid pattern, an impossible constraint, a bad number), 413 for a body over 5 MiB, 415
for another content type, 422 for an image that cannot be read (not an image, truncated,
a decompression bomb, no ink) or that no string allowed by the constraint fits.
"""


from __future__ import annotations

import os
import sys

from digits.cli import Parser, fail, number, path
from digits.errors import DataError
from model.decoding.decode import MAX_BEAM


def build_parser() -> Parser:
    p = Parser(prog="python -m model.serve", description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", type=path, metavar="RUN_DIR",
                   help="a finished run directory, or 'latest': the newest under runs/ "
                        "(default: models/mnist-crnn, the shipped model)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000,
                   help="TCP port (default 8000; 0: any free one)")
    p.add_argument("--beam-width", type=number(int, 1, MAX_BEAM), default=10,
                   help=f"prefix beam width (default 10; at most {MAX_BEAM}); also the most "
                        "alternatives")
    p.add_argument("--threads", type=number(int, 1, 16), default=2,
                   help="images read at once (default 2, one per core of a small machine; "
                        "at most 16)")
    p.add_argument("--min-confidence", type=number(float, 0, 1), default=0.0, metavar="P",
                   help="mark readings whose confidence is below P (0 to 1) unsure "
                        "(\"sure\": false), unless a request asks otherwise (default 0)")
    p.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from model.serving.app import create_app

        app = create_app(args.run, args.beam_width, args.threads, args.min_confidence)
    except DataError as e:
        return fail(str(e))
    import uvicorn

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can use the "
              "model, there is no authentication", file=sys.stderr)
    print(f"model: {app.state.reader.reader.description}", file=sys.stderr)
    print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    from model.serving.http import HEADER_SECONDS, MAX_CONNECTIONS, header_timeout_protocol

    uvicorn.run(app, host=args.host, port=args.port, access_log=not args.quiet,
                log_level="warning" if args.quiet else "info",
                http=header_timeout_protocol(HEADER_SECONDS), timeout_keep_alive=5,
                limit_concurrency=MAX_CONNECTIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
