"""Adapting a finished run to a folder of unlabelled images (``python -m model.adapt``).

1. Every image is prepared the ways ``model.read`` tries, once, and read by the original
   model (``readings.read_prepared``).
2. AdaBN: the batch-norm statistics are re-estimated on the folder's prepared images, the
   way each one is read (``adabn.reestimate``).
3. Self-training rounds: the readings that are confident and read alike by enough ways of
   preparing the image become pseudo-labels; the model trains briefly on them (with light
   augmentation) mixed with fresh synthetic sequences, through ``model.training.train``,
   and reads the folder again for the next round.
4. The guard: each adapted model (AdaBN alone, and after the rounds) is scored by its
   agreement with itself over the folder (the share of ways that read what it reads) and by
   its exact accuracy on fixed synthetic sequences. The best agreement wins if it beats the
   original's by ``margin`` without losing more than ``max_drift`` on the sequences;
   otherwise the original is kept, and the run says so.

A labels.csv in the folder is read only after that choice, to report accuracy. The run
directory is built in a hidden sibling and renamed into place when complete, so a killed
adaptation leaves nothing half-written, and the same command restarts it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.errors import DataError
from model.adaptation.images import ImageFolder

# Fewer images than this: AdaBN only. A round needs MIN_PSEUDO pseudo-labels to train on,
# and fewer images rarely give them; AdaBN's statistics settle with a few dozen.
MIN_SELF_TRAINING = 100
MIN_PSEUDO = 50
VAL_SALT = "adapt-val"  # which pseudo-labels choose a round's best epoch
VAL_FRACTION = 0.1


@dataclass(frozen=True)
class AdaptConfig:
    """How a run adapts. Every field has a ``model.adapt`` flag of the same name; the
    defaults were chosen on the tune halves of two real folders (docs/adapting.md)."""

    seed: int = 1234  # pseudo-label order, synthetic sequences, augmentation, shuffling
    # Share of the folder's batch-norm statistics in the blend with the training data's
    # (0: AdaBN off).
    adabn: float = 1.0
    rounds: int = 2  # self-training rounds (0: AdaBN only); the guard may keep an earlier one
    epochs: int = 3  # per round: the pseudo-labels are learnt in a few passes
    learning_rate: float = 1e-3  # fine-tuning's; 5e-4 gained 1.2 points less on meza's tune half
    batch_size: int = 32
    # A reading becomes a pseudo-label at this probability or more...
    min_confidence: float = 0.9
    # ...read alike by at least this share of the ways that gave a reading.
    min_agree: float = 0.5
    synthetic: float = 1.0  # synthetic sequences per pseudo-labelled image in a round
    # Other ways of preparing a pseudo-labelled image trained on with its label, beside the
    # way it was read from: the model learns to read the preparations it misread.
    # Two: meza's tune half 87.5% after one round against 86.5% with none (docs/adapting.md).
    extra_ways: int = 2
    augment: bool = True  # light slant, tilt, width and stroke changes of the pseudo-images
    # The guard: the adapted agreement must beat the original's by this much...
    margin: float = 0.005
    # ...and lose at most this much exact accuracy on fixed synthetic sequences.
    max_drift: float = 0.03
    beam_width: int = 10  # as model.read reads

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_config(cfg: AdaptConfig) -> None:
    if not 0 <= cfg.adabn <= 1 or not 0 <= cfg.min_confidence <= 1 or not 0 <= cfg.min_agree <= 1:
        raise DataError("--adabn, --min-confidence and --min-agree lie between 0 and 1")
    if cfg.rounds < 0 or cfg.epochs < 1 or cfg.batch_size < 1 or cfg.learning_rate <= 0:
        raise DataError("--rounds must be at least 0, --epochs and --batch-size at least 1, "
                        "--learning-rate positive")


def _identity(images: ImageFolder, from_run: Path, from_config: dict, net,
              cfg: AdaptConfig) -> dict:
    """What config.json records, and what a rerun must match to count as the same."""
    from model.training.jobs import describe_from

    return json.loads(json.dumps({
        "folder": str(images.root.resolve()), "folder_images": len(images),
        "folder_sha256": images.sha256, "from": describe_from(from_run, from_config),
        "net": net.to_dict(), "adapt": cfg.to_dict()}))


def finished(run_dir: Path, identity: dict) -> bool:
    """Whether ``run_dir`` holds this very adaptation, finished.

    Raises:
        DataError: it holds something else (without ``--overwrite``).
    """
    from model.runs import CONFIG, METRICS

    if not run_dir.exists():
        return False
    try:
        old = json.loads((run_dir / CONFIG).read_text())
    except (OSError, ValueError):
        old = None
    if (old is not None and (run_dir / METRICS).is_file()
            and {k: old.get(k) for k in identity} == identity):
        return True
    raise DataError(f"{run_dir} already exists and holds another run; pass --overwrite "
                    "or another --run-dir")


def adapt(root: Path, from_run: Path, run_dir: Path, cfg: AdaptConfig = AdaptConfig(),
          overwrite: bool = False, log=print) -> dict:
    """Adapt the run ``from_run`` to the images of ``root`` into ``run_dir`` (module doc).

    Returns:
        The metrics written to run_dir/metrics.json.

    Raises:
        DataError: no images, no run, an unwritable or occupied ``run_dir``.
    """
    import tensorflow as tf

    from digits.files import building_dir, check_replaceable, write_json
    from model.adaptation.images import find_images
    from model.reading import calibration
    from model.reading.folder import prepare_folder_ways
    from model.runs import CONFIG, METRICS, load_run, read_net, refuse_committee
    from model.training.train import set_threads

    check_config(cfg)
    read_net(from_run)  # a finished run, before any image is looked at
    if run_dir.resolve() == from_run.resolve():
        raise DataError("--run-dir must not be the run that --from names")
    images = find_images(root)
    threads = set_threads()
    tf.config.experimental.enable_op_determinism()  # the same seed, the same weights
    model, net, from_config = load_run(from_run)
    refuse_committee(from_run, from_config, "adapt")
    identity = _identity(images, from_run, from_config, net, cfg)
    if overwrite and run_dir.exists():
        check_replaceable(run_dir, CONFIG, "a run directory")
    elif finished(run_dir, identity):
        log(f"{run_dir} already holds this adaptation, finished; nothing to do")
        return json.loads((run_dir / METRICS).read_text())
    start = time.time()
    with building_dir(run_dir) as tmp:
        log(f"adapting {from_run} to {len(images):,} images of {root}; {threads}")
        prepared = prepare_folder_ways(images.as_folder(), net.height, skip_unreadable=True,
                                       log=log)
        metrics = _adapt_prepared(model, net, from_config, prepared.ways, cfg, tmp, log)
        metrics["unreadable"] = len(prepared.unreadable)
        labels = _report(images, prepared.rows, metrics.pop("texts"), log)
        if labels is not None:
            metrics["accuracy"] = labels
        metrics["seconds"] = round(time.time() - start, 1)
        config = {**identity, "adapted": metrics["kept"] != "original",
                  "kept": metrics["kept"], "rounds": metrics["rounds"],
                  "unreadable": len(prepared.unreadable),
                  "dataset_manifest": from_config.get("dataset_manifest")}
        write_json(tmp / CONFIG, config)
        calibrator = from_run / calibration.FILE
        if not config["adapted"] and calibrator.is_file():
            shutil.copyfile(calibrator, tmp / calibration.FILE)  # the same model, the same fit
        elif calibrator.is_file():
            log("the adapted model's confidence is not calibrated: python -m model.calibrate "
                f"{run_dir} fits it")
        write_json(tmp / METRICS, metrics)  # last: a run is finished when it is there
    log(f"run directory: {run_dir}")
    return metrics


def _adapt_prepared(model, net, from_config: dict, ways: list[list], cfg: AdaptConfig,
                    tmp: Path, log) -> dict:
    """AdaBN, the rounds and the guard on prepared images; saves tmp/model.keras."""
    from model.adaptation import synthetic
    from model.adaptation.adabn import reestimate
    from model.adaptation.readings import length_prior, pseudo_mask, read_prepared
    from model.api import traced
    from model.training.train import save_atomically

    compose = synthetic.compose_config(from_config, net.height)
    train_pool, test_pool = synthetic.digits_pools()
    drift = synthetic.sequences(test_pool, synthetic.DRIFT_COUNT, compose, synthetic.DRIFT_SEED)

    def scored(m, name, desc):
        fast = traced(m)
        found = Candidate(m, read_prepared(fast, net, ways, cfg.beam_width, desc),
                          synthetic.exact_as_generated(fast, net, *drift))
        log(f"{name}: agreement {100 * found.readings.agreement():.2f}%, synthetic exact "
            f"{100 * found.synthetic:.2f}%")
        return found

    original = scored(model, "original", "reading (original)")
    candidates: dict[str, Candidate] = {}
    rounds, notes = [], []
    texts = {"original": original.readings.texts}  # to report accuracy when labelled
    current = original
    if cfg.adabn > 0:
        adjusted = _copy(model)
        reestimate(adjusted, net, [ways[i][w] for i, w in enumerate(original.readings.way)],
                   cfg.adabn)
        current = candidates["adabn"] = scored(adjusted, "AdaBN", "reading (AdaBN)")
        texts["adabn"] = current.readings.texts
    if len(ways) < MIN_SELF_TRAINING and cfg.rounds > 0:
        notes.append(f"{len(ways)} readable images: self-training needs at least "
                     f"{MIN_SELF_TRAINING}, so only AdaBN was tried")
        log(notes[-1])
    elif cfg.rounds > 0:
        for r in range(1, cfg.rounds + 1):
            mask = pseudo_mask(current.readings, cfg.min_confidence, cfg.min_agree)
            if mask.sum() < MIN_PSEUDO:
                notes.append(f"round {r}: {int(mask.sum())} pseudo-labels, fewer than the "
                             f"{MIN_PSEUDO} a round needs; rounds stopped")
                log(notes[-1])
                break
            trained, info = _round(current, net, ways, mask, compose, train_pool, cfg, r,
                                   tmp, log)
            current = candidates[f"round {r}"] = scored(trained, f"round {r}",
                                                        f"round {r}: reading")
            rounds.append({**info, **current.readings.summary(),
                           "synthetic_exact": current.synthetic})
            texts[f"round {r}"] = current.readings.texts
    kept, why = guard(original, candidates, cfg)
    log(why)
    chosen = original if kept == "original" else candidates[kept]
    save_atomically(chosen.model, tmp / "model.keras")
    sure = pseudo_mask(chosen.readings, cfg.min_confidence, cfg.min_agree)
    return {"kept": kept, "guard": why, "notes": notes, "rounds": rounds,
            "original": original.summary(),
            "candidates": {k: v.summary() for k, v in candidates.items()},
            "length_prior": length_prior(chosen.readings, sure),
            "texts": {**texts, "kept": chosen.readings.texts}}


@dataclass
class Candidate:
    """A model and how it reads: the folder (``Readings``), and the drift-check sequences
    (exact accuracy)."""

    model: object
    readings: object
    synthetic: float

    def summary(self) -> dict:
        return {**self.readings.summary(), "synthetic_exact": round(self.synthetic, 6)}


def guard(original: Candidate, candidates: dict, cfg: AdaptConfig) -> tuple[str, str]:
    """Which model to keep ("original", "adabn" or "round R") and why, in a line.

    An adapted model must read the folder more consistently than the original (agreement
    up by ``margin``) and must not have forgotten the synthetic sequences (exact down by at
    most ``max_drift``): a model that drifted toward the folder's mistakes tends to agree
    with itself more while reading everything else worse, which the second test catches.
    """
    base = original.readings.agreement()
    fit = {k: c for k, c in candidates.items()
           if original.synthetic - c.synthetic <= cfg.max_drift}
    if not candidates:
        return "original", "kept the original model: no adaptation was tried"
    if not fit:
        return "original", ("kept the original model: every adapted model read the "
                            f"synthetic sequences more than {100 * cfg.max_drift:g} points "
                            "worse")
    best = max(fit, key=lambda k: (fit[k].readings.agreement(), k == "adabn"))
    gain = fit[best].readings.agreement() - base
    if gain < cfg.margin:
        return "original", (f"kept the original model: the best adapted one ({best}) agrees "
                            f"with itself {100 * fit[best].readings.agreement():.2f}% against "
                            f"{100 * base:.2f}%, not {100 * cfg.margin:g} points more")
    return best, (f"kept the adapted model ({best}): agreement {100 * base:.2f}% -> "
                  f"{100 * fit[best].readings.agreement():.2f}%, synthetic exact "
                  f"{100 * original.synthetic:.2f}% -> {100 * fit[best].synthetic:.2f}%")


def _copy(model):
    """An independent copy of a model, weights and batch-norm statistics included."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _round(start: Candidate, net, ways, mask, compose, pool, cfg: AdaptConfig, r: int,
           tmp: Path, log):
    """One self-training round: train from ``start`` on its pseudo-labels mixed with
    synthetic sequences (``model.training.train``), in tmp/round-R. Returns the trained
    model and what config.json records of the round."""
    from model.adaptation import synthetic
    from model.inputs.datasets import Split, too_narrow
    from model.reading.folder import in_holdout
    from model.reading.preprocess import PrepConfig
    from model.training.augment import make_augment
    from model.training.train import TrainConfig, save_atomically, train

    work = tmp / f"round-{r}"
    (work / "images").mkdir(parents=True)
    seed = cfg.seed + r
    rows = np.flatnonzero(mask)
    pseudo = [(ways[i][start.readings.way[i]], start.readings.texts[i]) for i in rows]
    pick = np.random.default_rng([cfg.seed, r])
    views = []  # the extra ways: in training only, never in validation
    for i in rows:
        others = [w for w, image in enumerate(ways[i])
                  if image is not None and w != start.readings.way[i]]
        for w in pick.permutation(others)[:cfg.extra_ways]:
            views.append((ways[i][int(w)], start.readings.texts[i]))
    count = int(round(cfg.synthetic * len(pseudo)))
    made = synthetic.sequences(pool, count, compose, seed) if count else ([], [])
    # Validation: a fixed tenth of the pseudo-labels (by image index), left out of training.
    held = np.array([in_holdout(str(i), VAL_FRACTION, VAL_SALT) for i in rows], bool)
    if held.all() or not held.any():
        held[:] = False
        held[0] = True
    splits = {}
    for part, items in (("train", [p for p, h in zip(pseudo, held, strict=True) if not h]
                         + views + list(zip(*made, strict=True))),
                        ("val", [p for p, h in zip(pseudo, held, strict=True) if h])):
        files = []
        for k, (image, _) in enumerate(items):
            files.append(str(work / "images" / f"{part}-{k:06d}.png"))
            _save_png(image, files[-1])
        split = Split(files, [t for _, t in items],
                      np.array([im.shape[1] for im, _ in items], np.int32))
        narrow = set(too_narrow(split, net).tolist())
        keep = [k for k in range(len(split)) if k not in narrow]
        splits[part] = Split([split.files[k] for k in keep], [split.texts[k] for k in keep],
                             split.widths[keep])
    initial = work / "start.keras"
    (work / "run").mkdir()
    save_atomically(start.model, initial)
    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                            learning_rate=cfg.learning_rate, warmup_epochs=0.3,
                            patience=cfg.epochs, seed=seed, distort=0.0)
    augment = (make_augment(net, seed, prep=PrepConfig(height=net.height))
               if cfg.augment else None)
    log(f"round {r}: training on {int((~held).sum()):,} pseudo-labelled images and "
        f"{count:,} synthetic sequences, validating on {int(held.sum())} pseudo-labels")
    model = train(work / "run", splits["train"], splits["val"], net, train_cfg, log=log,
                  initial=initial, augment=augment, initial_competes=False)
    shutil.copyfile(work / "run" / "history.csv", tmp / f"round-{r}.history.csv")
    shutil.rmtree(work)
    return model, {"round": r, "pseudo_labels": len(pseudo), "extra_views": len(views),
                   "synthetic": count,
                   "train": train_cfg.to_dict()}


def _save_png(image: np.ndarray, path: str) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, compress_level=1)


def _report(images: ImageFolder, rows: list[int], texts: dict, log) -> dict | None:
    """Exact accuracy and CER before and after, where labels.csv lists an image: read only
    now, after the model is chosen. None without labels."""
    from model.adaptation.images import report_labels
    from model.evaluation.metrics import evaluate

    labels = report_labels(images)
    if labels is None:
        return None
    pairs = [(labels[row], k) for k, row in enumerate(rows) if labels[row] is not None]
    if not pairs:
        return None
    truths = [t for t, _ in pairs]
    out = {"labelled": len(pairs), "note": "labels.csv, read only to report this"}
    for when, read in texts.items():
        m = evaluate(truths, [read[k] for _, k in pairs])
        out[when] = {"exact": m["exact"], "cer": m["cer"]}
    log(f"labels.csv ({len(pairs):,} images, not used to adapt): exact "
        + ", ".join(f"{k} {100 * v['exact']:.2f}%" for k, v in out.items()
                    if isinstance(v, dict)))
    return out
