"""The evaluation jobs of ``python -m model.icr --evaluate``: a finished run on a generated
dataset's test split or on every image of a labelled folder; and :func:`report`, which
every job ends with: the figures table, metrics JSON and a picture of sample readings."""

from __future__ import annotations

from pathlib import Path

from digits.errors import DataError
from digits.files import write_json
from model.evaluation.evaluate import Evaluation, evaluate_ways
from model.inputs.datasets import steps_needed
from model.network import NetConfig
from model.runs import log
from model.training.options import Options, configs


def report(run_dir: Path, model, net: NetConfig, split, beam_width: int, top_paths: int,
           out_name: str, extra: dict | None = None) -> dict:
    """Evaluate on a split (the test split), print the table and write metrics and samples.

    Args:
        extra: more entries for the JSON file (what was evaluated, figures before).
    """
    from model.evaluation.evaluate import evaluate_model
    from model.inputs.datasets import sample_images

    ev = evaluate_model(model, net, split, beam_width, top_paths)
    return write_report(run_dir, ev, lambda chosen: sample_images(split, chosen, net.height),
                        out_name, extra)


def write_report(run_dir: Path, ev: Evaluation, images_of, out_name: str,
                 extra: dict | None = None) -> dict:
    """Print an evaluation's table and first readings, write its metrics as ``out_name``
    and a picture of sample readings beside it.

    Args:
        images_of: ``f(indices) -> {index: image}``, the images the picture shows.
    """
    from model.evaluation.metrics import format_table
    from model.evaluation.plots import choose_samples, plot_samples

    print(format_table(ev.metrics))
    for i in range(min(3, len(ev.truths))):
        alternatives = ", ".join(f"{r.text} ({r.score:.3f})" for r in ev.beam[i])
        print(f"sample {i}: truth {ev.truths[i]}, greedy {ev.greedy[i]}, beam {alternatives}")
    write_json(run_dir / out_name, {**ev.metrics, **(extra or {})})
    beam = [r[0].text if r else "" for r in ev.beam]
    images = images_of(choose_samples(ev.truths, ev.greedy, beam))
    plot_samples(images, ev.truths, ev.greedy, beam,
                 run_dir / ("samples.png" if out_name == "metrics.json" else
                            out_name.replace(".json", "_samples.png")))
    return ev.metrics


def run_evaluation(opts: Options, dataset: Path, manifest: dict) -> int:
    from model.inputs.datasets import check_time_steps, naming_corrupt_images, open_split
    from model.runs import load_run

    configs(opts, int(manifest["compose"]["height"]))  # validates the decoding flags
    if opts.distribute is not None or opts.devices is not None:
        raise DataError("--distribute and --devices apply to training, not --evaluate")
    model, net, _ = load_run(opts.evaluate)
    split = open_split(dataset, manifest, "test", net.height, opts.skip_corrupt, log)
    check_time_steps(split, net)
    with naming_corrupt_images([split]):
        report(opts.evaluate, model, net, split, opts.beam_width, opts.top_paths,
               f"eval_{dataset.name}.json")
    return 0


def run_folder_evaluation(opts: Options, root: Path) -> int:
    """Evaluate a finished run on every image of a labelled folder, read as ``model.read``
    reads it: each image prepared every way reading tries, the surest reading kept, for
    greedy and beam decoding alike."""
    from model.reading.folder import prepare_folder_ways, read_folder
    from model.runs import load_run

    if opts.distribute is not None or opts.devices is not None:
        raise DataError("--distribute and --devices apply to training, not --evaluate")
    folder = read_folder(root)
    model, net, _ = load_run(opts.evaluate)
    configs(opts, net.height, net)  # validates the decoding flags
    prepared = prepare_folder_ways(folder, net.height, opts.skip_corrupt, log)
    truths = [folder.texts[i] for i in prepared.rows]
    # Too narrow in the default way: such an image can be read right only another way.
    narrow = sum(net.time_steps(ways[0].shape[1]) < steps_needed(text)
                 for ways, text in zip(prepared.ways, truths, strict=True))
    if narrow:
        log(f"{narrow} image{'s' * (narrow > 1)} too narrow for their labels once prepared: "
            "the model cannot read them right that way")
    ev = evaluate_ways(model, net, prepared.ways, truths, opts.beam_width, opts.top_paths)
    chosen_images = ev.images
    extra = {"folder": str(root.resolve()), "images": len(truths), "too_narrow": int(narrow),
             "unreadable": prepared.unreadable}
    write_report(opts.evaluate, ev.evaluation,
                 lambda chosen: {i: chosen_images[i] for i in chosen},
                 f"eval_{root.name}.json", extra)
    return 0
