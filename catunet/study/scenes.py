"""How models do on scenes like users' photos: ``python -m catunet.study.scenes``.

    python -m catunet.study.scenes --frames ../shared/data/davis \\
        --model best=runs/reproduce/best-s0/cats.keras,... \\
        --model default=runs/default-s0/cats.keras,...

pastes every *test* cat of the models' split onto outdoor frames (DAVIS)
large, medium, small and three at a time (``catunet.data.scenes``), predicts
every scene with each model and the inference settings saved beside it
(the photo resized to the model's size, the probabilities brought back to
the frame's), and scores Dice (the frame's own foreground left out) and
the share of cats found. It writes ``reports/scenes.json`` and
``reports/scenes.md``.

The scenes are made of test cats, so this is a report only: nothing is
chosen on it (a model or setting chosen here would be tuned to the test
photos). The labels group models, one per seed; two labels trained with
the same seeds are compared seed by seed.
"""

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np

from catunet import __version__, atomic
from catunet.flags import HelpFormatter
from catunet.data import loading, scenes
from catunet.data.split import group_of, groups_of
from catunet.errors import CatunetError
from catunet.inference.evaluate import evaluate, model_test_pairs, score
from catunet.inference.predict import Settings, predict_photo_masks
from catunet.inference.runtimes import load_runtime
from catunet.models.saving import load_model
from catunet.study import render, stats
from catunet.training import machine
from catunet.training.config import TrainConfig

REPORTS = Path("reports")
FIGURE = "scenes.png"


def load_frames(folder):
    """``(name, image, foreground mask)`` of the frames to paste onto: the
    middle frame of each group (a video's sequence) where the names carry
    groups, else every pair; a folder of photos without masks counts as
    having no foreground."""
    folder = Path(folder)
    if not (folder / "masks").is_dir():
        return [(p.name, image, np.zeros(image.shape[:2], np.uint8))
                for p in loading.list_photos(folder)
                for image in [loading.read_image(p)]]
    pairs = loading.find_pairs(folder)
    groups = groups_of(pairs)
    if groups is not None:
        members = {}
        for pair, group in zip(pairs, groups):
            members.setdefault(group, []).append(pair)
        pairs = [found[len(found) // 2] for _, found in sorted(members.items())]
    return load_pairs(pairs)


def frames_apart(frames, photos):
    """The ``(name, image, mask)`` frames of no group (a video's sequence,
    ``split.group_of``) that one of ``photos`` is of: a model trained on a
    sequence's frames is not scored on a scene made of another of them."""
    used = {group_of(Path(p).stem) for p in photos}
    kept = [f for f in frames if group_of(Path(f[0]).stem) not in used]
    if len(kept) < len(frames):
        print(f"Scenes: {len(frames) - len(kept)} frames left out, of "
              "sequences the training photos come from")
    if not kept:
        raise CatunetError("every scene frame is of a sequence the "
                           "training photos come from")
    return kept


def load_pairs(pairs):
    """``(name, image, mask)`` of labelled pairs at their own sizes."""
    return [(p.image.name, loading.read_image(p.image), loading.read_mask(p.mask))
            for p in pairs]


def test_pairs_of(paths):
    """The test pairs shared by every model (each model's own split)."""
    found = {}
    for path in paths:
        _, pairs = model_test_pairs(path)
        found[path] = pairs
    names = {tuple(p.image.name for p in pairs) for pairs in found.values()}
    if len(names) > 1:
        raise CatunetError("the models were split differently, so their test "
                           "cats differ: " + ", ".join(map(str, paths)))
    return next(iter(found.values()))


def score_scenes(model, made, settings):
    """Per-scene Dice and cats found of a loaded model; returns
    ``(predicted masks, rows)``."""
    predicted = predict_photo_masks(model, [s.image for s in made], settings)
    return predicted, [
        {"kind": s.kind, "cats": s.cats, "frame": s.frame,
         "dice": scenes.dice(s, p), "found": scenes.cats_found(s, p),
         "visible": scenes.visible_cats(s)}
        for s, p in zip(made, predicted)]


def score_model(path, made):
    """``score_scenes`` of the model at ``path``, with the inference
    settings saved beside it; returns ``(settings, predicted, rows)``."""
    model, _ = load_runtime(path, "keras")
    settings = Settings.beside(path)
    return (settings, *score_scenes(model, made, settings))


def by_kind(rows):
    """Mean Dice, cats found and visible, and scenes of each kind."""
    kinds = {}
    for kind in scenes.KINDS:
        chosen = [r for r in rows if r["kind"] == kind]
        if chosen:
            kinds[kind] = {
                "dice": float(np.mean([r["dice"] for r in chosen])),
                "found": sum(r["found"] for r in chosen),
                "cats": sum(r["visible"] for r in chosen),
                "scenes": len(chosen)}
    return kinds


def _seed(path):
    config = Path(path).parent / "config.json"
    return TrainConfig.load(config).seed if config.is_file() else None


def run(models, frames_dir, seed=0, progress=print):
    """Scores every model on the scenes; returns the summary (and the
    scenes and one model's predictions, for the figure).

    Args:
        models: ``{label: [model path, ...]}``, one model per seed.
    """
    paths = [Path(p) for group in models.values() for p in group]
    for path in paths:
        if not path.is_file():
            raise CatunetError(f"{path}: model not found")
    pairs = test_pairs_of(paths)
    frames = load_frames(frames_dir)
    made = scenes.make_scenes(load_pairs(pairs), frames, seed)
    progress(f"{len(made)} scenes of {len(pairs)} test cats on "
             f"{len(frames)} frames")
    results, shown = {}, None
    for label, group in models.items():
        results[label] = []
        for path in map(Path, group):
            progress(f"== {label}: {path}")
            settings, predicted, rows = score_model(path, made)
            tested = evaluate(path, settings=settings)
            results[label].append({
                "model": str(path), "seed": _seed(path),
                "inference": dataclasses.asdict(settings),
                "test_dice": tested["mean"]["dice"],
                "kinds": by_kind(rows), "scenes": rows})
            if path == Path(group[0]):  # the last label's first
                shown = (f"{label}, seed {_seed(path)}", predicted)
    summary = {
        "command": "python -m catunet.study.scenes " + " ".join(
            [f"--frames {frames_dir}", f"--seed {seed}"]
            + [f"--model {label}={','.join(map(str, group))}"
               for label, group in models.items()]),
        "code_version": __version__, "machine": machine.describe(),
        "seed": seed, "frames": {"folder": str(frames_dir),
                                 "count": len(frames)},
        "test_cats": len(pairs),
        "kinds": {k: {"cats": n, "scale": list(s)}
                  for k, (n, s) in scenes.KINDS.items()},
        "models": results}
    return summary, made, shown


# Scenes of validation cats: what a study or a ladder that chooses on
# scenes scores its fold runs by (``catunet.study.valscenes``).


def fold_scenes(study, frames, seed):
    """The scenes of each validation fold, made of that fold's cats only
    (at their photos' own sizes), fold by fold."""
    return [scenes.make_scenes(load_pairs(study.fold_pairs(k)), frames,
                               seed + k)
            for k in range(len(study.val))]


def scene_scores(model, made, settings=Settings()):
    """A model's Dice and cats found on scenes, by kind, and their mean
    Dice over the kinds; by default at the plain inference settings (those
    of validation Dice)."""
    return summarize_kinds(score_scenes(model, made, settings)[1])


def summarize_kinds(rows):
    """Scored scenes (``score_scenes`` rows) as ``by_kind`` and their mean
    Dice over the kinds: what the choosing score counts."""
    kinds = by_kind(rows)
    return {"kinds": kinds,
            "dice": float(np.mean([k["dice"] for k in kinds.values()]))}


class Remembered:
    """A model that remembers its forward passes by their input, so the
    settings that differ only after the probabilities (threshold,
    clean-ups) cost no second pass: zoomed tiles make passes the dear part
    of choosing."""

    def __init__(self, model):
        self.model = model
        self.input_shape = model.input_shape
        self._seen = {}

    def predict_on_batch(self, batch):
        batch = np.ascontiguousarray(batch)
        key = (batch.shape, hashlib.blake2b(batch.tobytes(),
                                            digest_size=16).digest())
        if key not in self._seen:
            self._seen[key] = np.asarray(self.model.predict_on_batch(batch))
        return self._seen[key]


def settings_measure(study, runs, made=None, with_test=True):
    """A function ``Settings`` → the scores of fold runs with them: per
    seed, validation photo Dice (and each photo's), test Dice (and its
    per-photo mean over the seeds) and, with ``made`` (every fold's
    scenes), scene Dice overall and by kind. Each setting is measured
    once.

    Args:
        study: The ``experiments.Study``; ``runs``: one run per seed.
        with_test: Score the test photos too (False: a ladder that must
            not look at them, such as ``catunet.study.encoder_ladder``).
    """
    models = [Remembered(load_model(Path(r["folder"]) / "cats.keras"))
              for r in runs]
    folds = [r["config"]["val_fold"] for r in runs]
    measured = {}

    def measure(settings):
        if settings not in measured:
            val = [score(m, *study.val[f], settings)["dice"]
                   for m, f in zip(models, folds)]
            found = {
                "settings": dataclasses.asdict(settings),
                "val_dice": [float(v.mean()) for v in val],
                "val_dice_per_image": [v.tolist() for v in val]}
            if with_test:
                test = [score(m, *study.test, settings)["dice"]
                        for m in models]
                found["test_dice"] = [float(t.mean()) for t in test]
                found["test_dice_per_image"] = np.mean(test, axis=0).tolist()
            if made is not None:
                on = [scene_scores(m, made[f], settings)
                      for m, f in zip(models, folds)]
                found["scene_dice"] = [o["dice"] for o in on]
                found["scene_kinds"] = {kind: [o["kinds"][kind]["dice"]
                                               for o in on]
                                        for kind in scenes.KINDS}
            measured[settings] = found
        return measured[settings]

    return measure


def choosing_score(photos, scenes):
    """The mean of validation photo Dice and scene Dice (numbers, or
    arrays of them per seed): what a ladder that chooses on scenes
    raises."""
    return (np.asarray(photos) + np.asarray(scenes)) / 2


def with_scene_scores(runs, made):
    """Fold runs (``run_one`` results) with their scenes' scores
    (``scenes``) and their choosing score (``score``) added."""
    for r in runs:
        if "scenes" not in r:
            model = load_model(Path(r["folder"]) / "cats.keras")
            r["scenes"] = scene_scores(model, made[r["config"]["val_fold"]])
            r["score"] = float(choosing_score(r["val_dice"],
                                              r["scenes"]["dice"]))
    return runs


def check_frames_apart(frames_dir, paste_backgrounds):
    """Refuses frames that are also paste backgrounds."""
    frames = Path(frames_dir).resolve()
    for folder in (paste_backgrounds or "").split(","):
        if folder and Path(folder).resolve() == frames:
            raise CatunetError(
                f"{folder}: the scenes' frames are also a paste background; "
                "a variant would be scored on backgrounds it trained on")


def worst_figure(made, predicted, label, folder):
    """The worst scene of every kind for one model, outlined."""
    from catunet.figures import outline_grid
    from catunet.inference.contours import overlay

    pictures, titles = [], []
    for kind in scenes.KINDS:
        chosen = [(scenes.dice(s, p), s, p) for s, p in zip(made, predicted)
                  if s.kind == kind]
        if not chosen:
            continue
        score, scene, mask = min(chosen, key=lambda c: c[0])
        pictures.append(overlay(scene.image, mask.astype(np.uint8),
                                scene.truth))
        titles.append(f"{kind}: {scene.cats[0]} ({score:.2f})")
    figure = outline_grid(pictures, titles, per_row=2, size=3.6)
    figure.suptitle(f"{label}: the worst scene of each kind")
    figure.savefig(Path(folder) / FIGURE, dpi=90)


def _cell(runs, kind):
    dice = [r["kinds"][kind]["dice"] for r in runs]
    found = sum(r["kinds"][kind]["found"] for r in runs)
    cats = sum(r["kinds"][kind]["cats"] for r in runs)
    return f"{stats.format_mean_sd(dice)} ({100 * found / cats:.0f}% found)"


def comparisons(summary):
    """``{kind or 'test': paired difference}`` of the last label against
    the first, where both hold the same seeds."""
    labels = list(summary["models"])
    if len(labels) < 2:
        return {}
    first, last = (summary["models"][labels[0]], summary["models"][labels[-1]])
    if [r["seed"] for r in first] != [r["seed"] for r in last] or \
            len(first) < 2:
        return {}
    found = {kind: stats.paired_difference(
        [r["kinds"][kind]["dice"] for r in last],
        [r["kinds"][kind]["dice"] for r in first]) for kind in scenes.KINDS}
    found["test"] = stats.paired_difference([r["test_dice"] for r in last],
                                            [r["test_dice"] for r in first])
    return found


def kinds_text(kinds):
    """The kinds of scene in words, from a summary's ``kinds``."""
    return "; ".join(f"*{k}*: {v['cats']} cat{'s' if v['cats'] > 1 else ''}"
                     f", each {v['scale'][0]:.0%}–{v['scale'][1]:.0%} of the "
                     "frame's shorter side" for k, v in kinds.items())


def write_scenes_report(summary, folder=REPORTS):
    """Writes ``scenes.json`` and ``scenes.md`` into ``folder``."""
    folder = Path(folder)
    atomic.write_json(folder / "scenes.json", summary)
    labels = list(summary["models"])
    kinds = summary["kinds"]
    lines = [
        "# Scenes like users' photos: several cats, small cats, outdoors", "",
        f"Each of the {summary['test_cats']} test cats is cut out by its mask "
        f"and pasted onto a frame of `{summary['frames']['folder']}` (one "
        f"per video, {summary['frames']['count']} frames) at the frame's own "
        "size and shape, once for every kind of scene: "
        + kinds_text(kinds) + " (the other cats of a *several* scene are other test cats). "
        "Each model predicts with the inference settings saved beside it. "
        "Dice leaves out the frame's own foreground (people, animals) where "
        f"no cat covers it; a cat is *found* when at least "
        f"{scenes.FOUND:.0%} of its visible pixels are predicted (a cat "
        "another covers whole is not counted).", "",
        "The scenes are made of test cats: **a report, never used to choose** "
        "a model or a setting.", "",
        "| scenes | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
        "| the test photos as they are | " + " | ".join(
            stats.format_mean_sd([r["test_dice"] for r in runs])
            for runs in summary["models"].values()) + " |",
    ]
    for kind in kinds:
        lines.append(f"| {kind} | " + " | ".join(
            _cell(runs, kind) for runs in summary["models"].values()) + " |")
    lines += ["", "Dice mean ± sd over the models of each column (one per "
              "seed: " + "; ".join(
                  f"{label} {', '.join(str(r['seed']) for r in runs)}"
                  for label, runs in summary["models"].items()) + ")."]
    paired = comparisons(summary)
    if paired:
        lines += ["", f"{labels[-1]} against {labels[0]}, paired by seed:", ""]
        lines += [f"- {'the test photos' if kind == 'test' else kind}: "
                  f"{stats.format_difference(d)}"
                  for kind, d in paired.items()]
    if (folder / FIGURE).is_file():
        lines += ["", f"![the worst scene of each kind]({FIGURE})"]
    lines += ["", f"Made by {render.provenance(summary)} on "
              f"{render.machine_text(summary['machine'])}; command "
              f"`{summary['command']}`; every scene's score in `scenes.json`."]
    atomic.write_text(folder / "scenes.md", "\n".join(lines) + "\n")


def paragraph(summary):
    """README's paragraph: every group's Dice by kind of scene."""
    groups = []
    for label, runs in summary["models"].items():
        kinds = "; ".join(f"{kind} {_cell(runs, kind)}"
                          for kind in summary["kinds"])
        groups.append(f"*{label}* (seeds "
                      f"{', '.join(str(r['seed']) for r in runs)}): the test "
                      "photos as they are "
                      f"{stats.format_mean_sd([r['test_dice'] for r in runs])}"
                      f"; {kinds}")
    paired = comparisons(summary)
    compared = ""
    if paired:
        labels = list(summary["models"])
        compared = (f" {labels[-1]} against {labels[0]}, paired by seed: "
                    + "; ".join(f"{kind} {stats.format_difference(d)}"
                                for kind, d in paired.items()
                                if kind != "test") + ".")
    return (
        f"On scenes like users' photos — the {summary['test_cats']} test cats "
        "pasted large, medium, small and three at a time onto outdoor video "
        f"frames (`{summary['command']}`, "
        f"[reports/scenes.md](reports/scenes.md); a report, never used to "
        "choose) — Dice and the share of cats found were: "
        + ". ".join(groups) + "." + compared)


def parse_models(values):
    """``["label=a.keras,b.keras", ...]`` → ``{label: [paths]}``."""
    models = {}
    for value in values:
        label, sep, paths = value.partition("=")
        if not sep or not label or not paths:
            raise CatunetError(f"--model {value!r}: expected LABEL=PATH[,PATH"
                               "...]")
        if label in models:
            raise CatunetError(f"--model: label {label!r} given twice")
        models[label] = [p for p in paths.split(",") if p]
    return models


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.scenes",
        description="Score models on test cats pasted large, small and "
        "several at a time onto outdoor frames (a report, never used to "
        "choose).", formatter_class=HelpFormatter)
    p.add_argument("--model", action="append", required=True,
                   metavar="LABEL=PATH[,PATH...]",
                   help="a group of models, one per seed (repeat for each "
                   "group; the last is compared with the first by seed)")
    p.add_argument("--frames", required=True,
                   help="folder of frames to paste onto: images/ and masks/ "
                   "of their own foreground (DAVIS), or plain photos")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of every choice that makes the scenes")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of scenes.md, scenes.json and scenes.png")
    args = p.parse_args(argv)
    try:
        summary, made, (label, predicted) = run(
            parse_models(args.model), args.frames, args.seed)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    if Path(args.report) != REPORTS:
        summary["command"] += f" --report {args.report}"
    Path(args.report).mkdir(parents=True, exist_ok=True)
    worst_figure(made, predicted, label, args.report)
    write_scenes_report(summary, args.report)
    print(f"Wrote {Path(args.report) / 'scenes.md'}")


if __name__ == "__main__":
    main()
