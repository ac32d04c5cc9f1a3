"""The training jobs of ``python -m model.icr``: training on a generated dataset and
fine-tuning a finished run on a labelled folder. Each writes a run directory
(``model.runs``) with the model, its curves and graph, and its test figures."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from digits.cli import PROJECT_ROOT
from digits.errors import DataError
from digits.files import replacing
from model.evaluation.jobs import report
from model.network import NetConfig
from model.runs import check_resumable, log, new_run_dir, start_run
from model.training.finetune import FinetuneConfig
from model.training.options import Options, configs
from model.training.train import TrainConfig


def strategy_from(opts: Options):
    """The tf.distribute strategy that --distribute and --devices ask for, or None."""
    if opts.distribute is None:
        if opts.devices is not None:
            raise DataError("--devices needs --distribute mirrored")
        return None
    from model.training.distribute import make_strategy, parse_devices

    return make_strategy(opts.distribute, parse_devices(opts.devices or ""))


def train_and_report(opts: Options, run_dir: Path, training, val, test, net: NetConfig,
                     cfg: TrainConfig, strategy=None, initial: Path | None = None,
                     augment=None, extra: dict | None = None, teacher=None) -> dict:
    """Train, draw the curves and the model, evaluate on ``test``: the artefacts of a run."""
    from model.evaluation.plots import plot_curves, plot_graph, plot_summary
    from model.inputs.datasets import FreshSequences, naming_corrupt_images
    from model.training.train import train

    start = time.time()
    stored = [s for s in (training, val, test) if not isinstance(s, FreshSequences)]
    with naming_corrupt_images(stored):
        # Taught by a teacher, the run is to read as the teacher does, which the validation
        # labels do not measure: the starting model would win on them and nothing be learned.
        model = train(run_dir, training, val, net, cfg, log=log, tensorboard=opts.tensorboard,
                      strategy=strategy, initial=initial, augment=augment,
                      initial_competes=teacher is None, teacher=teacher)
        log(f"trained in {time.time() - start:.0f} s")
        plot_curves(run_dir / "history.csv", run_dir / "curves.png")
        log(plot_graph(model, run_dir / "model_graph.png"))
        plot_summary(model, run_dir / "model_summary.png")
        metrics = report(run_dir, model, net, test, opts.beam_width, opts.top_paths,
                         "metrics.json", extra)
    if opts.refresh_figures:
        for name in ("model_graph.png", "model_summary.png"):
            if (run_dir / name).is_file():
                with replacing(PROJECT_ROOT / name) as tmp:
                    shutil.copyfile(run_dir / name, tmp)
    print(f"run directory: {run_dir}")
    return metrics


def load_from_run(opts: Options):
    """The run that --from names: (its model.keras path, the model, its NetConfig, its
    config.json)."""
    from model.runs import load_run, refuse_committee

    loaded = load_run(opts.from_run)
    refuse_committee(opts.from_run, loaded[2], "fine-tune")
    return opts.from_run / "model.keras", *loaded


def load_teacher(run_dir: Path, net: NetConfig):
    """The run that --teacher names: (its model, its config.json), checked to read the
    frames the student's network reads."""
    from model.runs import load_run

    model, teacher_net, config = load_run(run_dir)
    if (teacher_net.height, teacher_net.width_factor) != (net.height, net.width_factor):
        raise DataError(f"--teacher {run_dir} reads {teacher_net.height}-pixel-high images "
                        f"into a time step per {teacher_net.width_factor} columns; the network "
                        f"trained reads {net.height} and {net.width_factor}")
    return model, config


def describe_from(run_dir: Path, config: dict) -> dict:
    """What config.json records about the run a fine-tuning started from."""
    return {"run": str(run_dir.resolve()),
            **{k: config[k] for k in ("dataset", "folder") if k in config}}


def run_training(opts: Options, dataset: Path, manifest: dict) -> int:
    from model.inputs.datasets import check_time_steps, fresh_pool, open_split
    from model.training.train import set_threads

    threads = set_threads()

    height = int(manifest["compose"]["height"])
    initial, _, start_net, from_config = load_from_run(opts) if opts.from_run else (None,) * 4
    if start_net is not None and start_net.height != height:
        raise DataError(f"{opts.from_run} reads {start_net.height}-pixel-high images; "
                        f"{dataset} holds {height}-pixel-high ones")
    net, cfg = configs(opts, height, start_net)
    teacher, teacher_config = load_teacher(opts.teacher, net) if opts.teacher else (None, None)
    strategy = strategy_from(opts)
    run_dir = new_run_dir(dataset.name, opts.run_dir, opts.overwrite, opts.from_run)
    # Through JSON once, so that it compares equal to a config.json read back.
    config = json.loads(json.dumps({"dataset": str(dataset.resolve()),
                                    "dataset_manifest": manifest,
                                    "net": net.to_dict(), "train": cfg.to_dict()}))
    if initial is not None:
        config["from"] = describe_from(opts.from_run, from_config)
    if teacher is not None:
        config["teacher"] = {"run": str(opts.teacher.resolve()),
                             **({"committee": teacher_config["committee"]}
                                if "committee" in teacher_config else {})}
    check_resumable(run_dir, config, ("net", "train", "from", "teacher"), opts.overwrite)
    # Every check on the data comes before the run directory is touched.
    splits = {s: open_split(dataset, manifest, s, height, opts.skip_corrupt, log)
              for s in ("train", "val", "test")}
    for split in splits.values():
        check_time_steps(split, net)
    skipped = {s: split.skipped for s, split in splits.items() if getattr(split, "skipped", 0)}
    if skipped:
        config["skipped_records"] = skipped
    if strategy is not None:
        config["distribute"] = {"strategy": opts.distribute,
                                "devices": list(strategy.extended.worker_devices)}
    training = fresh_pool(manifest, len(splits["train"]), dataset) if cfg.fresh else splits["train"]
    start_run(run_dir, config, opts.overwrite)
    log(f"training on {len(splits['train']):,} {'new ' if cfg.fresh else ''}sequences"
        f"{' per epoch' if cfg.fresh else ''}, validating on {len(splits['val']):,}"
        f"{f', starting from {opts.from_run}' if initial else ''}; {threads}")
    if strategy is not None:
        log(f"--distribute {opts.distribute}: {strategy.num_replicas_in_sync} replicas "
            f"({', '.join(strategy.extended.worker_devices)}), global batch {cfg.batch_size}")
    metrics = train_and_report(opts, run_dir, training, splits["val"], splits["test"], net, cfg,
                               strategy, initial, teacher=teacher)
    print(f"test exact accuracy: greedy {100 * metrics['greedy']['exact']:.2f}%, "
          f"beam {100 * metrics['beam']['exact']:.2f}%")
    return 0


def finetune_config(opts: Options) -> FinetuneConfig:
    from model.training.finetune import check_config

    cfg = FinetuneConfig(**opts.finetune)
    check_config(cfg)
    return cfg


def run_finetuning(opts: Options, root: Path) -> int:
    """Fine-tune the run --from names on a labelled folder (model.training.finetune)."""
    import hashlib
    import tempfile

    from model.evaluation.evaluate import evaluate_model
    from model.reading.folder import read_folder
    from model.reading.preprocess import PrepConfig
    from model.training.augment import AugmentConfig, make_augment

    if opts.train.get("fresh"):
        raise DataError("--fresh composes sequences from a generated dataset's MNIST source; "
                        f"{root} is a labelled folder")
    ft = finetune_config(opts)
    folder = read_folder(root)
    initial, start_model, start_net, from_config = load_from_run(opts)
    net, cfg = configs(opts, start_net.height, start_net)
    strategy = strategy_from(opts)
    run_dir = new_run_dir(root.name, opts.run_dir, opts.overwrite, opts.from_run)
    prep = PrepConfig(height=net.height)
    labels = (root / "labels.csv").read_bytes()
    config = json.loads(json.dumps({
        "folder": str(root.resolve()), "folder_labels_sha256": hashlib.sha256(labels).hexdigest(),
        "from": describe_from(opts.from_run, from_config),
        "net": net.to_dict(), "train": cfg.to_dict(), "finetune": ft.to_dict(),
        "augment": AugmentConfig().to_dict() if ft.augment else None,
        "prep": dataclasses.asdict(prep)}))
    keys = ("net", "train", "finetune", "from", "folder", "folder_labels_sha256")
    check_resumable(run_dir, config, keys, opts.overwrite)
    with tempfile.TemporaryDirectory(prefix="icr-finetune-") as scratch:
        from model.training.finetune import finetune_data

        data = finetune_data(folder, net, ft, Path(scratch), opts.skip_corrupt, log)
        config["images"] = data.info
        before = evaluate_model(start_model, net, data.val, opts.beam_width).metrics
        start_run(run_dir, config, opts.overwrite)
        log(f"fine-tuning {opts.from_run} on {len(data.train):,} images of {root}, validating "
            f"on {len(data.val):,} (before: greedy exact "
            f"{100 * before['greedy']['exact']:.2f}%, CER {100 * before['greedy']['cer']:.2f}%)")
        augment = make_augment(net, cfg.seed, prep=prep) if ft.augment else None
        extra = {"evaluated_on": f"the {len(data.val)} held-out images of {root} (they also "
                                 "chose the best epoch)", "before": before}
        metrics = train_and_report(opts, run_dir, data.train, data.val, data.val, net, cfg,
                                   strategy, initial, augment, extra)
    print(f"held-out exact accuracy: greedy {100 * before['greedy']['exact']:.2f}% -> "
          f"{100 * metrics['greedy']['exact']:.2f}%, beam {100 * before['beam']['exact']:.2f}% "
          f"-> {100 * metrics['beam']['exact']:.2f}%")
    return 0
