"""Evaluating a model on a split with both decoders, and loading a finished run."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from digits.errors import DataError
from model.data import Split
from model.network import NetConfig


@dataclass
class Evaluation:
    """Metrics and readings of one split.

    Attributes:
        metrics: {"greedy": model.metrics.evaluate(...), "beam": ...}.
        greedy: greedy strings, one per image.
        beam: beam-search Readings, ``top_paths`` per image, best first.
    """

    metrics: dict
    greedy: list[str]
    beam: list[list]


def evaluate_model(model, net: NetConfig, split: Split, beam_width: int = 10,
                   top_paths: int = 1) -> Evaluation:
    from model.decoding import best_texts, decode
    from model.metrics import evaluate
    from model.train import predict_logits

    logits = predict_logits(model, split, net.height)
    lengths = [net.time_steps(int(w)) for w in split.widths]
    greedy = best_texts(decode(logits, lengths, "greedy"))
    beam = decode(logits, lengths, "beam", beam_width=beam_width, top_paths=top_paths)
    metrics = {"greedy": evaluate(split.texts, greedy),
               "beam": evaluate(split.texts, best_texts(beam))}
    metrics["beam"]["beam_width"] = beam_width
    return Evaluation(metrics, greedy, beam)


def load_run(run_dir: Path):
    """The model (loaded in Keras safe mode) and the config of a finished run directory."""
    import keras

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir} does not exist")
    model_path, config_path = run_dir / "model.keras", run_dir / "config.json"
    if not model_path.is_file():
        raise DataError(f"{run_dir} has no model.keras (an unfinished run? rerun its command "
                        "to resume it)")
    try:
        config = json.loads(config_path.read_text())
        net = NetConfig.from_dict(config["net"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{config_path} is missing or unreadable: {e}") from None
    if not zipfile.is_zipfile(model_path):
        raise DataError(f"{model_path} is not a .keras archive")
    try:
        model = keras.models.load_model(model_path, safe_mode=True)
    except Exception as e:  # Keras raises many types for a damaged archive
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{model_path} could not be loaded: {first}") from None
    return model, net, config
