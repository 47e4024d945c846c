"""The quality ladder: steps added one at a time, each kept only if it wins
on the validation folds.

    python -m catunet.study.quality --pretrain-dir ../shared/data/horses \\
        --unlabelled ../shared/data/pet-cats \\
        --paste-backgrounds ../shared/data/davis,../shared/data/horses

1. ``transfer``: today's best recipe, pre-trained on ``--pretrain-dir`` and
   fine-tuned with the encoder frozen, then unfrozen (``experiments``).
2. ``self-training``: the same, plus the ``--unlabelled`` photos: each
   seed's step-1 model is the teacher of that seed (it has seen only that
   fold's training photos), and the student learns from its pseudo-masks
   (``catunet.training.selftrain``).
3. ``capacity``: the last kept recipe at width 16 (``ARCHITECTURE``), from
   its own pre-training on ``--pretrain-dir`` at that width; a wider
   student than its width-8 teacher starts from that pre-training
   (``catunet.training.selftrain.student_start``).
4. ``schedule``: cosine decay of the learning rate with a short linear
   warm-up (``SCHEDULE``) in every phase, instead of a constant rate.
5. ``copy-paste``: the last kept recipe plus copy-paste synthesis on
   ``--paste-backgrounds`` (``catunet.data.copypaste``).
6. ``copy-paste-on-cats``: the same synthesis pasted onto the other fitted
   cat photos, each keeping its own mask, instead: no background holds an
   animal or a person that its composite calls background.
7. ``capacity-32``: the last kept recipe at width 32, as ``capacity``.
8. ``more-unlabelled``: every pseudo-mask that passes the area check
   (``MORE_UNLABELLED``) instead of the most confident half: twice the
   pseudo-labelled photos, at the cost of noisier masks.
9. ``second-round``: a second round of self-training, the first round's
   student labelling the unlabelled photos for a new student.
10. ``all-pseudo``: the student pre-trains on every kept pseudo-mask
   (``ALL_PSEUDO``) instead of setting a third of them aside as a test
   split that no step uses.
11. ``shorter-pseudo``: half the epochs of pre-training on the
   pseudo-labelled photos (``SHORTER_PSEUDO``): fewer passes over the
   teacher's mistakes, and a cheaper recipe.
12. ``third-round``: a third round of self-training (``THIRD_ROUND``); its
   first two rounds are the ``second-round`` step's runs, found by key.
13. ``batch-norm``: batch normalisation after every convolution, from its
   own pre-training like ``capacity`` (the student no longer has its
   width-8 teacher's shape, so it starts from that pre-training).
14. ``shorter-fine-tune``: half the epochs of every fine-tune on the
   labelled photos (``SHORTER_FINE_TUNE``, the frozen phase halved too):
   the students' validation Dice is flat after their first tens of
   epochs, and the recipe gets cheaper.
15. ``wider-zoom``: the augmentation's zoom reaches 40% in or out instead
   of 15% (``WIDER_ZOOM``), in every phase: the labelled cats fill most of
   their photos, users' photos also hold small cats, and a zoomed-out
   photo mirrored at its borders holds several.
16. ``longer-pseudo``: twice the epochs of pre-training on the
   pseudo-labelled photos (``LONGER_PSEUDO``): halving them lowered every
   seed, so the other direction is measured too.
17. ``weight-average``: an exponential moving average of the weights in
   every phase that trains the encoder (``WEIGHT_AVERAGE``, ``--ema``),
   which smooths the step-to-step noise of fine-tuning on few photos.
18. ``round-ensemble``: the saved model averages the probabilities of
   the last two models of the self-training chain (``ROUND_ENSEMBLE``: with
   two rounds, both students) instead of keeping the last alone: a second
   opinion on the photos whose Dice swings from run to run, for no more
   training (``catunet.training.ensemble``).
19. ``mosaic``: half as many mosaics as fitted photos added in every
   phase, the pseudo-labelled photos' too (``MOSAIC``, ``catunet.data.mosaic``):
   four photos at half size in one, several smaller cats on real
   backgrounds, each pixel labelled by its own photo's mask.
20. ``colour``: saturation, hue and grayscale augmentation added in every
   phase (``COLOUR``): cats come in every coat, and the labelled photos'
   failures on validation are cats the colour of what they lie on (a
   ginger cat on red, a pale kitten on pale blankets); a model that cannot
   lean on colour has to learn the outline.
21. ``negatives``: half as many photos without a cat as fitted photos,
   from ``--negative-photos``, each with an empty mask, added where the
   labelled photos are fitted (``NEGATIVES``): users' cats are held by
   people, and a network pre-trained on the foreground of horse photos
   has no reason to think a face is not one. Scenes are then made only of
   frames of other sequences (``scenes.frames_apart``).
22. ``negatives-bce``: the same, with the Dice term of the loss left out
   on the photos without a cat (``NONEMPTY_LOSS``): on an empty mask soft
   Dice is near its maximum for any probability at all, so ``negatives``
   taught its models to predict nothing where they were unsure.
23. ``paste-negatives``: instead of whole photos without a cat, their
   foreground (the people of ``--negative-photos``, cut out by their own
   masks) pasted large onto half as many fitted cat photos, as
   background (``NEGATIVE_PASTES``, ``catunet.data.copypaste.paste_negatives``):
   a person beside or holding the cat, on the cat photos' own
   backgrounds, so no photo has an empty mask and no video frame is
   learned as "no cat here". Validation photos hold people too (a girl
   with a black kitten, people holding cats).
24. ``fewer-paste-negatives``: the same at half the dose
   (``FEWER_NEGATIVE_PASTES``): ``paste-negatives`` halved how much of the
   scenes' own people the models mark as cat (``catunet.study.mistaken``)
   but lost cats with it; fewer pasted people may keep the first without
   the second. Chosen by the same rule as every step before it.
25. ``smaller-mosaics``: every other mosaic nine photos at a third of
   their size instead of four at half (``SMALLER_MOSAICS``,
   ``--mosaic-grids 2,3``), in every phase, at the same count: the
   validation scenes' small cats (a sixth to a quarter of the frame) are
   the kind every kept recipe finds least (scene Dice about 0.1), users'
   photos hold small cats, and mosaics were the step that gained most.
26. ``inference``: test-time augmentation, zoom (2 or 3 times closer, its
   tiles merged with the whole photo by mean or max; then only for photos
   whose whole-photo foreground is small), the threshold and the clean-ups,
   tried one group at a time on the best model so far, each kept only if
   it raises the mean validation Dice (``catunet.inference.predict.Settings``).

Seed *s* is validated on fold *s*; the test photos are scored and reported,
never used to choose.

``--from-recorded JSON`` continues a recorded ladder (a copy of its
``quality.json``) instead of climbing it again: the earlier rows stay as
they were measured, the kept recipe is retrained here without validating
its steps again (``transfer, retrained`` and ``kept recipe, retrained``),
and ``--steps`` are climbed on top of it, paired with that retrained
baseline. It costs the kept recipe's runs instead of every step's.

``--fold S`` (with ``--from-recorded`` and one step) trains only fold
*s*'s runs of that step, its baseline and its teacher, and records them in
``<--report>/quality-folds.json``: a step longer than one sitting is climbed
a fold per sitting, each fold's pair on one machine, and the sitting that
records the last fold writes the report (``catunet.study.folds``).

``--scenes-frames DIR`` scores every step's fold runs also on scenes made
of that fold's own validation cats pasted onto frames of ``DIR``
(``catunet.study.scenes``: large, medium, small, several), and keeps a step
(and an inference option) only if it raises the mean *choosing score*,
validation photo Dice and scene Dice averaged: the validation photos each
hold one large cat, users' photos also several and small ones.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.flags import HelpFormatter
from catunet.data import loading
from catunet.errors import CatunetError
from catunet.inference.evaluate import score
from catunet.inference.predict import Settings, ZOOM_MERGES
from catunet.models.saving import load_model
from catunet.study import experiments, render
from catunet.study import folds as folds_book, runstore
from catunet.study.reports import (RETRAINED_RECIPE,  # noqa: F401 (API)
                                   RETRAINED_TRANSFER, ladder_seconds,
                                   write_quality_report)
from catunet.study.runstore import RUNS
from catunet.study.scenes import (check_frames_apart, choosing_score,
                                  fold_scenes, frames_apart, load_frames,
                                  settings_measure, with_scene_scores)
from catunet.training import machine, provenance

REPORTS = Path("reports")
TRANSFER = "frozen-then-unfrozen"
# Inference options, one group at a time, in this order.
INFERENCE_GROUPS = (
    ("test-time augmentation", [{"tta": True}]),
    ("zoom", [{"zoom": z, "zoom_merge": m} for m in ZOOM_MERGES
              for z in (2, 3)]),
    ("zoom only small cats", [{"zoom_max_area": a} for a in (0.1, 0.2, 0.3)]),
    ("threshold", [{"threshold": t} for t in (0.2, 0.3, 0.4, 0.6, 0.7)]),
    ("fill holes", [{"fill_holes": True}]),
    ("drop specks", [{"min_area": a} for a in (0.005, 0.01, 0.02)]),
    ("cat boxes", [{"cat_boxes": s} for s in (0.1, 0.15, 0.2, 0.25)]),
)


def keeps(runs, best, key):
    """The ladder's rule: a step is kept when its runs' mean ``key`` (one run
    per validation fold) is higher than the best kept step's."""
    return np.mean([r[key] for r in runs]) > np.mean([r[key] for r in best])


def _dice(model, arrays, settings):
    return score(model, *arrays, settings)["dice"]


def by_photos(scored):
    """The ladder's rule: mean validation photo Dice."""
    return np.mean(scored["val_dice"])


def by_score(scored):
    """The rule with scenes: the mean choosing score (validation photo and
    scene Dice averaged)."""
    return float(np.mean(choosing_score(scored["val_dice"],
                                        scored["scene_dice"])))


def choose_inference(study, runs, made=None):
    """Greedy choice of inference settings on validation.

    Args:
        study: The ``experiments.Study`` (validation folds and test set).
        runs: One run per seed (``run_one`` results) of the model to tune.
        made: Every fold's scenes, to choose by the choosing score; None
            chooses by validation photo Dice.

    Returns:
        A dict: every tried setting with per-seed validation and test Dice
        (and scene Dice with ``made``), and the chosen settings.
    """
    return greedy_inference(settings_measure(study, runs, made),
                            by_photos if made is None else by_score)


def greedy_inference(measure, criterion, groups=INFERENCE_GROUPS):
    """Tries ``groups`` of options one group at a time from the plain
    settings, keeping a group's best option only if it raises
    ``criterion``.

    Args:
        measure: ``Settings`` → a dict of scores (with ``settings``).
        criterion: That dict → the number to raise.
        groups: ``(name, [options])`` in order (``INFERENCE_GROUPS``).

    Returns:
        ``{"tried": [...], "chosen": settings dict, "best": its scores}``.
    """
    current = Settings()
    best = measure(current)
    tried = [{"group": "plain", **best, "kept": True}]
    for group, options in groups:
        results = [measure(dataclasses.replace(current, **o)) for o in options]
        top = max(results, key=criterion)
        kept = criterion(top) > criterion(best)
        since = dataclasses.asdict(current)
        tried_here = ", ".join(
            f"{' '.join(render.inference_flags(r['settings'], since))} "
            f"{criterion(r):.3f}" for r in results)
        print(f"   inference, {group}: {tried_here} against "
              f"{criterion(best):.3f}: {'kept' if kept else 'left out'}",
              flush=True)
        for result in results:
            tried.append({"group": group, **result,
                          "kept": bool(kept and result is top)})
        if kept:
            current, best = Settings(**top["settings"]), top
    return {"tried": tried, "chosen": dataclasses.asdict(current),
            "best": best}


STEPS = ("self-training", "capacity", "schedule", "copy-paste",
         "copy-paste-on-cats", "capacity-32", "more-unlabelled",
         "second-round", "all-pseudo", "shorter-pseudo", "third-round",
         "batch-norm", "shorter-fine-tune", "wider-zoom",
         "longer-pseudo", "weight-average", "round-ensemble", "mosaic",
         "colour", "negatives", "negatives-bce", "paste-negatives",
         "fewer-paste-negatives", "smaller-mosaics")
COPY_PASTE = 1.0  # composites per fitted photo in the copy-paste step
# Steps that change the network, each trained from its own pre-training
# on --pretrain-dir with the last kept recipe's network so changed. Width
# 16 costs about what width 8 does where bfloat16 runs natively (AMX,
# AVX512-BF16) and twice that elsewhere; width 32 about doubles it again:
# its step comes late, and the README states what the final recipe costs.
ARCHITECTURE = {"capacity": {"width": 16}, "capacity-32": {"width": 32},
                "batch-norm": {"batch_norm": True}}
SCHEDULE = {"schedule": "cosine", "warmup_epochs": 2}
MORE_UNLABELLED = {"pseudo_keep": 1.0}
ALL_PSEUDO = {"pseudo_holdout": 0.0}
SHORTER_PSEUDO = {"pseudo_epochs": 5}
LONGER_PSEUDO = {"pseudo_epochs": 20}
THIRD_ROUND = {"self_training_rounds": 3}
SHORTER_FINE_TUNE = {"epochs": 40, "freeze_epochs": 10}
# Polyak averaging of the weights over about the last 100 steps of each
# phase that trains the encoder: some 13 epochs of a fine-tune on 57
# photos, half an epoch of pre-training on the pseudo-labelled photos.
WEIGHT_AVERAGE = {"ema": 0.99}
ROUND_ENSEMBLE = {"round_ensemble": 2}
MOSAIC = {"mosaic": 0.5}  # a third of the training images are mosaics
SMALLER_MOSAICS = {"mosaic_grids": "2,3"}  # half of them three by three
WIDER_ZOOM = {"augment": "flip,rotate,zoom=0.4,translate,elastic,"
                         "brightness,contrast"}
COLOUR = {"augment": "recommended,saturation,hue,grayscale"}
NEGATIVES = 0.5  # photos without a cat per fitted photo (--negative-photos)
NEGATIVE_PASTES = 0.5  # composites with a pasted negative per fitted photo
FEWER_NEGATIVE_PASTES = 0.25
# Steps that add --negative-photos, and the loss negatives-bce trains with.
NEGATIVE_STEPS = ("negatives", "negatives-bce", "paste-negatives",
                  "fewer-paste-negatives")
NONEMPTY_LOSS = "bce+dice-nonempty"


def step_settings(unlabelled, teachers, paste_backgrounds,
                  negative_photos=None):
    """What each step adds to the recipe of the last kept step, but the
    steps that change the network (``ARCHITECTURE``), which also need
    their own pre-training (``pretrain_network``).

    Args:
        unlabelled: The folder of unlabelled photos.
        teachers: The teacher of each seed (``experiments.PerSeed``).
        paste_backgrounds: Folders of cat-free photos for copy-paste.
        negative_photos: Folders or patterns of photos without a cat.
    """
    return {"self-training": {"unlabelled": str(unlabelled),
                              "teacher": teachers},
            "schedule": SCHEDULE,
            "copy-paste": {"copy_paste": COPY_PASTE,
                           "paste_backgrounds": paste_backgrounds},
            "copy-paste-on-cats": {"copy_paste": COPY_PASTE,
                                   "paste_backgrounds": None},
            "more-unlabelled": MORE_UNLABELLED,
            "second-round": {"self_training_rounds": 2},
            "all-pseudo": ALL_PSEUDO,
            "shorter-pseudo": SHORTER_PSEUDO,
            "third-round": THIRD_ROUND,
            "shorter-fine-tune": SHORTER_FINE_TUNE,
            "wider-zoom": WIDER_ZOOM,
            "longer-pseudo": LONGER_PSEUDO,
            "weight-average": WEIGHT_AVERAGE,
            "round-ensemble": ROUND_ENSEMBLE,
            "mosaic": MOSAIC,
            "smaller-mosaics": SMALLER_MOSAICS,
            "colour": COLOUR,
            "negatives": {"negatives": NEGATIVES,
                          "negative_photos": negative_photos},
            "negatives-bce": {"negatives": NEGATIVES,
                              "negative_photos": negative_photos,
                              "loss": NONEMPTY_LOSS},
            "paste-negatives": {"negative_pastes": NEGATIVE_PASTES,
                                "negative_photos": negative_photos},
            "fewer-paste-negatives": {"negative_pastes": FEWER_NEGATIVE_PASTES,
                                      "negative_photos": negative_photos}}


def pretrain_network(study, pretrain_dir, recipe, change, epochs, settings):
    """The pre-training of the last kept recipe's network with ``change``
    (one of ``ARCHITECTURE``), found by key or trained.

    Returns:
        ``(name, pretrain summary)``; the name (``width-16``,
        ``width-16-bn``) also names its folder under ``runs/transfer``.
    """
    network = {k: recipe.get(k, getattr(study.base, k))
               for k in ("width", "batch_norm")}
    network.update(change)
    normed = "-bn" if network["batch_norm"] else ""
    name = f"width-{network['width']}{normed}"
    folder = RUNS / "transfer" / f"pretrain-w{network['width']}{normed}"
    return name, experiments.pretrain_for(study, pretrain_dir, folder, epochs,
                                          {**settings, **network})


def ladder_scenes(study, scenes_frames, negative_photos=None):
    """The validation scenes a ladder chooses on: each fold's own cats
    pasted onto the frames of ``scenes_frames`` (``fold_scenes``, scene
    seed 0), less the frames of the sequences ``negative_photos`` come
    from; returns ``(frames, scenes of each fold)``."""
    frames = load_frames(scenes_frames)
    if negative_photos:
        frames = frames_apart(frames, loading.photos_of(negative_photos))
    return frames, fold_scenes(study, frames, 0)


def run_ladder(pretrain_dir, unlabelled, data_dir=None, seeds=3,
               runs_dir=RUNS / "quality", pretrain_epochs=40,
               paste_backgrounds=None, steps=STEPS, final_seeds=None,
               recorded=None, scenes_frames=None, fold=None,
               negative_photos=None, **settings):
    """Runs (or reuses) the ladder; returns the summary.

    Args:
        paste_backgrounds: Folders of cat-free photos for copy-paste.
        negative_photos: Folders or patterns of photos without a cat for
            the ``negatives`` step; the scenes are never made of a frame
            of their sequences (``frames_apart``).
        steps: Which of ``STEPS`` to climb, in order, after ``transfer``.
        final_seeds: How many seeds of the final recipe to train on all
            training photos (``final_recipe``); default ``seeds``, 0 none.
        recorded: An earlier ladder's summary (``quality.json``) to continue
            instead of climbing from ``transfer``: its kept recipe is
            retrained here without re-validating its steps, and ``steps``
            are climbed on top of it (``continue_from``).
        scenes_frames: Frames to paste each fold's validation cats onto
            (``scenes.fold_scenes``): every step and the inference settings
            are then chosen by the mean choosing score (validation photo
            and scene Dice averaged) instead of validation photo Dice.
        fold: Train only this seed (validation fold) of every step and
            return its ``fold_record`` instead of the summary: a ladder
            longer than one sitting is climbed a fold at a time
            (``catunet.study.folds``: ``merge``, ``assemble``). Needs ``recorded`` and one step.
        settings: ``TrainConfig`` fields of every run.
    """
    needing = [name for name in steps if name in NEGATIVE_STEPS]
    if needing and not negative_photos:
        raise CatunetError(f"the {needing[0]} step needs --negative-photos")
    if scenes_frames:
        check_frames_apart(scenes_frames, paste_backgrounds)
    if fold is not None:
        check_fold(fold, seeds, recorded, steps)
    only = None if fold is None else [fold]
    transfer, study = experiments.compare_transfer(
        pretrain_dir, data_dir, seeds, runs_dir=RUNS / "transfer",
        variants=(TRANSFER,), pretrain_epochs=pretrain_epochs,
        train_seeds=only, **settings)
    made, key = None, "val_dice"
    if scenes_frames:
        made = ladder_scenes(study, scenes_frames, negative_photos)[1]
        key = "score"

    def scored(runs):
        return with_scene_scores(runs, made) if made else runs

    base = scored(transfer["results"][TRANSFER])
    teachers = experiments.PerSeed(
        {r["config"]["seed"]: str(Path(r["folder"]) / "cats.keras")
         for r in base}, f"the seed's {TRANSFER} model")
    adds = step_settings(unlabelled, teachers, paste_backgrounds,
                         negative_photos)
    pretrained = {f"width-{study.base.width}": transfer["pretrain"]}
    recipe = dict(experiments.TRANSFER_VARIANTS[TRANSFER],
                  init=transfer["pretrain"]["model"])

    def add(name):
        """What step ``name`` adds to the current recipe (a network step's
        own pre-training trained or found first)."""
        if name in ARCHITECTURE:
            network, pre = pretrain_network(study, pretrain_dir, recipe,
                                            ARCHITECTURE[name],
                                            pretrain_epochs, settings)
            pretrained[network] = pre
            adds[name] = {**ARCHITECTURE[name], "init": pre["model"]}
        return adds[name]

    climbed, best_runs, kept_names = [("transfer", base, True, {})], base, []
    if recorded:
        kept_names = continue_from(recorded, transfer, steps)
        for name in kept_names:
            recipe = {**recipe, **add(name)}
        label = "+".join(kept_names)
        if kept_names:
            best_runs = scored(experiments.run_variants(
                study, {label: recipe}, runs_dir, only)["results"][label])
        climbed = [(RETRAINED_TRANSFER, base, True, {}),
                   (RETRAINED_RECIPE, best_runs, True, {})]
    for name in steps:
        candidate = {**recipe, **add(name)}
        label = "+".join(kept_names + [name])
        runs = scored(experiments.run_variants(study, {label: candidate},
                                               runs_dir, only)["results"][label])
        kept = keeps(runs, best_runs, key)
        climbed.append((name, runs, kept, adds[name]))
        if kept:
            recipe, best_runs = candidate, runs
            kept_names.append(name)
    if fold is not None:
        return fold_record(fold, climbed, transfer, pretrained, recorded,
                           steps, made, unlabelled, paste_backgrounds,
                           scenes_frames, negative_photos), study
    inference = choose_inference(study, best_runs, made)
    final_seeds = seeds if final_seeds is None else final_seeds
    final = final_recipe(study, recipe, Settings(**inference["chosen"]),
                         final_seeds, runs_dir,
                         "+".join(kept_names) or "transfer") \
        if final_seeds else None
    summary = ladder_summary(
        "python -m catunet.study.quality",
        ladder_source(transfer, unlabelled, paste_backgrounds, scenes_frames,
                      made, negative_photos),
        pretrained, ladder_rows(recorded, climbed), inference,
        decisive_photos(study, climbed), final, recorded)
    summary["recipe"] = {k: str(v) for k, v in recipe.items()}
    return summary, study




def check_fold(fold, seeds, recorded, steps):
    """Refuses a ``--fold`` the ladder cannot climb a fold at a time: one
    outside the folds, or without a recorded ladder to continue and exactly
    one step to add (a second step's baseline depends on whether the
    first is kept, which no single fold decides)."""
    if not 0 <= fold < seeds:
        raise CatunetError(f"--fold {fold}: the folds are 0 to {seeds - 1}")
    if recorded is None or len(steps) != 1:
        raise CatunetError("--fold climbs one step on a recorded ladder: "
                           "give --from-recorded and exactly one --steps")


def fold_record(fold, climbed, transfer, pretrained, recorded, steps, made,
                unlabelled, paste_backgrounds, scenes_frames,
                negative_photos=None):
    """What one fold's sitting measured (``run_ladder(fold=...)``): every
    row's run of that fold, and what the rows must share with the other
    folds' sittings to be put together (``catunet.study.folds``)."""
    return {
        "fold": fold,
        **ladder_source(transfer, unlabelled, paste_backgrounds,
                        scenes_frames, made, negative_photos),
        "pretrained": pretrained,
        "steps_climbed": list(steps),
        "continues": {key: recorded[key] for key in
                      ("command", "code_version", "machine")},
        "rows": [{"name": name, "run": runs[0],
                  "adds": {k: str(v) for k, v in add.items()}}
                 for name, runs, _, add in climbed],
    }


def ladder_source(transfer, unlabelled, paste_backgrounds, scenes_frames,
                  made, negative_photos=None):
    """What a ladder (or one fold's sitting) ran on and from: the fields of
    its summary that ``folds.assemble`` takes from a fold's record."""
    return {
        "machine": machine.describe(),
        "code_version": transfer["code_version"],
        "split": transfer["split"], "seeds": transfer["seeds"],
        "settings": transfer["settings"], "baselines": transfer["baselines"],
        "pretrain": transfer["pretrain"],
        "unlabelled": str(unlabelled), "paste_backgrounds": paste_backgrounds,
        "negative_photos": negative_photos,
        "scenes": {"frames": str(scenes_frames),
                   "scenes_per_fold": [len(m) for m in made]}
        if made else None,
    }


SOURCE = ("machine", "code_version", "split", "seeds", "settings",
          "baselines", "pretrain", "unlabelled", "paste_backgrounds",
          "negative_photos", "scenes")


def ladder_rows(recorded, climbed):
    """The summary's rows: the recorded ladder's (marked so), then each
    ``(name, runs, kept, adds)`` climbed here."""
    rows = [{"name": name, "kept": bool(kept), "runs": runs,
             "adds": {k: str(v) for k, v in add.items()}}
            for name, runs, kept, add in climbed]
    earlier = [{**step, "recorded": True} for step in recorded["steps"]] \
        if recorded else []
    return earlier + rows


def ladder_summary(command, source, pretrained, rows, inference, photos,
                   final, recorded):
    """A ladder's summary (``quality.json``), climbed at once or assembled
    from folds.

    Args:
        source: ``ladder_source``, or a fold's record holding it.
        photos: ``decisive_photos``.
        final: ``final_recipe``'s runs, or None.
        recorded: The ladder it continues, or None.
    """
    summary = {"command": command, **{k: source[k] for k in SOURCE},
               "pretrained": pretrained, "steps": rows,
               "inference": inference, "validation_photos": photos,
               "final": final}
    if recorded:
        summary["continues"] = {
            **{key: recorded[key] for key in
               ("command", "code_version", "machine")},
            "kept": kept_names_of(recorded),
            "seconds": ladder_seconds(recorded),
            "final": _final_of(recorded)}
    return summary


def _final_of(recorded):
    """What a recorded ladder's final recipe measured (None if it trained
    none): its test Dice per seed, precision and inference settings."""
    final = recorded.get("final")
    if not final:
        return None
    return {"seeds": [r["seed"] for r in final],
            "test_dice": [r["test_dice"] for r in final],
            "precision": final[0]["config"]["precision"],
            "inference": recorded["inference"]["chosen"]}


def kept_step(step):
    """Whether a ladder row is a step the ladder kept (rows that retrained
    an earlier ladder's recipe are not steps)."""
    return step["kept"] and step["name"] not in (RETRAINED_TRANSFER,
                                                 RETRAINED_RECIPE)


def kept_names_of(recorded):
    """The steps a recorded ladder kept after ``transfer``, in order."""
    return [step["name"] for step in recorded["steps"][1:] if kept_step(step)]


def continue_from(recorded, transfer, steps):
    """The kept steps of a recorded ladder, once it is checked that this
    ladder can continue it: same split, folds and training settings, and no
    step climbed twice.

    Args:
        recorded: The earlier ladder's summary (``quality.json``).
        transfer: This ladder's ``transfer`` summary.
        steps: The steps this ladder climbs on top.

    Raises:
        CatunetError: What differs, or the steps climbed twice.
    """
    for key in ("split", "seeds", "settings"):
        theirs = recorded.get(key)
        ours = transfer[key]
        if key == "settings" and isinstance(theirs, dict):
            theirs = {**_added_since(theirs, ours), **theirs}
        if theirs != ours:
            if isinstance(ours, dict) and isinstance(theirs, dict):
                differ = sorted(k for k in set(ours) | set(theirs)
                                if ours.get(k) != theirs.get(k))
                detail = ", ".join(f"{k} {theirs.get(k)!r} there, "
                                   f"{ours.get(k)!r} here" for k in differ)
            else:
                detail = f"{theirs!r} there, {ours!r} here"
            raise CatunetError(f"the recorded ladder has other {key} "
                               f"({detail}): it cannot be continued here")
    climbed = {step["name"] for step in recorded["steps"]}
    again = [name for name in steps if name in climbed]
    if again:
        raise CatunetError(f"the recorded ladder already climbed "
                           f"{', '.join(again)}; choose other --steps")
    kept = kept_names_of(recorded)
    unknown = [name for name in kept if name not in STEPS]
    if unknown:
        raise CatunetError(f"the recorded ladder kept steps this version "
                           f"does not have: {', '.join(unknown)}")
    return kept


def decisive_photos(study, climbed, count=4, dropped=2):
    """The validation photos whose Dice moves most from step to step, and
    how much of each fold's step-to-step spread they make.

    Each photo is scored by every step's run of the seed that validates on
    its fold (``run_one``'s ``val_dice_per_image``, the scores the ladder
    chooses by).

    Args:
        climbed: ``(name, runs, kept, adds)`` of every step, in order.
        count: How many photos to list, widest range first.
        dropped: How many of each fold's widest-range photos the second
            spread leaves out.

    Returns:
        ``{"photos": [...], "folds": [...], "dropped": dropped}``: each
        photo's name, fold, Dice in the kept recipe's run and its lowest and
        highest Dice with their steps; each fold's sample sd of its mean
        Dice over the steps, with all photos and without its ``dropped``
        widest-range photos. None with fewer than two steps.
    """
    if len(climbed) < 2:
        return None
    names = [name for name, *_ in climbed]
    kept = max(i for i, (_, _, was_kept, _) in enumerate(climbed) if was_kept)
    photos, folds = [], []
    for fold in range(len(study.val)):
        dice = np.array([runs[fold]["val_dice_per_image"]
                         for _, runs, _, _ in climbed])  # steps x photos
        spread = dice.max(axis=0) - dice.min(axis=0)
        widest = np.argsort(-spread)
        for i, name in enumerate(study.fold_names(fold)):
            photos.append({
                "name": name, "fold": fold, "range": float(spread[i]),
                "kept_recipe": float(dice[kept, i]),
                "lowest": float(dice[:, i].min()),
                "lowest_step": names[int(dice[:, i].argmin())],
                "highest": float(dice[:, i].max()),
                "highest_step": names[int(dice[:, i].argmax())]})
        rest = np.delete(dice, widest[:dropped], axis=1)
        folds.append({"fold": fold, "photos": dice.shape[1],
                      "sd": float(dice.mean(axis=1).std(ddof=1)),
                      "sd_without_widest": float(rest.mean(axis=1).std(ddof=1))})
    photos.sort(key=lambda p: -p["range"])
    return {"photos": photos[:count], "folds": folds, "dropped": dropped}


def _added_since(theirs, ours):
    """The settings this version has and a recorded ladder's lacks, at
    their off value: fields added to ``TrainConfig`` since
    (``provenance.OFF_UNLESS_SET``), with which it trained off, and unset
    folders added since (``provenance.NOT_IN_KEY``)."""
    off = {**dict.fromkeys(provenance.NOT_IN_KEY), **provenance.OFF_UNLESS_SET}
    return {k: v for k, v in off.items() if k in ours and k not in theirs}


def final_recipe(study, recipe, settings, seeds, runs_dir, label):
    """The kept recipe trained on all the training photos (no validation
    fold), once per seed, with the chosen inference settings saved beside
    each model and used to score the test photos.

    Each run goes to ``<runs_dir>/final-<label>-s<seed>``, named after the
    kept steps, so a ladder that keeps another step trains beside the old
    final recipe instead of refusing its folder.

    A self-training recipe trains its own teacher on the same photos, so no
    model that saw fewer photos labels the unlabelled ones.
    """
    from catunet.study.runstore import RunStore, parts

    runs = []
    for seed in range(seeds):
        chosen = {k: v for k, v in recipe.items() if k != "teacher"}
        config = dataclasses.replace(
            study.base, **chosen, folds=0, val_fold=0, seed=seed,
            out=str(Path(runs_dir) / f"final-{label}-s{seed}"))
        print(f"== final recipe, seed {seed} (all training photos)",
              flush=True)
        run = RunStore().run(config)
        settings.save_beside(run.model_path)
        test = _dice(load_model(run.model_path), study.test, settings)
        runs.append({"folder": str(run.folder), "seed": seed,
                     "seconds": run.seconds, "parts": parts(run.folder),
                     "test_dice": float(test.mean()),
                     "test_dice_per_image": test.tolist(),
                     "config": dataclasses.asdict(run.config)})
    return runs


def draw_worst_three(summary, study, folder=REPORTS):
    """The transfer step's three worst test photos (seed 0), before and
    after the ladder; saves ``quality-worst.png`` and names it in the
    summary."""
    import matplotlib.pyplot as plt

    from catunet.study.reports import before_after

    before = next(step for step in summary["steps"]
                  if not step.get("recorded"))["runs"][0]
    after = summary["final"][0] if summary["final"] else \
        [s for s in summary["steps"] if s["kept"]][-1]["runs"][0]
    picks = list(np.argsort(before["test_dice_per_image"])[:3])
    fig = before_after(study, before, after, ["transfer", "final recipe"],
                       picks)
    atomic.save_figure(fig, Path(folder) / "quality-worst.png", dpi=100)
    plt.close(fig)
    summary["figure"] = "quality-worst.png"


def load_recorded(path, report):
    """The recorded ladder to continue (``--from-recorded``), or None.

    Raises:
        CatunetError: No such file, not a ladder's summary, or the very
            ``quality.json`` this ladder will write (which would make the
            command not rerunnable).
    """
    import json

    if not path:
        return None
    path = Path(path)
    if not path.is_file():
        raise CatunetError(f"{path}: recorded ladder not found")
    if path.resolve() == (Path(report) / "quality.json").resolve():
        raise CatunetError(f"{path}: this ladder writes its report there; "
                           "continue from a copy (e.g. reports/quality-1.json)"
                           " so the command can be run again")
    try:
        recorded = json.loads(path.read_text())
        recorded["steps"][0]["runs"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise CatunetError(f"{path}: not a quality ladder's summary "
                           f"({error!r})") from error
    return recorded


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.quality",
        description="Run or reuse the quality ladder and write "
        "reports/quality.md.", formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="the cat set (default: $CATUNET_DATA_DIR, else "
                   "data/cats)")
    p.add_argument("--pretrain-dir", required=True,
                   help="labelled folder(s) to pre-train on, comma-separated")
    p.add_argument("--unlabelled", required=True,
                   help="folder of unlabelled photos for self-training")
    p.add_argument("--paste-backgrounds", default=None,
                   help="cat-free photo folders (comma-separated) for the "
                   "copy-paste step, e.g. ../shared/data/davis; without it "
                   "the other training photos are the backgrounds")
    p.add_argument("--negative-photos", default=None, metavar="PHOTOS",
                   help="photos without a cat for the negatives steps "
                   f"({', '.join(NEGATIVE_STEPS)}): folders or glob "
                   "patterns (comma-separated), e.g. DAVIS's people "
                   "sequences (paste-negatives needs their masks, in a "
                   "masks/ folder beside images/); the scenes are then "
                   "made only of frames of other sequences")
    p.add_argument("--steps", default=",".join(STEPS),
                   help="the steps to climb after transfer (or after the "
                   f"recorded ladder's kept recipe), in order (from "
                   f"{', '.join(STEPS)}); with --from-recorded, --steps '' "
                   "climbs none: the kept recipe is retrained (or found by "
                   "key) for every fold and the inference settings are "
                   "chosen again on its models, which a ladder climbed a "
                   "fold at a time (--fold) cannot do")
    p.add_argument("--from-recorded", default=None, metavar="JSON",
                   help="continue the ladder recorded in this quality.json "
                   "(a copy: the report overwrites quality.json): retrain "
                   "its kept recipe as the baseline, without validating its "
                   "steps again, and climb --steps on top; its rows stay in "
                   "the report as measured")
    p.add_argument("--scenes-frames", default=None, metavar="DIR",
                   help="choose every step and the inference settings by "
                   "the mean of validation photo Dice and Dice on scenes "
                   "of each fold's own cats pasted onto these frames "
                   "(DAVIS: images/ and masks/ of their own foreground; "
                   "never a --paste-backgrounds folder) instead of "
                   "validation photo Dice alone")
    p.add_argument("--final-seeds", type=int, default=None,
                   help="seeds of the final recipe trained on all training "
                   "photos (default: --seeds; 0 skips it)")
    p.add_argument("--seeds", type=int, default=3,
                   help="seeds per step, also the number of validation folds")
    p.add_argument("--pretrain-epochs", type=int, default=40,
                   help="epochs of the pre-training")
    p.add_argument("--fold", type=int, default=None, metavar="S",
                   help="climb the one step of --steps on --from-recorded "
                   "for validation fold S only (seed S: its teacher, the "
                   "kept recipe and the step, on this machine), record the "
                   "runs in <--report>/quality-folds.json beside the other "
                   "sittings' folds, and write the ladder's report once "
                   "every fold is recorded: a step longer than one sitting "
                   "is climbed a fold per sitting (the recorded ladder's "
                   "inference settings are kept, no final recipe is "
                   "trained; reproduce --seed trains it)")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of quality.md and quality.json")
    args = p.parse_args(argv)
    try:
        steps = [s for s in args.steps.split(",") if s]
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise CatunetError(f"unknown steps {', '.join(sorted(unknown))}; "
                               f"choose from {', '.join(STEPS)}")
        recorded = load_recorded(args.from_recorded, args.report)
        summary, study = run_ladder(
            args.pretrain_dir, args.unlabelled, args.data_dir, args.seeds,
            pretrain_epochs=args.pretrain_epochs,
            paste_backgrounds=args.paste_backgrounds, steps=steps,
            final_seeds=args.final_seeds, recorded=recorded,
            scenes_frames=args.scenes_frames, fold=args.fold,
            negative_photos=args.negative_photos)
        summary["command"] = command_of(args, steps)
        if args.fold is not None:
            summary = record_fold(summary, recorded, study, args.report)
            if summary is None:
                return
    except CatunetError as error:
        sys.exit(f"error: {error}")
    if args.fold is None:  # an assembled ladder has no final recipe to draw
        draw_worst_three(summary, study, args.report)
    write_quality_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'quality.md'}")


EMPTY = "''"  # --steps '' as a shell command line writes it


def command_of(args, steps):
    """The command line that makes a summary (or a fold's record)."""
    command = "python -m catunet.study.quality"
    if args.from_recorded:
        command += (f" --from-recorded {args.from_recorded} "
                    f"--steps {','.join(steps) or EMPTY}")
    if args.final_seeds is not None:
        command += f" --final-seeds {args.final_seeds}"
    if args.scenes_frames:
        command += f" --scenes-frames {args.scenes_frames}"
    if args.negative_photos:
        command += f" --negative-photos '{args.negative_photos}'"
    if Path(args.report) != REPORTS:
        command += f" --report {args.report}"
    if args.fold is not None:
        command += f" --fold {args.fold}"
    return command


def record_fold(record, recorded, study, report):
    """Adds a fold's record to ``<report>/quality-folds.json``; returns the
    assembled ladder once every fold is there, else None."""
    path = Path(report) / folds_book.FOLDS_FILE
    book = folds_book.merge(path, record)
    left = folds_book.missing(book)
    if left:
        print(f"Recorded fold {record['fold']} in {path}; still to train: "
              + ", ".join(f"--fold {k}" for k in left))
        return None
    print(f"Recorded fold {record['fold']} in {path}: every fold is there")
    return assemble(book, recorded, study)


def assemble(book, recorded, study):
    """The ladder's summary (as ``run_ladder`` returns) from every
    fold's record: each row's runs in fold order, the step kept by the
    recorded ladder's rule over all folds, the recorded ladder's inference
    settings, no final recipe.

    Args:
        book: ``merge``'s book, every fold recorded.
        recorded: The recorded ladder the folds continue.
        study: The ``experiments.Study`` (fold photo names).
    """
    folds = [book["folds"][str(k)] for k in range(len(book["folds"]))]
    first = folds[0]
    key = "score" if first["scenes"] else "val_dice"
    climbed, best = [], None
    for i, name in enumerate(folds_book.names(first)):
        runs = [fold["rows"][i]["run"] for fold in folds]
        kept = best is None or name in (RETRAINED_TRANSFER,
                                        RETRAINED_RECIPE) or \
            keeps(runs, best, key)
        climbed.append((name, runs, kept, first["rows"][i]["adds"]))
        if kept:
            best = runs
    summary = ladder_summary(
        first["command"].rsplit(" --fold ", 1)[0]
        + " --fold S (S = " + ", ".join(str(f["fold"]) for f in folds) + ")",
        first,
        {f"fold {f['fold']} {name}": pre for f in folds
         for name, pre in f["pretrained"].items()},
        ladder_rows(recorded, climbed),
        {"tried": [], "chosen": recorded["inference"]["chosen"],
         "from_recorded": True},
        decisive_photos(study, climbed), None, recorded)
    summary["folds"] = [
        {"fold": f["fold"], "machine": f["machine"],
         "code_version": f["code_version"],
         "precision": f["rows"][-1]["run"]["config"]["precision"],
         "seconds": _fold_seconds(f)} for f in folds]
    return summary


def _fold_seconds(record):
    """Training seconds of one fold's sitting, each part once."""
    return runstore.total_seconds([*record["pretrained"].values(),
                          *(row["run"] for row in record["rows"])])


if __name__ == "__main__":
    main()
