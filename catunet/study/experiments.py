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
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import catunet

from catunet import atomic
from catunet.data import loading, split as splits
from catunet.data.datasets.cats import resolve_data_dir
from catunet.data.split import load_split_for, split_path_for
from catunet.errors import CatunetError
from catunet.flags import HelpFormatter
from catunet.inference.evaluate import score
from catunet.models.losses import COMPARED, LOSSES
from catunet.models.metrics import dice_coefficient
from catunet.models.saving import load_model
from catunet.study.model_figures import (draw_augmentation_figures,
                                         draw_transfer_figures)
from catunet.study.reports import (REPORTS, write_augmentation_report,
                                   write_losses_report, write_sources_report,
                                   write_transfer_report)
from catunet.study.runstore import RUNS, RunStore, describe
from catunet.training import machine, selftrain
from catunet.training.config import TrainConfig
from catunet.training.inputs import data_folders

# Validation Dice as Keras logged it after the last epoch may differ from the
# study's own scoring of the saved model by float rounding only.
SAME_FOLD_TOLERANCE = 1e-3
DEFAULTS = TrainConfig()  # the study varies one thing at a time from these
PER_RUN = ("seed", "val_fold", "out")


def split_folds(data_dir, seeds, **overrides):
    """The study's split, no photo decoded: ``(base config, manifest,
    train pairs, test pairs, each validation fold's pairs)``; seed *s*
    validates on fold *s* of a ``seeds``-fold partition."""
    if seeds < 2:
        raise CatunetError("--seeds must be at least 2: seed s validates "
                           "on fold s of a --seeds-fold partition")
    data_dir = resolve_data_dir(data_dir)
    base = TrainConfig(data_dir=str(data_dir), folds=seeds, **overrides)
    pairs = loading.find_pairs(data_dir)
    train_pairs, test_pairs, manifest = load_split_for(base, pairs, data_dir)
    folds = [splits.validation_fold(train_pairs, seeds, k, manifest["seed"])[1]
             for k in range(seeds)]
    return base, manifest, train_pairs, test_pairs, folds


@dataclasses.dataclass
class Study:
    """The data every run of an experiment is scored on, loaded once."""

    base: TrainConfig
    manifest: dict
    train_pairs: list
    test_pairs: list
    test: tuple
    val: list

    @classmethod
    def load(cls, data_dir, seeds, **overrides):
        base, manifest, train_pairs, test_pairs, folds = split_folds(
            data_dir, seeds, **overrides)
        size = base.image_size
        return cls(base, manifest, train_pairs, test_pairs,
                   loading.load_pairs(test_pairs, size),
                   [loading.load_pairs(fold, size) for fold in folds])

    def fold_pairs(self, k):
        """Validation fold ``k``'s pairs, in the order of ``val[k]``."""
        return splits.validation_fold(self.train_pairs, len(self.val), k,
                                      self.manifest["seed"])[1]

    def fold_names(self, k):
        """The file names of validation fold ``k``'s photos, in the order
        of ``val[k]``."""
        return [pair.image.name for pair in self.fold_pairs(k)]

    def train_arrays(self):
        """The whole training part, from the folds already decoded (they
        partition it)."""
        return tuple(np.concatenate(parts) for parts in zip(*self.val))

    def baselines(self):
        """Test Dice of two models that ignore the image.

        ``all-cat`` predicts foreground everywhere; ``mean-mask`` predicts
        the pixel-wise mean of the training masks, thresholded at 0.5.
        """
        train_masks = self.train_arrays()[1].astype(np.float32)
        test_masks = self.test[1].astype(np.float32)
        mean_mask = np.broadcast_to(train_masks.mean(axis=0, keepdims=True),
                                    test_masks.shape)
        return {
            "all-cat": float(np.mean(dice_coefficient(
                test_masks, np.ones_like(test_masks)))),
            "mean-mask": float(np.mean(dice_coefficient(test_masks, mean_mask))),
        }


def check_held_out_fold(run, val_dice):
    """Fails unless the fold the study scores a run on is the fold the run
    validated on during training (its last logged validation Dice)."""
    logged = [row["val_dice_coefficient"] for row in run["history"]
              if "val_dice_coefficient" in row]
    if logged and abs(logged[-1] - val_dice) > SAME_FOLD_TOLERANCE:
        raise CatunetError(
            f"{run['folder']}: validation Dice {logged[-1]:.4f} during "
            f"training but {val_dice:.4f} on the study's fold "
            f"{run['config']['val_fold']}: not the same images")


def run_one(config, study, store=None):
    """Trains (or reuses) one run and scores it on validation and test."""
    run = (store or RunStore()).run(config)

    def scores():
        model = load_model(run.model_path)
        return {"val_dice_per_image": score(
                    model, *study.val[config.val_fold])["dice"].tolist(),
                "test_dice_per_image": score(model, *study.test)["dice"]
                .tolist()}

    scored = RunStore.cached(run, "photo-scores", scores)
    result = {**describe(run),
              "val_dice": float(np.mean(scored["val_dice_per_image"])),
              "val_dice_per_image": scored["val_dice_per_image"],
              "test_dice": float(np.mean(scored["test_dice_per_image"])),
              "test_dice_per_image": scored["test_dice_per_image"]}
    check_held_out_fold(result, result["val_dice"])
    return result


class PerSeed:
    """A config value that differs by seed, e.g. each seed's own teacher."""

    def __init__(self, values, description):
        """``values``: one per seed in order, or ``{seed: value}``."""
        self.values = dict(values) if isinstance(values, dict) \
            else dict(enumerate(values))
        self.description = description

    def __call__(self, seed):
        return self.values[seed]

    def __str__(self):
        return self.description


def run_variants(study, variants, runs_dir, seeds=None):
    """Runs every variant (``{name: config overrides}``) for every seed; an
    override may be ``PerSeed``.

    Args:
        seeds: The seeds to run (default all, ``range(folds)``); each
            variant's results list holds those seeds' runs, in that order.
    """
    start = time.perf_counter()
    seeds = range(study.base.folds) if seeds is None else list(seeds)
    results = {}
    for name, overrides in variants.items():
        results[name] = []
        for seed in seeds:
            chosen = {k: v(seed) if isinstance(v, PerSeed) else v
                      for k, v in overrides.items()}
            config = dataclasses.replace(
                study.base, **chosen, seed=seed, val_fold=seed,
                out=str(Path(runs_dir) / f"{name}-s{seed}"))
            print(f"== {name}, seed {seed} (validation fold {seed})", flush=True)
            results[name].append(run_one(config, study))
    val_means = {k: np.mean([r["val_dice"] for r in v])
                 for k, v in results.items()}
    varying = set(PER_RUN) | {k for o in variants.values() for k in o}
    return {
        "data_dir": study.base.data_dir,
        "split": {"seed": study.manifest["seed"],
                  "train": len(study.train_pairs), "test": len(study.test_pairs),
                  "fingerprint": study.manifest["fingerprint"]},
        "settings": {k: v for k, v in study.base.to_dict().items()
                     if k not in varying | {"data_dir"}},
        "variants": {name: {k: str(v) if isinstance(v, PerSeed) else v
                            for k, v in overrides.items()}
                     for name, overrides in variants.items()},
        "seeds": study.base.folds,
        "machine": machine.describe(),
        "code_version": catunet.__version__,
        "wall_seconds_this_call": time.perf_counter() - start,
        "train_seconds_total": sum(r["seconds"] for v in results.values()
                                   for r in v),
        "baselines": study.baselines(),
        "winner": max(val_means, key=val_means.get),
        "results": results,
    }


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


PRETRAINED = "<pre-trained model>"
TRANSFER_VARIANTS = {
    "scratch": {},
    "fine-tune-all": {"init": PRETRAINED},
    "frozen-then-unfrozen": {"init": PRETRAINED, "freeze_epochs": 20,
                             "fine_tune_learning_rate": 1e-4},
    "fine-tune-all-low-lr": {"init": PRETRAINED, "learning_rate": 1e-4},
}
# fine-tune-all-low-lr separates "lower rate" from "frozen encoder"; it is
# left out by default to keep the study within ~45 minutes.
DEFAULT_TRANSFER = ("scratch", "fine-tune-all", "frozen-then-unfrozen")


def pretrain(data_dir, out, epochs=40, cats_split=None, **settings):
    """Pre-trains on another folder of images and masks (``--stage
    pretrain``) and scores the model on that folder's own held-out part.

    Reused when ``out`` already holds a scored run with these settings.

    Args:
        data_dir: The folder to pre-train on; it gets its own split.
        out: The run folder.
        epochs: Pre-training epochs.
        cats_split: ``{"data_dir": ..., "path": ...}`` of the cat split; when
            given, the pre-trained model is also scored, as it is, on the cat
            test images (zero-shot).
        **settings: Other ``TrainConfig`` fields (width, depth, ...).

    Returns:
        A dict: config, seconds, model path, held-out and zero-shot Dice.
    """
    from catunet.inference.evaluate import evaluate

    config = TrainConfig(stage="pretrain", data_dir=str(data_dir),
                         epochs=epochs, out=str(out), **settings)
    run = RunStore().run(config)
    keep = ("count", "mean", "std")

    def scores():
        folders = data_folders(str(data_dir))
        parts = [evaluate(run.model_path, folder,
                          split_path=split_path_for(config, folder))
                 for folder in folders]
        dice = [row["dice"] for part in parts for row in part["images"]]
        result = {"held_out": {"count": len(dice),
                               "mean": {"dice": float(np.mean(dice))},
                               "std": {"dice": float(np.std(dice, ddof=1))}}}
        if len(parts) > 1:
            result["held_out_by_source"] = {
                Path(f).name: {k: p[k] for k in keep}
                for f, p in zip(folders, parts)}
        else:
            result["held_out"] = {k: parts[0][k] for k in keep}
        if cats_split:
            zero_shot = evaluate(run.model_path, cats_split["data_dir"],
                                 split_path=cats_split["path"])
            result["zero_shot_cats"] = {k: zero_shot[k] for k in keep}
        return result

    return {**describe(run), "model": str(run.model_path),
            **RunStore.cached(run, "pretrain-scores", scores)}


def pretrain_for(study, folders, out, epochs, settings, split=None):
    """``pretrain`` for a study's cat runs: their settings but ``epochs``
    and ``split`` (the folder gets its own, or ``split``), and a zero-shot
    score on the study's cat test photos."""
    shared = {k: v for k, v in settings.items() if k not in ("epochs", "split")}
    cats = {"data_dir": study.base.data_dir,
            "path": split_path_for(study.base, study.base.data_dir)}
    return pretrain(folders, out, epochs, cats, split=split, **shared)


PSEUDO = "pseudo:"  # a source folder of unlabelled photos, pseudo-labelled


def pseudo_labelled(study, teacher, photos_dir, out, seed):
    """Pseudo-labels a folder of unlabelled photos for one seed.

    Args:
        study: The ``Study``.
        teacher: The seed's ``run_one`` result whose model labels them (it
            has seen only that seed's training photos).
        photos_dir: The unlabelled photos.
        out: The data folder to write (``selftrain.make_pseudo_labels``).
        seed: The seed: its validation fold and the test part are guarded.

    Returns:
        ``make_pseudo_labels``'s summary without its per-photo rows.
    """
    config = dataclasses.replace(study.base, seed=seed, val_fold=seed)
    protected = [p.image for p in selftrain.protected_pairs(config)]
    stamp = Path(out) / "teacher.json"  # pseudo-masks of another teacher
    if Path(out).exists() and (not stamp.is_file() or json.loads(
            stamp.read_text())["key"] != teacher["key"]):
        shutil.rmtree(out)  # are not this teacher's: label again
    summary = selftrain.make_pseudo_labels(
        load_model(Path(teacher["folder"]) / f"{config.stage}.keras"),
        selftrain.unlabelled_photos(photos_dir), out, config.image_size,
        config.pseudo_keep, protected)
    atomic.write_json(stamp, {"key": teacher["key"],
                              "folder": teacher["folder"]})
    return {k: v for k, v in summary.items() if k != "labels"}


def _per_seed_source(runs, labels):
    """One source's per-seed pre-trainings summed up as one: mean scores."""
    def mean_of(key):
        return {"count": runs[0][key]["count"],
                "mean": {"dice": float(np.mean([r[key]["mean"]["dice"]
                                                for r in runs]))}}

    return {"config": runs[0]["config"], "seconds": sum(r["seconds"] for r in runs),
            "held_out": mean_of("held_out"),
            "zero_shot_cats": mean_of("zero_shot_cats"),
            "per_seed": runs, "pseudo_labels": labels}


def compare_sources(sources, data_dir=None, seeds=3, runs_dir=RUNS / "sources",
                    budget=None, **settings):
    """Pre-trains on each source at one budget of training images, then
    fine-tunes the cats as the transfer study's winner does.

    A source written ``pseudo:DIR`` is a folder of unlabelled photos: for
    seed *s* they are pseudo-labelled by the first source's fine-tuned model
    of seed *s* (which has seen only fold *s*'s training photos), so such a
    source is pre-trained once per seed; its split is kept in the labelled
    folder, a run product, not in ``data/splits/``.

    Args:
        sources: ``{name: folder or comma-separated folders}``; the first
            may not be pseudo-labelled (its models are the teachers).
        budget: Images each pre-training sees (epochs x training pairs);
            default: what the transfer study's 40 epochs on the first source
            saw, so no source wins by training longer.
        settings: ``TrainConfig`` fields of every run.

    Returns:
        ``(summary, study)``.
    """
    study = Study.load(data_dir, seeds, **settings)
    first = next(iter(sources))
    if PSEUDO in sources[first]:
        raise CatunetError(f"source {first}: the first source labels the "
                           f"{PSEUDO} folders of the others, so it cannot "
                           "itself need labelling")
    for name, folders in sources.items():
        if PSEUDO in folders and not (folders.startswith(PSEUDO)
                                      and "," not in folders):
            raise CatunetError(f"source {name}: a {PSEUDO} folder is a "
                               "source of its own, not one of several")

    def training_pairs(folders, split=None):
        own_split = dataclasses.replace(study.base, split=split)
        return sum(len(load_split_for(own_split, loading.find_pairs(f), f)[0])
                   for f in data_folders(folders))

    def fine_tune(init):
        return {**TRANSFER_VARIANTS["frozen-then-unfrozen"], "init": init}

    def pretrain_source(name, folders, out, split=None):
        epochs = max(1, round(budget / training_pairs(folders, split)))
        print(f"== pre-training on {name}: {epochs} epochs", flush=True)
        return pretrain_for(study, folders, out, epochs, settings, split)

    budget = budget or 40 * training_pairs(sources[first])
    pretrained, variants = {}, {}
    for name, folders in sources.items():
        if PSEUDO not in folders:
            pretrained[name] = pretrain_source(
                name, folders, Path(runs_dir) / f"pretrain-{name}")
            variants[name] = fine_tune(pretrained[name]["model"])
    teachers = None
    for name, folders in sources.items():
        if PSEUDO not in folders:
            continue
        teachers = teachers or run_variants(
            study, {first: variants[first]}, runs_dir)["results"][first]
        photos = folders[len(PSEUDO):]
        runs, labels = [], []
        for seed, teacher in enumerate(teachers):
            labelled = Path(runs_dir) / f"pseudo-{Path(photos).name}-s{seed}"
            labels.append(pseudo_labelled(study, teacher, photos, labelled,
                                          seed))
            runs.append(pretrain_source(
                f"{name}, seed {seed}", str(labelled),
                Path(runs_dir) / f"pretrain-{name}-s{seed}",
                str(labelled / "split.json")))
        pretrained[name] = _per_seed_source(runs, labels)
        variants[name] = fine_tune(PerSeed(
            [r["model"] for r in runs],
            f"each seed's own pre-training on {folders}, pseudo-labelled by "
            f"that seed's {first} model"))
    summary = run_variants(study, variants, runs_dir)
    summary["pretrain"] = pretrained
    summary["budget_images"] = budget
    summary["train_seconds_total"] += sum(p["seconds"]
                                          for p in pretrained.values())
    return summary, study


def pretrained_model(path):
    """Describes a model pre-trained elsewhere (e.g. ``--stage voc``)."""
    path = Path(path)
    load_model(path)  # a clear error now rather than in the first run
    config = path.parent / "config.json"
    return {"model": str(path), "seconds": 0.0,
            "config": TrainConfig.load(config).to_dict()
            if config.is_file() else None}


def compare_transfer(pretrain_dir=None, data_dir=None, seeds=3,
                     runs_dir=RUNS / "transfer", variants=DEFAULT_TRANSFER,
                     pretrain_epochs=40, pretrained=None, train_seeds=None,
                     **settings):
    """Pre-trains on ``pretrain_dir`` (or takes the ``pretrained`` model),
    then fine-tunes on the cats every way.

    Every variant uses the winning loss and augmentation, the same split and
    the same folds; ``scratch`` is the same run as the augmentation study's
    ``recommended`` and is reused from it.

    Args:
        train_seeds: The seeds to fine-tune (default all, as
            ``run_variants``).
        settings: ``TrainConfig`` fields of every cat run (width, epochs,
            ...); the pre-training shares its architecture.

    Returns:
        ``(summary, study)``.
    """
    if bool(pretrain_dir) == bool(pretrained):
        raise CatunetError("give either a folder to pre-train on "
                           "(--pretrain-dir) or a pre-trained model "
                           "(--pretrained), not both or neither")
    study = Study.load(data_dir, seeds, **settings)
    if pretrained:
        source = pretrained_model(pretrained)
    else:
        source = pretrain_for(study, pretrain_dir, Path(runs_dir) / "pretrain",
                              pretrain_epochs, settings)
    chosen = {name: {k: source["model"] if v == PRETRAINED else v
                     for k, v in TRANSFER_VARIANTS[name].items()}
              for name in variants}
    summary = run_variants(study, chosen, runs_dir, train_seeds)
    summary["pretrain"] = source
    summary["train_seconds_total"] += source["seconds"]
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
