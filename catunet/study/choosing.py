"""How the study chooses, on validation only.

A change is kept only if it raises the mean *choosing score* of its fold
runs (``keeps``): validation photo Dice and validation-cat scene Dice
averaged (``choosing_score``). The validation photos each hold one large
cat; users' photos also hold several and small ones, so each fold's own
validation cats are pasted onto frames of another set (DAVIS: outdoor,
16:9), large, medium, small and several at a time (``fold_scenes``,
``catunet.data.scenes``), and scored with the frame's own foreground left
out. Inference options are chosen the same way, one group at a time
(``greedy_inference``). The test photos never choose anything.
"""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from catunet.data import loading, scenes
from catunet.data.split import group_of, groups_of
from catunet.errors import CatunetError
from catunet.inference.evaluate import score
from catunet.inference.predict import ZOOM_MERGES, Settings, predict_photo_masks
from catunet.models.saving import load_model
from catunet.study import render, scorecache
from catunet.training.provenance import file_sha256

# Inference options, one group at a time, in this order.
INFERENCE_GROUPS = (
    ("test-time augmentation", [{"tta": True}]),
    ("zoom", [{"zoom": z, "zoom_merge": m} for m in ZOOM_MERGES
              for z in (2, 3)]),
    ("zoom only small cats", [{"zoom_max_area": a} for a in (0.1, 0.2, 0.3)]),
    ("threshold", [{"threshold": t} for t in (0.2, 0.3, 0.4, 0.6, 0.7)]),
    ("fill holes", [{"fill_holes": True}]),
    ("drop specks", [{"min_area": a} for a in (0.005, 0.01, 0.02)]),
)


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


def score_scenes(model, made, settings):
    """Per-scene Dice and cats found of a loaded model; returns
    ``(predicted masks, rows)``."""
    predicted = predict_photo_masks(model, [s.image for s in made], settings)
    return predicted, [
        {"kind": s.kind, "cats": s.cats, "frame": s.frame,
         "dice": scenes.dice(s, p), "found": scenes.cats_found(s, p),
         "visible": scenes.visible_cats(s)}
        for s, p in zip(made, predicted)]


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
    once, and each run's scores are kept beside it
    (``catunet.study.scorecache``): a study started again reads them.

    Args:
        study: The ``variants.Study``; ``runs``: one run per seed.
        with_test: Score the test photos too (False: a ladder that must
            not look at them, such as ``catunet.study.encoder_ladder``).
    """
    folders = [Path(r["folder"]) for r in runs]
    folds = [r["config"]["val_fold"] for r in runs]
    digests = [file_sha256(f / "cats.keras") for f in folders]
    # What each run is scored on, by fingerprint: part of a kept score's key.
    scored_on = {"val": [scorecache.fingerprint(study.val[f]) for f in folds],
                 "test": [scorecache.fingerprint(study.test)] * len(runs)}
    if made is not None:
        scored_on["scenes"] = [scorecache.fingerprint(made[f]) for f in folds]
    models, measured = {}, {}

    def model(i):  # loaded only where a score is not on disk
        if i not in models:
            models[i] = Remembered(load_model(folders[i] / "cats.keras"))
        return models[i]

    def each_run(what, settings, compute):
        """``compute(i)`` for each run ``i``, or what it gave before."""
        plain = dataclasses.asdict(settings)
        return [scorecache.kept(
            folders[i], [what, scored_on[what][i], digests[i], plain],
            lambda: compute(i)) for i in range(len(runs))]

    def measure(settings):
        if settings not in measured:
            val = each_run("val", settings, lambda i: score(
                model(i), *study.val[folds[i]], settings)["dice"])
            found = {
                "settings": dataclasses.asdict(settings),
                "val_dice": [float(np.mean(v)) for v in val],
                "val_dice_per_image": val}
            if with_test:
                test = each_run("test", settings, lambda i: score(
                    model(i), *study.test, settings)["dice"])
                found["test_dice"] = [float(np.mean(t)) for t in test]
                found["test_dice_per_image"] = np.mean(test, axis=0).tolist()
            if made is not None:
                on = each_run("scenes", settings, lambda i: scene_scores(
                    model(i), made[folds[i]], settings))
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



def keeps(runs, best, key):
    """The ladder's rule: a step is kept when its runs' mean ``key`` (one run
    per validation fold) is higher than the best kept step's."""
    return np.mean([r[key] for r in runs]) > np.mean([r[key] for r in best])


def by_score(scored):
    """The rule with scenes: the mean choosing score (validation photo and
    scene Dice averaged)."""
    return float(np.mean(choosing_score(scored["val_dice"],
                                        scored["scene_dice"])))


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


def ladder_scenes(study, scenes_frames, negative_photos=None):
    """The validation scenes a ladder chooses on: each fold's own cats
    pasted onto the frames of ``scenes_frames`` (``fold_scenes``, scene
    seed 0), less the frames of the sequences ``negative_photos`` come
    from; returns ``(frames, scenes of each fold)``."""
    frames = load_frames(scenes_frames)
    if negative_photos:
        frames = frames_apart(frames, loading.photos_of(negative_photos))
    return frames, fold_scenes(study, frames, 0)
