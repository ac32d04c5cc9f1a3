"""Train a CRNN on a generated dataset, evaluate it, and write a run directory.

    python -m model.icr digits                      # train on data/digits, evaluate, save
    python -m model.icr digits --evaluate RUN_DIR   # evaluate a finished run, no training
    python -m model.icr big --distribute mirrored   # train on every GPU of this machine
    python -m model.icr DIR --from RUN_DIR          # fine-tune a run on a labelled folder
    python -m model.icr DIR --evaluate RUN_DIR      # evaluate a run on a labelled folder

The dataset may be in either format the generator writes (PNG folders or TFRecord shards);
both are streamed through tf.data. A labelled folder (DIR/images/... + DIR/labels.csv with
file_name,text, no manifest.json) holds real images: they are read the way model.read
reads them (model.folder, model.finetune).

A run directory holds model.keras, config.json, history.csv, metrics.json, curves.png,
samples.png, model_graph.png (or .dot) and model_summary.png, and averaged.json with
--average-last. Rerunning a killed command resumes the run from its last finished epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from digits.cli import PROJECT_ROOT, Parser, fail
from digits.errors import DataError
from model.finetune import FINETUNE_TRAIN, FinetuneConfig
from model.network import NetConfig
from model.train import TrainConfig

RUNS_DIR = PROJECT_ROOT / "runs"

# A tiny preset for tests and CI: seconds per epoch, not accuracy.
PRESETS = {
    "default": ({}, {}),
    "tiny": ({"conv_filters": (8, 16, 16), "dense": 16, "gru_units": (8,)},
             {"epochs": 2, "batch_size": 16}),
}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _pools(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(int(v) for v in p.split("x")) for p in text.split(","))


# How each dataclass field is parsed on the command line; a test checks that the flags
# cover every field (NetConfig.height comes from the dataset's manifest instead).
NET_FLAGS = {"conv_filters": (_ints, "conv filters per layer, e.g. 32,64,96"),
             "pools": (_pools, "pooling after each conv, rowsxcols, e.g. 2x2,2x2,2x1"),
             "dense": (int, "units of the per-step projection"),
             "gru_units": (_ints, "units per bidirectional GRU layer, e.g. 96 or 128,64"),
             "dropout": (float, "dropout rate")}
TRAIN_FLAGS = {"epochs": (int, "most epochs (early stopping may end sooner)"),
               "batch_size": (int, "sequences per batch"),
               "learning_rate": (float, "peak Adam learning rate"),
               "warmup_epochs": (float, "epochs of linear warm-up"),
               "patience": (int, "early-stopping patience in epochs"),
               "seed": (int, "random seed"),
               "fresh": (bool, "compose new training sequences every epoch from the "
                               "dataset's MNIST source instead of reading its train split"),
               "average_last": (int, "average the weights of the last N epochs run and keep "
                                     "the average if it reads the validation split at "
                                     "least as well as the best epoch (0: off)")}
FINETUNE_FLAGS = {"val_fraction": (float, "part of the folder held out for validation, "
                                          "chosen by a hash of each file name"),
                  "augment": (bool, "light slant, tilt, width and stroke changes of the "
                                    "training images")}


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


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
    p.add_argument("--run-dir", type=Path,
                   help="where the run goes (default: runs/DATASET, or runs/DATASET-N when "
                        "that holds a finished run); an unfinished run there is resumed")
    p.add_argument("--overwrite", action="store_true",
                   help="discard whatever --run-dir holds and start afresh")
    p.add_argument("--evaluate", type=Path, metavar="RUN_DIR",
                   help="evaluate a finished run on the dataset's test split (a labelled "
                        "folder: every image); no training")
    p.add_argument("--from", dest="from_run", type=Path, metavar="RUN_DIR",
                   help="fine-tune the model of this finished run (same architecture) instead "
                        "of training from scratch, with the fine-tuning defaults below")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="'tiny' is a seconds-long configuration for tests")
    p.add_argument("--beam-width", type=int, default=10, help="beam search width (default 10)")
    p.add_argument("--top-paths", type=int, default=1,
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
        g.add_argument(_flag(name), type=kind, help=f"{text} (default {_show(getattr(net, name))})")
    g = p.add_argument_group("training (defaults: model.train.TrainConfig)")
    for name, (kind, text) in TRAIN_FLAGS.items():
        if kind is bool:
            g.add_argument(_flag(name), action="store_const", const=True, help=text)
        else:
            g.add_argument(_flag(name), type=kind,
                           help=f"{text} (default {_show(getattr(train, name))})")
    tuned = ", ".join(f"{_flag(k)} {_show(v)}" for k, v in FINETUNE_TRAIN.items())
    g = p.add_argument_group(f"fine-tuning with --from (defaults: model.finetune; and {tuned})")
    ft = FinetuneConfig()
    for name, (kind, text) in FINETUNE_FLAGS.items():
        if kind is bool:
            g.add_argument(_flag(name), action=argparse.BooleanOptionalAction,
                           help=f"{text} (default {'on' if getattr(ft, name) else 'off'})")
        else:
            g.add_argument(_flag(name), type=kind, help=f"{text} (default {getattr(ft, name)})")
    return p


def configs(args, height: int, net: NetConfig | None = None) -> tuple[NetConfig, TrainConfig]:
    """The architecture and training settings the flags ask for.

    Args:
        net: the architecture of the run that --from starts from; the architecture flags
            cannot change it. With --from, training starts from FINETUNE_TRAIN's defaults.
    """
    net_preset, train_preset = PRESETS[args.preset]
    given = {k: getattr(args, k) for k in NET_FLAGS if getattr(args, k) is not None}
    base = FINETUNE_TRAIN if args.from_run is not None else {}
    train = {**base, **train_preset,
             **{k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}}
    if net is not None and given:
        raise DataError(f"--from keeps the architecture of its run; leave out "
                        f"{', '.join(map(_flag, given))}")
    net_cfg = net if net is not None else NetConfig(height=height, **{**net_preset, **given})
    train_cfg = TrainConfig(**train)
    from model.network import validate

    try:
        validate(net_cfg)
    except ValueError as e:
        raise DataError(str(e)) from None
    for name in ("epochs", "batch_size", "patience"):
        if getattr(train_cfg, name) < 1:
            raise DataError(f"{_flag(name)} must be at least 1")
    if train_cfg.average_last < 0 or train_cfg.average_last == 1:
        raise DataError("--average-last must be 0 (off) or at least 2")
    if train_cfg.learning_rate <= 0 or train_cfg.warmup_epochs < 0:
        raise DataError("--learning-rate must be positive and --warmup-epochs not negative")
    if args.beam_width < 1 or not 1 <= args.top_paths <= args.beam_width:
        raise DataError("need --beam-width >= 1 and 1 <= --top-paths <= --beam-width")
    return net_cfg, train_cfg


def choose_run_dir(args, dataset: Path) -> Path:
    """The explicit --run-dir, else runs/NAME, skipping finished runs (never overwritten)."""
    if args.run_dir is not None:
        run = args.run_dir
        start = getattr(args, "from_run", None)
        if start is not None and run.resolve() == start.resolve():
            raise DataError("--run-dir must not be the run that --from starts from")
        if (run / "metrics.json").exists() and not args.overwrite:
            raise DataError(f"{run} holds a finished run; pass --overwrite or another --run-dir")
        return run
    run, n = RUNS_DIR / dataset.name, 1
    while (run / "metrics.json").exists():
        n += 1
        run = RUNS_DIR / f"{dataset.name}-{n}"
    return run


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def report(run_dir: Path, model, net: NetConfig, split, args, out_name: str,
           extra: dict | None = None) -> dict:
    """Evaluate on the test split, print the table and write metrics and samples.

    Args:
        extra: more entries for the JSON file (what was evaluated, figures before).
    """
    from model.data import sample_images
    from model.evaluate import evaluate_model
    from model.metrics import format_table
    from model.plots import choose_samples, plot_samples

    ev = evaluate_model(model, net, split, args.beam_width, args.top_paths)
    print(format_table(ev.metrics))
    for i in range(min(3, len(ev.truths))):
        alternatives = ", ".join(f"{r.text} ({r.score:.3f})" for r in ev.beam[i])
        print(f"sample {i}: truth {ev.truths[i]}, greedy {ev.greedy[i]}, beam {alternatives}")
    write_json(run_dir / out_name, {**ev.metrics, **(extra or {})})
    beam = [r[0].text for r in ev.beam]
    images = sample_images(split, choose_samples(ev.truths, ev.greedy, beam), net.height)
    plot_samples(images, ev.truths, ev.greedy, beam,
                 run_dir / ("samples.png" if out_name == "metrics.json" else
                            out_name.replace(".json", "_samples.png")))
    return ev.metrics


def strategy_from_args(args):
    """The tf.distribute strategy that --distribute and --devices ask for, or None."""
    if args.distribute is None:
        if args.devices is not None:
            raise DataError("--devices needs --distribute mirrored")
        return None
    from model.distribute import make_strategy, parse_devices

    return make_strategy(args.distribute, parse_devices(args.devices or ""))


def check_resumable(run_dir: Path, config: dict, args, keys: tuple[str, ...]) -> None:
    """An unfinished run in ``run_dir`` is resumed only with the same settings (``keys``
    of config.json)."""
    previous = run_dir / "config.json"
    if not previous.is_file() or args.overwrite:
        return
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{previous} is unreadable ({e}); pass --overwrite to start "
                        "afresh") from None
    if {k: old.get(k) for k in keys} != {k: config.get(k) for k in keys}:
        raise DataError(f"{run_dir} holds an unfinished run with other settings; rerun it "
                        "with the same flags, or pass --overwrite")


def start_run(run_dir: Path, config: dict, args) -> None:
    """Create the run directory and its config.json: the first write of a run, after
    every check on the data."""
    if args.overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config)
    log(f"run directory: {run_dir}")


def train_and_report(args, run_dir: Path, training, val, test, net: NetConfig,
                     cfg: TrainConfig, strategy=None, initial: Path | None = None,
                     augment=None, extra: dict | None = None) -> dict:
    """Train, draw the curves and the model, evaluate on ``test``: the artefacts of a run."""
    from model.data import FreshSequences, naming_corrupt_images
    from model.plots import plot_curves, plot_graph, plot_summary
    from model.train import train

    start = time.time()
    stored = [s for s in (training, val, test) if not isinstance(s, FreshSequences)]
    with naming_corrupt_images(stored):
        model = train(run_dir, training, val, net, cfg, log=log, tensorboard=args.tensorboard,
                      strategy=strategy, initial=initial, augment=augment)
        log(f"trained in {time.time() - start:.0f} s")
        plot_curves(run_dir / "history.csv", run_dir / "curves.png")
        log(plot_graph(model, run_dir / "model_graph.png"))
        plot_summary(model, run_dir / "model_summary.png")
        metrics = report(run_dir, model, net, test, args, "metrics.json", extra)
    if args.refresh_figures:
        for name in ("model_graph.png", "model_summary.png"):
            if (run_dir / name).is_file():
                tmp = PROJECT_ROOT / f".{name}.partial"
                shutil.copyfile(run_dir / name, tmp)
                os.replace(tmp, PROJECT_ROOT / name)
    print(f"run directory: {run_dir}")
    return metrics


def load_from_run(args):
    """The run that --from names: (its model.keras path, the model, its NetConfig, its
    config.json)."""
    from model.evaluate import load_run

    return args.from_run / "model.keras", *load_run(args.from_run)


def describe_from(run_dir: Path, config: dict) -> dict:
    """What config.json records about the run a fine-tuning started from."""
    return {"run": str(run_dir.resolve()),
            **{k: config[k] for k in ("dataset", "folder") if k in config}}


def run_training(args, dataset: Path, manifest: dict) -> int:
    from model.data import check_time_steps, fresh_pool, open_split

    height = int(manifest["compose"]["height"])
    initial, _, start_net, from_config = load_from_run(args) if args.from_run else (None,) * 4
    if start_net is not None and start_net.height != height:
        raise DataError(f"{args.from_run} reads {start_net.height}-pixel-high images; "
                        f"{dataset} holds {height}-pixel-high ones")
    net, cfg = configs(args, height, start_net)
    strategy = strategy_from_args(args)
    run_dir = choose_run_dir(args, dataset)
    # Through JSON once, so that it compares equal to a config.json read back.
    config = json.loads(json.dumps({"dataset": str(dataset.resolve()),
                                    "dataset_manifest": manifest,
                                    "net": net.to_dict(), "train": cfg.to_dict()}))
    if initial is not None:
        config["from"] = describe_from(args.from_run, from_config)
    check_resumable(run_dir, config, args, ("net", "train", "from"))
    # Every check on the data comes before the run directory is touched.
    splits = {s: open_split(dataset, manifest, s, height, args.skip_corrupt, log)
              for s in ("train", "val", "test")}
    for split in splits.values():
        check_time_steps(split, net)
    skipped = {s: split.skipped for s, split in splits.items() if getattr(split, "skipped", 0)}
    if skipped:
        config["skipped_records"] = skipped
    if strategy is not None:
        config["distribute"] = {"strategy": args.distribute,
                                "devices": list(strategy.extended.worker_devices)}
    training = fresh_pool(manifest, len(splits["train"])) if cfg.fresh else splits["train"]
    start_run(run_dir, config, args)
    log(f"training on {len(splits['train']):,} {'new ' if cfg.fresh else ''}sequences"
        f"{' per epoch' if cfg.fresh else ''}, validating on {len(splits['val']):,}"
        f"{f', starting from {args.from_run}' if initial else ''}")
    if strategy is not None:
        log(f"--distribute {args.distribute}: {strategy.num_replicas_in_sync} replicas "
            f"({', '.join(strategy.extended.worker_devices)}), global batch {cfg.batch_size}")
    metrics = train_and_report(args, run_dir, training, splits["val"], splits["test"], net, cfg,
                               strategy, initial)
    print(f"test exact accuracy: greedy {100 * metrics['greedy']['exact']:.2f}%, "
          f"beam {100 * metrics['beam']['exact']:.2f}%")
    return 0


def finetune_config(args) -> FinetuneConfig:
    from model.finetune import check_config

    given = {k: getattr(args, k) for k in FINETUNE_FLAGS if getattr(args, k) is not None}
    cfg = FinetuneConfig(**given)
    check_config(cfg)
    return cfg


def run_finetuning(args, root: Path) -> int:
    """Fine-tune the run --from names on a labelled folder (model.finetune)."""
    import hashlib
    import tempfile

    from model.augment import AugmentConfig, make_augment
    from model.evaluate import evaluate_model
    from model.folder import read_folder
    from model.preprocess import PrepConfig

    if args.fresh:
        raise DataError("--fresh composes sequences from a generated dataset's MNIST source; "
                        f"{root} is a labelled folder")
    ft = finetune_config(args)
    folder = read_folder(root)
    initial, start_model, start_net, from_config = load_from_run(args)
    net, cfg = configs(args, start_net.height, start_net)
    strategy = strategy_from_args(args)
    run_dir = choose_run_dir(args, root)
    prep = PrepConfig(height=net.height)
    labels = (root / "labels.csv").read_bytes()
    config = json.loads(json.dumps({
        "folder": str(root.resolve()), "folder_labels_sha256": hashlib.sha256(labels).hexdigest(),
        "from": describe_from(args.from_run, from_config),
        "net": net.to_dict(), "train": cfg.to_dict(), "finetune": ft.to_dict(),
        "augment": AugmentConfig().to_dict() if ft.augment else None,
        "prep": dataclasses.asdict(prep)}))
    keys = ("net", "train", "finetune", "from", "folder", "folder_labels_sha256")
    check_resumable(run_dir, config, args, keys)
    with tempfile.TemporaryDirectory(prefix="icr-finetune-") as scratch:
        from model.finetune import finetune_data

        data = finetune_data(folder, net, ft, Path(scratch), args.skip_corrupt, log)
        config["images"] = data.info
        before = evaluate_model(start_model, net, data.val, args.beam_width).metrics
        start_run(run_dir, config, args)
        log(f"fine-tuning {args.from_run} on {len(data.train):,} images of {root}, validating "
            f"on {len(data.val):,} (before: greedy exact "
            f"{100 * before['greedy']['exact']:.2f}%, CER {100 * before['greedy']['cer']:.2f}%)")
        augment = make_augment(net, cfg.seed, prep=prep) if ft.augment else None
        extra = {"evaluated_on": f"the {len(data.val)} held-out images of {root} (they also "
                                 "chose the best epoch)", "before": before}
        metrics = train_and_report(args, run_dir, data.train, data.val, data.val, net, cfg,
                                   strategy, initial, augment, extra)
    print(f"held-out exact accuracy: greedy {100 * before['greedy']['exact']:.2f}% -> "
          f"{100 * metrics['greedy']['exact']:.2f}%, beam {100 * before['beam']['exact']:.2f}% "
          f"-> {100 * metrics['beam']['exact']:.2f}%")
    return 0


def run_evaluation(args, dataset: Path, manifest: dict) -> int:
    from model.data import check_time_steps, naming_corrupt_images, open_split
    from model.evaluate import load_run

    configs(args, int(manifest["compose"]["height"]))  # validates the decoding flags
    if args.distribute is not None or args.devices is not None:
        raise DataError("--distribute and --devices apply to training, not --evaluate")
    model, net, _ = load_run(args.evaluate)
    split = open_split(dataset, manifest, "test", net.height, args.skip_corrupt, log)
    check_time_steps(split, net)
    with naming_corrupt_images([split]):
        report(args.evaluate, model, net, split, args, f"eval_{dataset.name}.json")
    return 0


def run_folder_evaluation(args, root: Path) -> int:
    """Evaluate a finished run on every image of a labelled folder, prepared as model.read
    prepares them."""
    import tempfile

    from model.data import too_narrow
    from model.evaluate import load_run
    from model.folder import prepare_folder, read_folder

    if args.distribute is not None or args.devices is not None:
        raise DataError("--distribute and --devices apply to training, not --evaluate")
    folder = read_folder(root)
    model, net, _ = load_run(args.evaluate)
    configs(args, net.height, net)  # validates the decoding flags
    with tempfile.TemporaryDirectory(prefix="icr-evaluate-") as scratch:
        prepared = prepare_folder(folder, net.height, Path(scratch), args.skip_corrupt, log)
        narrow = len(too_narrow(prepared.split, net))
        if narrow:
            log(f"{narrow} image{'s' * (narrow > 1)} too narrow for their labels once prepared: "
                "the model cannot read them right, and they count as misread")
        extra = {"folder": str(root.resolve()), "images": len(prepared.split),
                 "too_narrow": narrow, "unreadable": prepared.unreadable}
        report(args.evaluate, model, net, prepared.split, args, f"eval_{root.name}.json", extra)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from digits.dataset import read_manifest
        from model.data import resolve_dataset
        from model.folder import find_folder

        if args.evaluate is not None and args.from_run is not None:
            raise DataError("--evaluate and --from exclude each other: evaluate a run, or "
                            "fine-tune one")
        folder = find_folder(args.dataset)
        if folder is not None:
            if args.evaluate is not None:
                return run_folder_evaluation(args, folder)
            if args.from_run is None:
                raise DataError(f"{folder} is a labelled folder (labels.csv, no manifest.json):"
                                " fine-tune a finished run on it with --from RUN_DIR, or "
                                "evaluate one with --evaluate RUN_DIR")
            return run_finetuning(args, folder)
        dataset = resolve_dataset(args.dataset)
        manifest = read_manifest(dataset)
        if args.evaluate is not None:
            return run_evaluation(args, dataset, manifest)
        return run_training(args, dataset, manifest)
    except DataError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted; rerun the same command to resume", 130)


if __name__ == "__main__":
    sys.exit(main())
