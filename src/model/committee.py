"""Several finished runs of one architecture read as one model: a committee.

    python -m model.committee OUT RUN_DIR RUN_DIR [RUN_DIR...] [--overwrite]

The committee's output per time step is the log of the mean of its members' softmax
outputs, so it is a run like any other (``model.keras`` and ``config.json``, the first
member's): ``model.read --run OUT`` reads with it and ``model.icr --teacher OUT`` teaches one
network from it (``model.training.distill``). Members trained on different varieties of
digits misread partly different real images, and where they disagree the mean of their
distributions is the surer reading; docs/training.md has what that bought, and at what cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digits.cli import Parser, fail, path
from digits.errors import DataError
from digits.files import building_dir, check_replaceable, write_json


def build_committee(models: list, net, name: str = "committee"):
    """One model from images to the committee's logits: every model in ``models`` (each
    ``build_model(net)``'s architecture) reads the same input."""
    import keras

    from model.layers import MeanOfSoftmax
    from model.network import build_model

    image = keras.Input((net.height, None, 1), name="image")
    heads = []
    for k, member in enumerate(models):
        copy = build_model(net, name=f"member{k + 1}")
        copy.set_weights(member.get_weights())
        heads.append(copy(image))
    return keras.Model(image, MeanOfSoftmax(name="logits")(heads), name=name)


def make_committee(out: Path, runs: list[Path], overwrite: bool = False, log=print) -> None:
    """Write the committee of ``runs`` as the run directory ``out``, whole or not at all.

    Raises:
        DataError: fewer than two runs, a run that is not finished or is a committee itself,
            runs of different architectures, ``out`` among them, or ``out`` existing
            without ``overwrite`` (or, with it, not a run directory).
    """
    from model.runs import CONFIG, MODEL, load_run, refuse_committee

    if len(runs) < 2:
        raise DataError("a committee needs at least two runs")
    if any(run.resolve() == out.resolve() for run in runs):
        raise DataError(f"{out} is one of the committee's runs; write it elsewhere")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; give --overwrite to replace it")
    check_replaceable(out, CONFIG, "a run directory")
    loaded = [load_run(run) for run in runs]
    for run, (_, net, config) in zip(runs, loaded, strict=True):
        refuse_committee(run, config, "make a committee of")
        if net != loaded[0][1]:
            raise DataError(f"{run} is not the architecture of {runs[0]}: a committee's "
                            "members read the same frames")
    model = build_committee([m for m, _, _ in loaded], loaded[0][1])
    # The first member's config.json, as load_run read it, with the members named.
    config = {**loaded[0][2], "committee": [str(run.resolve()) for run in runs]}
    with building_dir(out) as tmp:
        model.save(tmp / MODEL)
        write_json(tmp / CONFIG, config)
    log(f"committee of {len(runs)} runs ({model.count_params():,} parameters): {out}")


def build_parser() -> Parser:
    p = Parser(prog="python -m model.committee", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=path, help="run directory to write the committee to")
    p.add_argument("runs", type=path, nargs="+", help="finished run directories, two or more")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT if it is a run directory (one holding config.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        make_committee(args.out, args.runs, args.overwrite)
    except DataError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write {e.filename or args.out}: {e.strerror or e}", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
