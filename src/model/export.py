"""Export a finished run's logits model as a SavedModel, ONNX or LiteRT file.

    python -m model.export RUN_DIR --format {savedmodel,onnx,litert} [--out PATH]
        [--width W] [--overwrite]

The graph ends at the logits (batch, T, 11): CTC beam search has no ONNX or LiteRT op, so
decoding stays outside (model.decoding in numpy; model.deploy.runtime runs ONNX and LiteRT
exports without TensorFlow). Beside the export, PATH.json says everything a reader needs: the
input (batch, height, width, 1) float32 of pixel values 0..255, white ink on black; which
sizes are free; how many time steps a width gives; blank = class 0, digit d = class d+1;
and the run it came from. Before anything is written, the export is run on random images
(by TensorFlow, onnxruntime or ai-edge-litert) and its logits compared with the Keras
model's; then both files are moved into place, so an error leaves nothing half-written.
"""

from __future__ import annotations

import os
import sys

from digits.cli import Parser, fail, path
from digits.errors import DataError
from model.deploy.exporter import FORMATS, LITERT_WIDTH, export_run
from model.deploy.runtime import sidecar_path


def build_parser() -> Parser:
    p = Parser(prog="python -m model.export", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=path, metavar="RUN_DIR", help="a finished run directory")
    p.add_argument("--format", required=True, choices=list(FORMATS),
                   help="savedmodel (a directory), onnx or litert (.tflite)")
    p.add_argument("--out", type=path, help="where to write (default: RUN_DIR/saved_model, "
                   "RUN_DIR/model.onnx or RUN_DIR/model.tflite); the JSON goes to OUT.json")
    p.add_argument("--width", type=int, help=f"fix the input width in pixels; 0: any width "
                   f"(default: {LITERT_WIDTH} for litert, any for the others)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.width is not None and args.width < 0:
        return fail(f"--width must be 0 (any width) or a positive number, got {args.width}")
    out = args.out or args.run_dir / FORMATS[args.format].default_name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        meta = export_run(args.run_dir, args.format, out, args.width, args.overwrite,
                          log=lambda m: print(m, file=sys.stderr))
    except DataError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted; nothing was written", 130)
    shape = ", ".join("any" if d is None else str(d) for d in meta["input"]["shape"])
    checked = (f"logits within {meta['check']['max_abs_diff']:.1e} of Keras"
               if meta["check"] else "not checked")
    print(f"{out} ({args.format}; input ({shape}); {checked})\n{sidecar_path(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
