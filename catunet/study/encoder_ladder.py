"""The recipe re-chosen over the pretrained encoder, on validation only.

    python -m catunet.study.encoder_ladder --frames ../shared/data/davis \\
        --frames-apart '../shared/data/davis/images/hike_*,...'

starts from the simplest recipe over EfficientNet-Lite0 with ImageNet
weights (``BASE``: no pre-training stage, no unlabelled photos, no
synthesis) and tries the ``STEPS`` one at a time, each a group
of alternatives: every alternative is trained on the validation folds (seed
*s* validates on fold *s* of the 57 training photos) and the group's best
is kept only if its mean choosing score beats the kept recipe's
(``catunet.study.choosing.keeps``): validation photo Dice (masks at the
study's 128 px) and validation-cat scene Dice (``catunet.study.choosing``,
each fold's own cats on DAVIS frames) averaged. Inference options are then
chosen the same way (``catunet.study.choosing.greedy_inference``).

The test photos are never scored here. ``--final-seeds N`` trains the
chosen recipe on all 57 training photos with N seeds and scores the test
photos once, with the chosen inference settings saved beside each model:
the one look at test a finished recipe gets. Everything lands in
``reports/encoder-ladder/`` (``ladder.json``, ``ladder.md``), numbers from
JSON only.
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
from catunet import atomic, shipped
from catunet.data import loading
from catunet.flags import HelpFormatter
from catunet.inference.evaluate import evaluate, score
from catunet.inference.predict import Settings
from catunet.models.saving import load_model
from catunet.study import stats
from catunet.study.choosing import (INFERENCE_GROUPS, by_score,
                                    greedy_inference, keeps, ladder_scenes,
                                    settings_measure, with_scene_scores)
from catunet.study.encoder_report import markdown
from catunet.study.runstore import RUNS, RunStore
from catunet.study.variants import Study
from catunet.training import machine

REPORT = Path("reports") / "encoder-ladder"
# The simplest recipe over the pretrained encoder: 40 epochs of Adam with
# cosine decay, the default augmentation, BCE + Dice, batches of 8.
BASE = {"encoder": "efficientnet-lite0", "image_size": 256, "epochs": 40,
        "learning_rate": 3e-4, "schedule": "cosine"}
# (name, why, alternatives): each alternative is a change to the kept
# recipe; the best of a group is kept only if it beats the kept recipe.
STEPS = (
    # 320 px is not tried yet (about 25 min a fold on 2 cores); a probe
    # (PyTorch, the same photos) found sizes past 256 flat.
    ("input size", "at 128 px the encoder's deepest features are 4x4",
     [{"image_size": 128}, {"image_size": 192}]),
    ("frozen warm-up", "the new decoder learns before it moves the "
     "ImageNet features", [{"freeze_epochs": 5}]),
    ("colour", "cats come in every coat and light",
     [{"augment": "recommended,saturation,hue,grayscale"}]),
    ("mosaics", "several and small cats in one training image",
     [{"mosaic": 0.5, "mosaic_grids": "2,3"}]),
    ("self-training", "the encoder model labels 2,400 unlabelled pet "
     "photos; the student pre-trains on the fifth it is surest of",
     [{"unlabelled": "../shared/data/pet-cats", "pseudo_keep": 0.2}]),
)
# Inference options, one group at a time (``INFERENCE_GROUPS``), less zoom
# only for small cats, which refines a zoom that must win first. Zoom is
# tried at 2x only: each tile is a full forward pass. The COCO detector
# gate, old (cat boxes) and mended (cat gate), was measured here too, by
# the code of commit 2e2d4f6, left out on the choosing score and then
# deleted (reports/encoder-ladder/detector-measured/).
GROUPS = tuple(
    (name, [o for o in options if o.get("zoom", 2) == 2])
    for name, options in INFERENCE_GROUPS
    if name != "zoom only small cats")
BOOTSTRAP = 10_000


def label_of(changes):
    """A run folder name for a list of changes, e.g. ``image_size-192``:
    one folder (a path's slashes become ``_``), and no comma, which
    separates folders in ``--data-dir`` (a self-training run writes its
    pseudo-labelled photos inside its own folder and trains on them from
    there)."""
    parts = [f"{k}-{v}".replace(",", "_").replace("/", "_")
             for change in changes for k, v in change.items()]
    return "+".join(parts) or "base"


def sized(study, size):
    """The study with its validation folds decoded for a model of ``size``
    px: photos at ``size``, masks at the study's 128 px."""
    return dataclasses.replace(study, val=[
        loading.load_pairs(study.fold_pairs(k), size, loading.IMAGE_SIZE)
        for k in range(len(study.val))])


def fold_runs(study, recipe, label, made, runs_dir):
    """One run per validation fold of ``recipe`` (found by key or trained),
    scored on its fold's photos and scenes; never on test."""
    runs = []
    for seed in range(len(study.val)):
        config = dataclasses.replace(
            study.base, **recipe, seed=seed, val_fold=seed,
            out=str(Path(runs_dir) / f"{label}-s{seed}"))
        print(f"== {label}, seed {seed} (validation fold {seed})",
              flush=True)
        run = RunStore().run(config)

        def val_scores():  # decoded only when not cached
            fold = loading.load_pairs(study.fold_pairs(seed),
                                   config.image_size, loading.IMAGE_SIZE)
            return {"val_dice_per_image": score(
                load_model(run.model_path), *fold)["dice"].tolist()}

        scored = RunStore.cached(run, "val-scores", val_scores)
        runs.append({"folder": str(run.folder), "seconds": run.seconds,
                     "config": {"val_fold": seed},
                     "val_dice": float(np.mean(scored["val_dice_per_image"])),
                     "val_dice_per_image": scored["val_dice_per_image"]})
    return with_scene_scores(runs, made)


def row(step, change, runs, kept):
    return {"step": step, "change": change, "kept": bool(kept),
            **fold_scores(runs)}


def fold_scores(runs):
    """The scores of one run per fold (``fold_runs``), as reports keep
    them: per fold, validation Dice, scene Dice overall and by kind, the
    choosing score, training minutes and the run folders."""
    return {"val_dice": [r["val_dice"] for r in runs],
            "scene_dice": [r["scenes"]["dice"] for r in runs],
            "scene_kinds": {kind: [r["scenes"]["kinds"][kind]["dice"]
                                   for r in runs]
                            for kind in runs[0]["scenes"]["kinds"]},
            "score": [r["score"] for r in runs],
            "train_minutes": [r["seconds"] / 60 for r in runs],
            "folders": [r["folder"] for r in runs]}


def climb(study, made, runs_dir, steps=None):
    """The ladder (``STEPS`` unless ``steps``): returns ``(recipe, kept
    runs, rows)``."""
    recipe = dict(BASE)
    best = fold_runs(study, recipe, "base", made, runs_dir)
    rows, kept_changes = [row("base", BASE, best, True)], []
    for step, _, alternatives in STEPS if steps is None else steps:
        tried = []
        for change in alternatives:
            label = label_of(kept_changes + [change])
            tried.append((change, fold_runs(study, {**recipe, **change},
                                            label, made, runs_dir)))
        top = max(tried, key=lambda t: np.mean([r["score"] for r in t[1]]))
        kept = keeps(top[1], best, "score")
        for change, runs in tried:
            rows.append(row(step, change, runs, kept and change is top[0]))
        print(f"   {step}: {label_of([top[0]])} "
              f"{np.mean([r['score'] for r in top[1]]):.3f} against "
              f"{np.mean([r['score'] for r in best]):.3f}: "
              f"{'kept' if kept else 'left out'}", flush=True)
        if kept:
            recipe, best = {**recipe, **top[0]}, top[1]
            kept_changes.append(top[0])
    return recipe, best, rows


def bootstrap_interval(per_photo, draws=BOOTSTRAP, seed=0):
    """A 95% percentile interval of the mean over photos, resampling the
    photos (each photo's Dice averaged over the seeds first)."""
    values = np.asarray(per_photo, float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (draws, len(values)))] \
        .mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def final_folder(runs_dir, recipe, seed):
    """Where ``final`` trains ``recipe`` with ``seed``: named by the
    recipe's changes to ``BASE``."""
    changes = [{k: v} for k, v in recipe.items() if BASE.get(k) != v]
    return Path(runs_dir) / f"final-{label_of(changes)}-s{seed}"


def labelling_minutes(folder):
    """Minutes a self-training run's teacher spent labelling its unlabelled
    photos (part of its training time; ``catunet.training.selftrain``): 0
    without self-training, None for labels made before they were timed."""
    labels = [json.loads(path.read_text()) for path in
              Path(folder).glob("pseudo-*/pseudo-labels.json")]
    if any("seconds" not in label for label in labels):
        return None
    return sum(label["seconds"] for label in labels) / 60


def final(study, recipe, settings, seeds, runs_dir):
    """The recipe trained on all training photos with ``seeds`` seeds, its
    inference settings saved beside each model, and the test photos scored
    once (``catunet.inference.evaluate``). Each run folder is named by the recipe's
    changes to ``BASE`` (``final-<changes>-s<seed>``), so another recipe
    never lands in a finished one's folder."""
    results = []
    for seed in range(seeds):
        config = dataclasses.replace(
            study.base, **recipe, folds=0, val_fold=0, seed=seed,
            out=str(final_folder(runs_dir, recipe, seed)))
        print(f"== final recipe, seed {seed} (all training photos)",
              flush=True)
        run = RunStore().run(config)
        settings.save_beside(run.model_path)
        report = evaluate(run.model_path)
        atomic.write_json(run.folder / "eval-test.json", report)
        results.append({"seed": seed, "folder": str(run.folder),
                        "train_minutes": run.seconds / 60,
                        "labelling_minutes": labelling_minutes(run.folder),
                        "test_dice": report["mean"]["dice"],
                        "test_dice_full_size":
                            report["mean"]["dice_full_size"],
                        "test_dice_per_image": [r["dice"] for r in
                                                report["images"]],
                        "images": [r["image"] for r in report["images"]]})
    per_photo = np.mean([r["test_dice_per_image"] for r in results], axis=0)
    mean, sd = stats.mean_sd([r["test_dice"] for r in results])
    return {"runs": results, "test_dice": mean, "test_dice_sd": sd,
            "photo_interval": bootstrap_interval(per_photo),
            "worst_photo": [float(min(r["test_dice_per_image"]))
                            for r in results]}


def opening(study, made, frames, frames_apart, command):
    """What a report chosen on the validation folds opens with: the command
    that made it, the machine, the code, the split, the folds and the
    scenes (``made``: each fold's, from ``ladder_scenes``)."""
    return {"command": command, "machine": machine.describe(),
            "code_version": catunet.__version__,
            "split": {"seed": study.manifest["seed"],
                      "train": len(study.train_pairs),
                      "test": len(study.test_pairs)},
            "seeds": len(study.val),
            "scenes": {"frames": str(frames), "apart": frames_apart,
                       "per_fold": [len(m) for m in made]}}


def run(frames, frames_apart=None, data_dir=None, seeds=3, final_seeds=0,
        runs_dir=RUNS / "encoder", report=REPORT, command=""):
    """Climbs (or reuses) the ladder, chooses inference, optionally trains
    and tests the final recipe, and writes the report."""
    start = time.perf_counter()
    study = Study.load(data_dir, seeds)
    made = ladder_scenes(study, frames, frames_apart)[1]
    recipe, best, rows = climb(study, made, runs_dir)
    measure = settings_measure(sized(study, recipe["image_size"]), best,
                               made, with_test=False)
    inference = greedy_inference(measure, by_score, GROUPS)
    summary = {
        **opening(study, made, frames, frames_apart, command),
        "precision": machine.best_precision(BASE["encoder"]),
        "base": BASE, "steps": rows, "recipe": recipe,
        "inference": inference,
        "final": final(study, recipe, Settings(**inference["chosen"]),
                       final_seeds, runs_dir) if final_seeds else None,
        "wall_minutes": (time.perf_counter() - start) / 60}
    atomic.write_json(Path(report) / "ladder.json", summary)
    atomic.write_text(Path(report) / "ladder.md", markdown(summary))
    return summary


def ship(seed, report=REPORT, folder=shipped.FOLDER):
    """Copies the finished recipe's seed-``seed`` run, as ``report``'s
    ``ladder.json`` records it (its model without the optimizer's state,
    its records and test scores), into the package, as the model
    ``catunet predict`` and ``serve`` use by default (``catunet.shipped``)."""
    summary = json.loads((Path(report) / "ladder.json").read_text())
    run = Path(next(r["folder"] for r in summary["final"]["runs"]
                    if r["seed"] == seed))
    if not (run / "eval-test.json").is_file():  # the scores final() made
        atomic.write_json(run / "eval-test.json", evaluate(run / "cats.keras"))
    for name in shipped.FILES[1:]:
        shutil.copyfile(run / name, Path(folder) / name)
    # Without the optimizer's state: a third of the file, the same weights.
    atomic.save_model(load_model(run / "cats.keras", compile=False),
                      Path(folder) / shipped.FILES[0])
    print(f"Shipped {run} in {folder}: {shipped.describe()}")


def add_validation_flags(parser, report, what):
    """The flags of a study that chooses on the validation folds and scenes
    and may look at test once: ``--frames``, ``--frames-apart``,
    ``--data-dir``, ``--seeds``, ``--final-seeds`` (training ``what``) and
    ``--report`` (default ``report``)."""
    parser.add_argument("--frames", default=None,
                        help="frames to paste each fold's validation cats "
                        "onto (e.g. ../shared/data/davis)")
    parser.add_argument("--frames-apart", default=None,
                        help="photos (folders or glob patterns, "
                        "comma-separated) whose video sequences no scene "
                        "frame may come from; the earlier ladders' "
                        "--negative-photos, so the scenes are theirs")
    parser.add_argument("--data-dir", default=None,
                        help="the cat set; without it $CATUNET_DATA_DIR")
    parser.add_argument("--seeds", type=int, default=3,
                        help="validation folds, one seed each")
    parser.add_argument("--final-seeds", type=int, default=0,
                        help=f"train {what} on all training photos with "
                        "this many seeds and score the test photos once "
                        "(0: no test look)")
    parser.add_argument("--report", default=str(report),
                        help="folder of the report's JSON and markdown")


def command_line(module, argv):
    """The command that ran, as a report records it (quoted where a shell
    would need it)."""
    return f"python -m {module} " + " ".join(
        arg if " " not in arg and "*" not in arg else f"'{arg}'"
        for arg in (argv if argv is not None else sys.argv[1:]))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--ship", type=int, default=None, metavar="SEED",
                        help="only copy the finished recipe's run of this "
                        "seed into catunet/shipped/, the model predict and "
                        "serve use by default")
    add_validation_flags(parser, REPORT, "the chosen recipe")
    args = parser.parse_args(argv)
    if args.ship is not None:
        return ship(args.ship, args.report)
    if not args.frames:
        parser.error("--frames is needed to climb the ladder")
    command = command_line("catunet.study.encoder_ladder", argv)
    summary = run(args.frames, args.frames_apart, args.data_dir, args.seeds,
                  args.final_seeds, report=args.report, command=command)
    print(json.dumps({"recipe": summary["recipe"],
                      "inference": summary["inference"]["chosen"]}))


if __name__ == "__main__":
    main()
