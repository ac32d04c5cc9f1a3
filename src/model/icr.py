"""Train a CRNN on a generated dataset, evaluate it, and write a run directory.

    python -m model.icr digits                      # train on data/digits, evaluate, save
    python -m model.icr digits --evaluate RUN_DIR   # evaluate a finished run, no training
    python -m model.icr big --distribute mirrored   # train on every GPU of this machine
    python -m model.icr DIR --from RUN_DIR          # fine-tune a run on a labelled folder
    python -m model.icr big --from RUN_DIR --interpolate 0.5  # ... or on a generated dataset
    python -m model.icr DIR --evaluate RUN_DIR      # evaluate a run on a labelled folder

The dataset may be in either format the generator writes (PNG folders or TFRecord shards);
both are streamed through tf.data. A labelled folder (DIR/images/... + DIR/labels.csv with
file_name,text, no manifest.json) holds real images: they are read the way model.read
reads them (model.reading.folder, model.training.finetune).

A run directory holds model.keras, config.json, history.csv, metrics.json, curves.png,
samples.png, model_graph.png (or .dot) and model_summary.png, averaged.json with
--average-last and interpolated.json with --interpolate. Rerunning a killed command resumes
the run from its last finished epoch.
"""

from __future__ import annotations

import argparse
import os
import sys

from digits.cli import Parser, describe_range, fail, number, path
from digits.errors import DataError
from model.decoding.decode import MAX_BEAM
from model.network import NetConfig
from model.training.finetune import FINETUNE_TRAIN, FinetuneConfig
from model.training.options import PRESETS, Options, flag
from model.training.train import TrainConfig

MAX_LAYERS = 8  # conv or GRU layers: the 28-row input pools to nothing long before
MAX_WIDTH = 1024  # filters or units per layer: beyond this a CPU epoch takes hours
MAX_POOL = 4  # a pooling factor per axis


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(number(int, 1, MAX_WIDTH)(v) for v in text.split(",") if v)
    if not 1 <= len(values) <= MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_LAYERS} comma-separated sizes, "
                                         f"got {text!r}")
    return values


def _pools(text: str) -> tuple[tuple[int, int], ...]:
    pools = []
    for part in text.split(","):
        sizes = part.split("x")
        if len(sizes) != 2:
            raise argparse.ArgumentTypeError(f"expected ROWSxCOLS per layer, got {part!r}")
        pools.append(tuple(number(int, 1, MAX_POOL)(v) for v in sizes))
    if len(pools) > MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_LAYERS} layers, got {len(pools)}")
    return tuple(pools)


# How each dataclass field is parsed on the command line; a test checks that the flags
# cover every field (NetConfig.height comes from the dataset's manifest instead).
NET_FLAGS = {"first_stride": (number(int, 1, MAX_POOL),
                             "stride of the first convolution (1: full resolution)"),
             "conv_filters": (_ints, "conv filters per layer, e.g. 32,64,96"),
             "pools": (_pools, "pooling after each conv, rowsxcols, e.g. 2x2,2x2,2x1"),
             "dense": (number(int, 1, MAX_WIDTH), "units of the per-step projection"),
             "gru_units": (_ints, "units per bidirectional GRU layer, e.g. 96 or 128,64"),
             "dropout": (number(float, 0, 0.9), "dropout rate")}
TRAIN_FLAGS = {"epochs": (number(int, 1, 10_000), "most epochs (early stopping may end "
                                                   "sooner)"),
               "batch_size": (number(int, 1, 4096), "sequences per batch"),
               "learning_rate": (number(float, 1e-12, 1.0), "peak Adam learning rate"),
               "warmup_epochs": (number(float, 0, 10_000), "epochs of linear warm-up"),
               "patience": (number(int, 1, 10_000), "early-stopping patience in epochs"),
               "seed": (number(int, 0, 2**31 - 1), "random seed"),
               "fresh": (bool, "compose new training sequences every epoch from the "
                               "dataset's MNIST source instead of reading its train split"),
               "time_budget": (number(float, 0, 1e7),
                               "seconds of training, validation included (0: no limit): the "
                               "first epoch is timed, then the run trains as many epochs as "
                               "fit (at most --epochs), the learning-rate schedule spanning "
                               "them"),
               "distort": (number(float, 0, 3),
                           "strength of the random bend, slant and stroke-weight change "
                           "drawn for every training batch each epoch (0: off)"),
               "lowres": (number(float, 0, 1),
                          "share of training images shown at a lower resolution each batch "
                          "(scaled to 0.4-1 of its size and back; 0: off)"),
               "stretch": (number(float, 1, 2),
                           "stretch or narrow each training image by up to this factor, "
                           "drawn anew every batch (1: off)"),
               "shear": (number(float, 0, 1),
                         "lean each training image by a shear of up to this many pixels "
                         "per row, either way, drawn anew every batch (0: off)"),
               "erase": (number(float, 0, 1),
                         "share of training images cut across their strokes in three "
                         "places, small squares set to the paper, drawn anew every batch "
                         "(0: off)"),
               "average_last": (number(int, 0, 1000),
                                "average the weights of the last N epochs run and keep the "
                                "average if it reads the validation split at least as well "
                                "as the best epoch (0: off)"),
               "weight_decay": (number(float, 0, 1.0),
                                "decoupled weight decay on the kernels (AdamW; 0: plain "
                                "Adam)"),
               "interpolate": (number(float, 0.01, 1.0),
                               "with --from: keep the starting weights moved this fraction "
                               "of the way toward the trained ones (1: the trained weights; "
                               "0.5: halfway)")}
FINETUNE_FLAGS = {"val_fraction": (number(float, 0.01, 0.9),
                                   "part of the folder held out for validation, chosen by a "
                                   "hash of each file name"),
                  "augment": (bool, "light slant, tilt, width and stroke changes of the "
                                    "training images")}


def _range(kind) -> str:
    """``; from 1 to 64`` for a bounded flag type, else nothing."""
    low, high = getattr(kind, "low", None), getattr(kind, "high", None)
    return "" if low is None and high is None else f"; {describe_range(low, high)}"


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join("x".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    return str(value)


def build_parser() -> Parser:
    p = Parser(prog="python -m model.icr",
               description="Train a CNN + bidirectional GRU with CTC loss on a digit-sequence "
                           "dataset, evaluate it with greedy and beam decoding, save the run.")
    p.add_argument("dataset", help="a dataset name under data/ (e.g. digits) or a path; or "
                                   "a labelled folder (images/ + labels.csv) with --from or "
                                   "--evaluate")
    p.add_argument("--run-dir", type=path,
                   help="where the run goes (default: runs/DATASET, or runs/DATASET-N when "
                        "that holds a finished run); an unfinished run there is resumed")
    p.add_argument("--overwrite", action="store_true",
                   help="discard whatever --run-dir holds and start afresh")
    p.add_argument("--evaluate", type=path, metavar="RUN_DIR",
                   help="evaluate a finished run on the dataset's test split (a labelled "
                        "folder: every image); no training")
    p.add_argument("--from", dest="from_run", type=path, metavar="RUN_DIR",
                   help="fine-tune the model of this finished run (same architecture) instead "
                        "of training from scratch, with the fine-tuning defaults below")
    p.add_argument("--teacher", type=path, metavar="RUN_DIR",
                   help="also learn this finished run's per-frame readings (a committee, "
                        "python -m model.committee; same frame rate): knowledge distillation; "
                        "generated datasets only")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="'tiny' is a seconds-long configuration for tests")
    p.add_argument("--beam-width", type=number(int, 1, MAX_BEAM), default=10,
                   help=f"beam search width (default 10; at most {MAX_BEAM})")
    p.add_argument("--top-paths", type=number(int, 1, MAX_BEAM), default=1,
                   help="beam alternatives shown per sample, with scores (default 1)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to RUN_DIR/tensorboard (if tensorboard is installed)")
    p.add_argument("--refresh-figures", action="store_true",
                   help="also copy model_graph.png and model_summary.png to the repository "
                        "root (the README shows them)")
    p.add_argument("--skip-corrupt", action="store_true",
                   help="TFRecord datasets: train on the readable records of a damaged shard "
                        "and report how many were skipped, instead of stopping with an error; "
                        "labelled folders: leave out images that cannot be read or hold no "
                        "ink, and list them")
    g = p.add_argument_group("devices")
    g.add_argument("--distribute", metavar="STRATEGY",
                   help="'mirrored': tf.distribute.MirroredStrategy over every GPU (or "
                        "--devices) of this machine; the global batch is --batch-size")
    g.add_argument("--devices", metavar="LIST",
                   help="devices for --distribute, e.g. GPU:0,GPU:1 (default: every GPU)")
    net, train = NetConfig(), TrainConfig()
    g = p.add_argument_group("architecture (defaults: model.network.NetConfig)")
    for name, (kind, text) in NET_FLAGS.items():
        g.add_argument(flag(name), type=kind,
                       help=f"{text} (default {_show(getattr(net, name))}{_range(kind)})")
    g = p.add_argument_group("training (defaults: model.training.train.TrainConfig)")
    for name, (kind, text) in TRAIN_FLAGS.items():
        if kind is bool:
            g.add_argument(flag(name), action="store_const", const=True, help=text)
        else:
            g.add_argument(flag(name), type=kind,
                           help=f"{text} (default {_show(getattr(train, name))}{_range(kind)})")
    tuned = ", ".join(f"{flag(k)} {_show(v)}" for k, v in FINETUNE_TRAIN.items())
    g = p.add_argument_group("fine-tuning with --from (defaults: model.training.finetune; "
                             f"and {tuned})")
    ft = FinetuneConfig()
    for name, (kind, text) in FINETUNE_FLAGS.items():
        if kind is bool:
            g.add_argument(flag(name), action=argparse.BooleanOptionalAction,
                           help=f"{text} (default {'on' if getattr(ft, name) else 'off'})")
        else:
            g.add_argument(flag(name), type=kind,
                           help=f"{text} (default {getattr(ft, name)}{_range(kind)})")
    return p


def options_from(args: argparse.Namespace) -> Options:
    """The parsed flags as the jobs take them: the config flags given, by field."""
    def given(names) -> dict:
        return {k: getattr(args, k) for k in names if getattr(args, k) is not None}

    return Options(preset=args.preset, net=given(NET_FLAGS), train=given(TRAIN_FLAGS),
                   finetune=given(FINETUNE_FLAGS), run_dir=args.run_dir,
                   overwrite=args.overwrite, evaluate=args.evaluate, from_run=args.from_run,
                   beam_width=args.beam_width, top_paths=args.top_paths,
                   tensorboard=args.tensorboard, refresh_figures=args.refresh_figures,
                   skip_corrupt=args.skip_corrupt, distribute=args.distribute,
                   devices=args.devices, teacher=args.teacher)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from digits.dataset import read_manifest
        from model.evaluation.jobs import run_evaluation, run_folder_evaluation
        from model.inputs.datasets import resolve_dataset
        from model.reading.folder import find_folder
        from model.training.jobs import run_finetuning, run_training

        opts = options_from(args)
        if args.evaluate is not None and args.from_run is not None:
            raise DataError("--evaluate and --from exclude each other: evaluate a run, or "
                            "fine-tune one")
        folder = find_folder(args.dataset)
        if folder is not None:
            if args.evaluate is not None:
                return run_folder_evaluation(opts, folder)
            if args.teacher is not None:
                raise DataError("--teacher trains on generated datasets, not on a labelled "
                                "folder")
            if args.from_run is None:
                raise DataError(f"{folder} is a labelled folder (labels.csv, no manifest.json):"
                                " fine-tune a finished run on it with --from RUN_DIR, or "
                                "evaluate one with --evaluate RUN_DIR")
            return run_finetuning(opts, folder)
        dataset = resolve_dataset(args.dataset)
        manifest = read_manifest(dataset)
        if args.evaluate is not None:
            if args.teacher is not None:
                raise DataError("--evaluate and --teacher exclude each other")
            return run_evaluation(opts, dataset, manifest)
        return run_training(opts, dataset, manifest)
    except DataError as e:
        return fail(str(e))
    except OSError as e:  # a read-only or full disk, a path that is not a directory
        return fail(f"cannot write {e.filename or 'the run'}: {e.strerror or e}", 1)
    except KeyboardInterrupt:
        return fail("interrupted; rerun the same command to resume", 130)


if __name__ == "__main__":
    sys.exit(main())
