"""Transfer learning in the study: pre-training on another folder of
images and masks (or on pseudo-labelled photos, ``pseudo:DIR``), then the
cat set fine-tuned from it as each ``TRANSFER_VARIANTS`` says, against
training from scratch (``compare_transfer``, ``compare_sources``)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.data import loading
from catunet.data.split import load_split_for, split_path_for
from catunet.errors import CatunetError
from catunet.models.saving import load_model
from catunet.study.runstore import RUNS, RunStore, describe
from catunet.study.variants import PerSeed, Study, run_variants
from catunet.training import selftrain
from catunet.training.config import TrainConfig
from catunet.training.inputs import data_folders

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
        selftrain.unlabelled_photos(photos_dir), out, config.pseudo_keep,
        protected)
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
