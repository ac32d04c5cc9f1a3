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

import os
import sys
from pathlib import Path

from digits.cli import Parser, fail
from digits.errors import DataError


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return fail(f"--port must be 0-65535, got {args.port}")
    if args.beam_width < 1 or args.threads < 1:
        return fail("--beam-width and --threads must be at least 1")
    from model.runs import choose_run

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        run = choose_run(args.run)
        from model.serving.app import create_app

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
