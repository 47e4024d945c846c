"""The recipe re-chosen over the pretrained encoder, on validation only.

    python -m catunet.study.encoder_ladder --frames ../shared/data/davis \\
        --frames-apart '../shared/data/davis/images/hike_*,...'

starts from the simplest recipe over EfficientNet-Lite0 with ImageNet
weights (``BASE``: no pre-training stage, no unlabelled photos, no
synthesis) and tries the ``STEPS`` one at a time, each a group of
alternatives: every alternative is trained on the validation folds
(``catunet.study.folds``: seed *s* validates on fold *s* of the 57
training photos) and the group's best is kept only if its mean choosing
score beats the kept recipe's (``catunet.study.choosing.keeps``):
validation photo Dice (masks at the study's 128 px) and validation-cat
scene Dice (``catunet.study.choosing``, each fold's own cats on DAVIS
frames) averaged. Inference options are then chosen the same way
(``catunet.study.choosing.greedy_inference``).

The test photos are never scored here. ``--final-seeds N`` trains the
chosen recipe on all 57 training photos with N seeds and scores the test
photos once (``catunet.study.folds.final``), with the chosen inference
settings saved beside each model: the one look at test a finished recipe
gets. Everything lands in ``reports/encoder-ladder/`` (``ladder.json``,
``ladder.md``), numbers from JSON only, written before the final seeds
train and again with their test scores
(``catunet.study.folds.report_then_final``).
"""

import argparse
import functools
import json
import shutil
import time
from pathlib import Path

import numpy as np

from catunet import atomic, shipped
from catunet.flags import HelpFormatter
from catunet.inference.evaluate import evaluate
from catunet.inference.predict import Settings
from catunet.models.saving import load_model
from catunet.study import encoder_report
from catunet.study.choosing import (INFERENCE_GROUPS, by_score,
                                    greedy_inference, keeps, ladder_scenes,
                                    settings_measure)
from catunet.study.folds import (add_validation_flags, command_line,
                                 fold_runs, fold_scores, label_of, opening,
                                 report_then_final, sized)
from catunet.study.runstore import RUNS
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


def choose_inference(study, runs, made, image_size):
    """The inference options of fold ``runs`` (models of ``image_size``),
    chosen the ladder's way: ``GROUPS`` one at a time by the choosing
    score on validation photos and scenes, never on test."""
    measure = settings_measure(sized(study, image_size), runs, made,
                               with_test=False)
    return greedy_inference(measure, by_score, GROUPS)


def row(step, change, runs, kept):
    return {"step": step, "change": change, "kept": bool(kept),
            **fold_scores(runs)}


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


def run(frames, frames_apart=None, data_dir=None, seeds=3, final_seeds=0,
        runs_dir=RUNS / "encoder", report=REPORT, command=""):
    """Climbs (or reuses) the ladder, chooses inference, optionally trains
    and tests the final recipe, and writes the report."""
    start = time.perf_counter()
    study = Study.load(data_dir, seeds)
    made = ladder_scenes(study, frames, frames_apart)[1]
    recipe, best, rows = climb(study, made, runs_dir)
    inference = choose_inference(study, best, made, recipe["image_size"])
    summary = {
        **opening(study, made, frames, frames_apart, command),
        "precision": machine.best_precision(BASE["encoder"]),
        "base": BASE, "steps": rows, "recipe": recipe,
        "inference": inference}
    return report_then_final(
        summary, functools.partial(encoder_report.write, report=report),
        start, final_seeds, study, recipe, Settings(**inference["chosen"]),
        runs_dir, BASE)


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
