"""A recipe on the validation folds, and its one look at the test photos.

The studies that choose a recipe (``catunet.study.encoder_ladder``,
``catunet.study.defaults``) train it once per validation fold
(``fold_runs``: seed *s* validates on fold *s* of the 57 training photos,
each run found by key or trained) and score it on the fold's photos and its
validation-cat scenes, never on test. ``final`` trains the chosen recipe on
all training photos with a few seeds and scores the test photos once; its
report gives the seed spread and a bootstrap interval over the photos.
``report_then_final`` writes a study's validation result before those
hours of final training, and again with their test scores.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

import catunet
from catunet import atomic
from catunet.data import loading
from catunet.inference.evaluate import evaluate, score
from catunet.models.saving import load_model
from catunet.study import stats
from catunet.study.choosing import with_scene_scores
from catunet.study.runstore import RunStore
from catunet.training import machine, provenance

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


def bootstrap_interval(per_photo, draws=BOOTSTRAP, seed=0):
    """A 95% percentile interval of the mean over photos, resampling the
    photos (each photo's Dice averaged over the seeds first)."""
    values = np.asarray(per_photo, float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (draws, len(values)))] \
        .mean(axis=1)
    return [float(np.percentile(means, q)) for q in (2.5, 97.5)]


def final_folder(runs_dir, recipe, seed, base):
    """Where ``final`` trains ``recipe`` with ``seed``: named by the
    recipe's changes to ``base``."""
    changes = [{k: v} for k, v in recipe.items() if base.get(k) != v]
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


def final_seed(study, recipe, settings, seed, runs_dir, base):
    """The recipe trained on all training photos with ``seed`` (or found
    finished by key), its inference settings saved beside the model, and
    the test photos scored once (``catunet.inference.evaluate``; a run
    scored before with these settings keeps its ``eval-test.json``). The
    run folder is named by the recipe's changes to ``base``
    (``final-<changes>-s<seed>``), so another recipe never lands in a
    finished one's folder."""
    config = dataclasses.replace(
        study.base, **recipe, folds=0, val_fold=0, seed=seed,
        out=str(final_folder(runs_dir, recipe, seed, base)))
    print(f"== final recipe, seed {seed} (all training photos)", flush=True)
    run = RunStore().run(config)
    settings.save_beside(run.model_path)
    scored = run.folder / "eval-test.json"
    report = json.loads(scored.read_text()) if scored.is_file() else {}
    if report.get("inference") != dataclasses.asdict(settings):
        report = evaluate(run.model_path)
        atomic.write_json(scored, report)
    return {"seed": seed, "folder": str(run.folder),
            "train_minutes": run.seconds / 60,
            "labelling_minutes": labelling_minutes(run.folder),
            "machine": provenance.load_record(run.folder)["machine"],
            "test_dice": report["mean"]["dice"],
            "test_dice_full_size": report["mean"]["dice_full_size"],
            "test_dice_per_image": [r["dice"] for r in report["images"]],
            "images": [r["image"] for r in report["images"]]}


def final(study, recipe, settings, seeds, runs_dir, base, done=(),
          progress=None):
    """``final_seed`` for seeds 0 to ``seeds`` - 1, after those ``done``
    (their results, from an earlier session), calling ``progress`` with
    the results so far after each; then the seed spread and a bootstrap
    interval over the test photos."""
    results = list(done)
    for seed in range(len(results), seeds):
        results.append(final_seed(study, recipe, settings, seed, runs_dir,
                                  base))
        if progress:
            progress(results)
    per_photo = np.mean([r["test_dice_per_image"] for r in results], axis=0)
    mean, sd = stats.mean_sd([r["test_dice"] for r in results])
    return {"runs": results, "test_dice": mean, "test_dice_sd": sd,
            "photo_interval": bootstrap_interval(per_photo),
            "worst_photo": [float(min(r["test_dice_per_image"]))
                            for r in results]}


def train_final(summary, write, seeds, study, recipe, settings, runs_dir,
                base):
    """Trains the final seeds of ``summary`` (a study's validation result)
    and puts them in it (``final``), writing it with ``write`` after each
    seed: the seeds done so far (``final_runs``) are kept while
    ``final_pending``, so an interrupted study resumes after them, here or
    on another machine, and their test scores are summarised only once
    all ``seeds`` (``final_seeds``) are done."""
    summary["final_seeds"] = seeds

    def progress(results):
        summary["final_runs"] = results
        write(summary)

    summary["final"] = final(study, recipe, settings, seeds, runs_dir, base,
                             summary.get("final_runs", []), progress)
    summary["final_pending"] = False
    summary.pop("final_runs", None)


def report_then_final(summary, write, start, final_seeds, study, recipe,
                      settings, runs_dir, base):
    """Writes ``summary``, a study's validation result, with ``write``
    before its ``final_seeds`` train (``train_final``), then again with
    their test scores: hours of final training never hold back or lose the
    validation result. ``final_pending`` says which of the two is on disk;
    rerunning the study's command resumes the seeds from their
    checkpoints."""
    summary.update(final=None, final_pending=bool(final_seeds),
                   wall_minutes=(time.perf_counter() - start) / 60)
    write(summary)
    if final_seeds:
        train_final(summary, write, final_seeds, study, recipe, settings,
                    runs_dir, base)
        summary["wall_minutes"] = (time.perf_counter() - start) / 60
        write(summary)
    return summary


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
