"""The experiments behind the reports: variants × seeds on one split.

    python -m catunet.study.experiments losses        # reports/losses.md
    python -m catunet.study.experiments augmentation  # reports/augmentation.md
    python -m catunet.study.experiments transfer --pretrain-dir DIR
                                                # reports/transfer.md
    python -m catunet.study.experiments default       # reports/default.json

Seed ``s`` of every variant trains on the training part minus fold ``s`` of
a ``seeds``-fold partition, and is scored on fold ``s`` (validation: the
variants' mean over folds is a cross-validation score, and it picks the
winner) and on the test part (reported, never used to choose). A run whose
config was already trained and scored anywhere under ``runs/`` is reused, so
an interrupted experiment continues where it stopped and experiments share
identical runs.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.data import loading
from catunet.errors import CatunetError
from catunet.flags import HelpFormatter
from catunet.models.losses import COMPARED, LOSSES
from catunet.study.model_figures import (draw_augmentation_figures,
                                         draw_transfer_figures)
from catunet.study.pretraining import (DEFAULT_TRANSFER, TRANSFER_VARIANTS,
                                       compare_sources, compare_transfer)
from catunet.study.reports import (REPORTS, write_augmentation_report,
                                   write_losses_report, write_sources_report,
                                   write_transfer_report)
from catunet.study.runstore import RUNS, RunStore, describe
from catunet.study.variants import DEFAULTS, Study, run_variants
from catunet.training.config import TrainConfig


def compare_losses(data_dir=None, width=DEFAULTS.width, epochs=DEFAULTS.epochs,
                   seeds=3,
                   runs_dir=RUNS / "losses", losses=COMPARED):
    """Trains every loss for every seed; returns the summary dict."""
    study = Study.load(data_dir, seeds, width=width, epochs=epochs, augment="")
    return run_variants(study, {loss: {"loss": loss} for loss in losses},
                        runs_dir)


AUGMENT_VARIANTS = {
    "none": "",
    "recommended": "recommended",
    "no-elastic": "flip,rotate,zoom,translate,brightness,contrast",
    "elastic-only": "elastic",
}
# elastic-only is left out by default to keep the study within ~45 minutes.
DEFAULT_VARIANTS = ("none", "recommended", "no-elastic")


def compare_augmentation(data_dir=None, width=DEFAULTS.width,
                         epochs=DEFAULTS.epochs, seeds=3,
                         runs_dir=RUNS / "augmentation",
                         variants=DEFAULT_VARIANTS):
    """Trains each augmentation variant for every seed, default loss.

    Returns:
        ``(summary, study)``.
    """
    study = Study.load(data_dir, seeds, width=width, epochs=epochs)
    chosen = {name: {"augment": AUGMENT_VARIANTS[name]} for name in variants}
    summary = run_variants(study, chosen, runs_dir)
    summary["rates"] = pipeline_rates(study)
    return summary, study


def _images_per_second(step, warmup=3, repeats=15):
    """Rate of ``step``, a function that returns how many images it handled."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    images = sum(step() for _ in range(repeats))
    return images / (time.perf_counter() - start)


def pipeline_rates(study, spec="recommended"):
    """Images/second of the augmented input pipeline alone and of training.

    The pipeline is timed by pulling batches through ``tf.data`` with no
    model; training by ``train_on_batch`` on one fixed full batch, so
    neither waits for the other.
    """
    from catunet.data.augment import Augmenter, parse_spec
    from catunet.training.train import compile_model

    config = study.base
    images, masks = study.train_arrays()
    dataset = loading.make_training_dataset(
        images, masks, config.batch_size, seed=0, epochs=10_000,
        augment=Augmenter(parse_spec(spec), seed=0))
    batches = iter(dataset)
    pipeline = _images_per_second(lambda: len(next(batches)[0]), repeats=60)
    model = compile_model(config)
    x = images[:config.batch_size].astype(np.float32)
    y = masks[:config.batch_size].astype(np.float32)

    def train_step():
        model.train_on_batch(x, y)
        return len(x)

    training = _images_per_second(train_step)
    return {"augment": spec, "batch_size": config.batch_size,
            "pipeline_images_per_s": pipeline,
            "train_images_per_s": training}


def default_run(data_dir=None, out=RUNS / "default", report=REPORTS):
    """Trains ``TrainConfig``'s defaults (the paper's U-Net) on the whole
    training part, times it and scores it on the test part: the study's
    default row, ``python train.py --recipe paper --stage cats``."""
    from catunet.inference.evaluate import evaluate

    run = RunStore().run(TrainConfig(data_dir=data_dir, out=str(out)))
    scores = RunStore.cached(run, "test-scores", lambda: {
        k: v for k, v in evaluate(run.model_path, data_dir).items()
        if k in ("count", "mean", "std")})
    summary = {"command": "python -m catunet.study.experiments default",
               **describe(run), "train_seconds": run.seconds, "test": scores}
    atomic.write_json(Path(report) / "default.json", summary)
    return summary


def _common_flags(parser, runs):
    parser.add_argument("--data-dir", default=None,
                        help="the cat set (default: $CATUNET_DATA_DIR, else "
                        "data/cats)")
    parser.add_argument("--width", type=int, default=DEFAULTS.width,
                        help="U-Net base width of every run")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                        help="epochs of every run")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds per variant, also the number of "
                        "validation folds")
    parser.add_argument("--runs", default=str(RUNS / runs),
                        help="folder of the run folders")
    parser.add_argument("--report", default=str(REPORTS),
                        help="folder of the report, its JSON and figures")


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.experiments",
        description="Rerun the experiments behind the reports.")
    sub = p.add_subparsers(dest="experiment", required=True)
    losses = sub.add_parser(
        "losses", help="compare the losses; writes reports/losses.*",
        formatter_class=HelpFormatter)
    _common_flags(losses, "losses")
    losses.add_argument("--loss", action="append", choices=list(LOSSES),
                        help="compare only these losses (repeatable)")
    augmentation = sub.add_parser(
        "augmentation", help="with and without augmentation, elastic on and "
        "off; writes reports/augmentation.*",
        formatter_class=HelpFormatter)
    _common_flags(augmentation, "augmentation")
    augmentation.add_argument("--variant", action="append",
                              choices=list(AUGMENT_VARIANTS),
                              help="variants to run (repeatable; default: "
                              f"{', '.join(DEFAULT_VARIANTS)})")
    transfer = sub.add_parser(
        "transfer", help="pre-train on another folder (or take a pre-trained "
        "model), fine-tune on the cats three ways; writes reports/transfer.*",
        formatter_class=HelpFormatter)
    _common_flags(transfer, "transfer")
    source = transfer.add_mutually_exclusive_group(required=True)
    source.add_argument("--pretrain-dir",
                        help="folder of images and masks to pre-train on "
                        "(--stage pretrain), e.g. the Weizmann horses")
    source.add_argument("--pretrained",
                        help="a model pre-trained elsewhere, e.g. "
                        "runs/voc/voc.keras from --stage voc (same width and "
                        "depth)")
    transfer.add_argument("--pretrain-epochs", type=int, default=40,
                          help="epochs of the pre-training on --pretrain-dir")
    transfer.add_argument("--variant", action="append",
                          choices=list(TRANSFER_VARIANTS),
                          help="variants to run (repeatable; default: "
                          f"{', '.join(DEFAULT_TRANSFER)})")
    sources = sub.add_parser(
        "sources", help="pre-training sources compared at one budget; "
        "writes reports/sources.*", formatter_class=HelpFormatter)
    _common_flags(sources, "sources")
    sources.add_argument("--source", action="append", required=True,
                         metavar="NAME=FOLDERS",
                         help="a source: a name, '=', and its folder(s), "
                         "comma-separated (repeatable; the first sets the "
                         "budget and is what the others are compared with); "
                         "'NAME=pseudo:DIR' is a folder of unlabelled photos "
                         "that each seed's model of the first source "
                         "pseudo-labels")
    default = sub.add_parser(
        "default", help="train, time and test the default config; writes "
        "reports/default.json",
        formatter_class=HelpFormatter)
    default.add_argument("--data-dir", default=None,
                         help="the cat set (default: $CATUNET_DATA_DIR, else "
                         "data/cats)")
    default.add_argument("--runs", default=str(RUNS / "default"),
                         help="the run folder")
    default.add_argument("--report", default=str(REPORTS),
                         help="folder of default.json")
    args = p.parse_args(argv)
    try:
        if args.experiment == "default":
            summary = default_run(args.data_dir, args.runs, args.report)
            print(f"Trained in {summary['train_seconds'] / 60:.1f} min; test "
                  f"Dice {summary['test']['mean']['dice']:.3f}")
            return
        if args.experiment == "sources":
            named = dict(s.split("=", 1) for s in args.source)
            summary, _ = compare_sources(named, args.data_dir, args.seeds,
                                         args.runs, width=args.width,
                                         epochs=args.epochs)
            write_sources_report(summary, args.report)
        elif args.experiment == "losses":
            summary = compare_losses(args.data_dir, args.width, args.epochs,
                                     args.seeds, args.runs,
                                     tuple(args.loss or COMPARED))
            write_losses_report(summary, args.report)
        elif args.experiment == "transfer":
            summary, study = compare_transfer(
                args.pretrain_dir, args.data_dir, args.seeds, args.runs,
                tuple(args.variant or DEFAULT_TRANSFER), args.pretrain_epochs,
                args.pretrained, width=args.width, epochs=args.epochs)
            draw_transfer_figures(summary, study, args.report)
            write_transfer_report(summary, args.report)
        else:
            summary, study = compare_augmentation(
                args.data_dir, args.width, args.epochs, args.seeds, args.runs,
                tuple(args.variant or DEFAULT_VARIANTS))
            draw_augmentation_figures(summary, study, args.report)
            write_augmentation_report(summary, args.report)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    print(f"Wrote {Path(args.report) / args.experiment}.md; winner on "
          f"validation: {summary['winner']}")


if __name__ == "__main__":
    main()
