"""Learning from unlabelled photos: self-training with pseudo-masks.

With ``--unlabelled DIR`` a training run becomes four steps, each in its
own sub-folder of the run folder and each resumable:

1. ``teacher/``: a model of the same settings trained on the labelled
   photos (or the ``--teacher`` model given), at ``--self-training-size``
   when it is set;
2. ``pseudo-<r>/``: the teacher labels every unlabelled photo at its own
   input size, averaging
   its prediction with that of the mirrored photo (``inference``, TTA);
   photos that look like a test or validation photo are left out
   (``duplicates``); the kept pseudo-masks, their confidences, a contact
   sheet of the most and least confident and the seconds the labelling
   took (counted in the run's training time) are saved there;
3. ``student-<r>-pseudo/``: the student, starting from the teacher's
   weights (or, when the student is wider or deeper than its teacher, from
   the run's ``--init``, as in Noisy Student, Xie et al. 2020), pre-trains
   on the kept pseudo-labelled photos with the run's augmentation
   (``--pseudo-epochs``; all of them with ``--pseudo-holdout 0``), at
   ``--self-training-size`` when it is set;
4. ``student-<r>/``: it fine-tunes on the labelled photos exactly as the
   run's settings say (``--freeze-epochs`` etc.), at ``--image-size``.

With ``--self-training-rounds`` above 1 the student becomes the teacher and
steps 2-4 repeat. The final model is saved as the run's ``<stage>.keras``.

**Which pseudo-masks are kept.** A photo's confidence is the mean, over its
pixels, of the teacher's margin |2p - 1| (1: every pixel certain; 0: every
pixel a coin toss). Photos whose predicted cat covers less than
``MIN_AREA`` or more than ``MAX_AREA`` of the picture are dropped first:
an empty or all-cat mask is usually the teacher failing, not a photo
without a cat (every photo in such a folder is meant to show one). Of the
rest, the most confident ``pseudo_keep`` fraction is kept. A rank, not a
fixed probability, because how confident a teacher is depends on its
width, its epochs and its loss; the fraction is a setting chosen on
validation.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.data import duplicates, loading, split as splits
from catunet.data.split import load_split_for
from catunet.errors import CatunetError
from catunet.inference import contours
from catunet.inference.predict import predict_probabilities
from catunet.training.config import SELF_TRAINING, TrainConfig

MIN_AREA = 0.02
MAX_AREA = 0.95
SHEET_COUNT = 8  # photos of each end of the confidence ranking on the sheet


@dataclasses.dataclass
class Labelling:
    """The teacher's labelling of the unlabelled photos: a part of a run's
    training time beside the trained parts (``catunet.training.train.Run``)."""

    folder: Path
    seconds: float
    reused: bool = False


def unlabelled_photos(folder):
    """Image files of a folder of unlabelled photos (or of its ``images/``)."""
    return loading.list_photos(folder)


def confidence(probabilities):
    """Mean pixel margin ``|2p - 1|`` of one probability map, in [0, 1]."""
    return float(np.mean(np.abs(2 * np.asarray(probabilities) - 1)))


def choose(confidences, areas, keep):
    """Indices of the kept photos: sane area, then the most confident
    ``keep`` fraction of all photos (at most)."""
    sane = [i for i, a in enumerate(areas) if MIN_AREA <= a <= MAX_AREA]
    count = min(len(sane), int(round(keep * len(confidences))))
    ranked = sorted(sane, key=lambda i: -confidences[i])
    return sorted(ranked[:count])


def protected_pairs(config):
    """The photos of a run that its unlabelled photos must not resemble:
    its test part and, with ``folds``, its validation fold."""

    pairs = loading.find_pairs(config.data_dir)
    train, test, manifest = load_split_for(config, pairs, config.data_dir)
    _, val = splits.validation_fold(train, config.folds, config.val_fold,
                                    seed=manifest["seed"])
    return test + val


def labelled_config(config):
    """``config`` without its self-training: the teacher's settings, and
    the student's when it fine-tunes on the labelled photos. Every field
    that only shapes self-training is at its default, so the teacher has
    the key of the same recipe trained alone and a finished run of it is
    reused (``catunet.study.runstore``)."""
    defaults = TrainConfig()
    return dataclasses.replace(config, **{
        name: getattr(defaults, name)
        for name in SELF_TRAINING + ("round_ensemble",)})


def student_start(teacher_path, teacher, config):
    """The model a student starts from: its teacher when the two have the
    same architecture, else the run's ``init`` (None: random weights).

    Args:
        teacher_path: The teacher's ``.keras`` file.
        teacher: The teacher, loaded.
        config: The student's ``TrainConfig``.
    """
    from catunet.models.unet import build_model

    student = build_model(config, pretrained=False)
    shapes = lambda m: [tuple(w.shape) for w in m.weights]  # noqa: E731
    if shapes(teacher) == shapes(student):
        return teacher_path
    return config.init


def make_pseudo_labels(teacher, photos, out, keep, protected=(), batch=64):
    """Labels photos with a teacher model and saves a data folder.

    ``out/images/`` links to the kept photos, ``out/masks/`` holds their
    pseudo-masks (PNG, the photo's size), ``out/pseudo-labels.json`` every
    photo's confidence, area and fate, ``out/pseudo-labels.png`` the most
    and least confident kept ones. Written last, the JSON marks the folder
    finished; its ``seconds`` are what the labelling took.

    Args:
        teacher: A loaded Keras model; it labels photos at its own input
            size.
        photos: Image files.
        out: The folder to fill.
        keep: Fraction to keep (``choose``).
        protected: Image files that no kept photo may resemble.

    Returns:
        The summary saved as ``pseudo-labels.json``.
    """
    out = Path(out)
    done = out / "pseudo-labels.json"
    if done.is_file():
        return json.loads(done.read_text())
    began = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    hashes = duplicates.hash_files(photos)
    near = {d.path: d for d in duplicates.find_duplicates(
        hashes, duplicates.hash_files(protected))}
    usable = [p for p in photos if str(p) not in near]
    probabilities, size = [], teacher.input_shape[1]
    for start in range(0, len(usable), batch):
        chunk = [loading.resize_image(loading.read_image(p), size)
                 for p in usable[start:start + batch]]
        probabilities.extend(predict_probabilities(teacher, np.stack(chunk),
                                                   tta=True))
    scores = [confidence(p) for p in probabilities]
    areas = [float(np.mean(p > 0.5)) for p in probabilities]
    kept = set(choose(scores, areas, keep))
    if not kept:
        raise CatunetError(
            f"{out}: the teacher's masks of all {len(usable)} photos cover "
            f"less than {MIN_AREA:.0%} or more than {MAX_AREA:.0%} of the "
            "picture; train the teacher longer or give a better --teacher")
    rows = []
    for i, path in enumerate(usable):
        rows.append({"photo": path.name, "confidence": scores[i],
                     "area": areas[i], "kept": i in kept})
        if i in kept:
            photo = loading.read_image(path)
            mask = contours.upsample(probabilities[i], photo.shape)
            (out / "images" / path.name).symlink_to(path.resolve())
            atomic.write_image(out / "masks" / f"{path.stem}.png", mask * 255)
    _contact_sheet(out, usable, rows)
    summary = {"photos": len(photos), "kept": len(kept),
               "left_out_as_test_lookalikes": [
                   dataclasses.asdict(d) for d in near.values()],
               "rule": {"keep": keep, "min_area": MIN_AREA,
                        "max_area": MAX_AREA},
               "labels": rows, "seconds": time.perf_counter() - began}
    atomic.write_json(done, summary)
    return summary


def _contact_sheet(out, photos, rows):
    """The most and least confident kept pseudo-masks, outlined."""
    import matplotlib.pyplot as plt

    from catunet.figures import outline_grid

    kept = sorted((r["confidence"], i) for i, r in enumerate(rows)
                  if r["kept"])
    if not kept:
        return
    ends = kept[-SHEET_COUNT:][::-1] + kept[:SHEET_COUNT]
    picks = list(dict.fromkeys(i for _, i in ends))
    overlays, titles = [], []
    for i in picks:
        photo = loading.read_image(photos[i])
        mask = loading.read_mask(out / "masks" / f"{photos[i].stem}.png")
        overlays.append(contours.overlay(photo, mask))
        titles.append(f"{photos[i].name}\nconfidence {rows[i]['confidence']:.2f}")
    fig = outline_grid(overlays, titles, per_row=SHEET_COUNT, size=2.0,
                       legend=False)
    atomic.save_figure(fig, out / "pseudo-labels.png", dpi=80)
    plt.close(fig)


def self_train(config, train, verbose=1, callbacks=()):
    """Runs the four steps of self-training (module docs) for ``config``.

    Args:
        config: A resolved ``TrainConfig`` with ``unlabelled`` set.
        train: ``catunet.training.train.train`` (passed in: it calls this module),
            perhaps one that reuses finished parts found elsewhere by key.

    Returns:
        ``(chain, parts)``: the ``.keras`` paths of the teacher and of each
        round's student, in order (the last is the final student); and the
        ``Run`` of every part trained or reused on the way, with each
        round's ``Labelling`` (none for labels made before it was timed).
    """
    from catunet.models.saving import load_model

    folder = Path(config.out)
    labelled = labelled_config(config)
    size = config.self_training_size or config.image_size
    parts = []
    teacher = config.teacher
    if not teacher:
        run = train(dataclasses.replace(labelled, image_size=size,
                                        out=str(folder / "teacher")),
                    verbose, callbacks)
        teacher = str(run.model_path)
        parts.append(run)
    chain = [Path(teacher)]
    photos = unlabelled_photos(config.unlabelled)
    protected = [p.image for p in protected_pairs(config)]
    for r in range(1, config.self_training_rounds + 1):
        print(f"Self-training round {r}: {len(photos)} photos labelled by "
              f"{teacher}")
        teacher_model = load_model(teacher)
        summary = make_pseudo_labels(
            teacher_model, photos, folder / f"pseudo-{r}",
            config.pseudo_keep, protected)
        start = student_start(teacher, teacher_model, labelled)
        if start != teacher:
            print(f"The student is not the teacher's shape: it starts from "
                  f"{start or 'random weights'}")
        print(f"Kept {summary['kept']} pseudo-masks "
              f"({len(summary['left_out_as_test_lookalikes'])} photos left "
              "out as test look-alikes)")
        pseudo = folder / f"pseudo-{r}"
        if "seconds" in summary:
            parts.append(Labelling(pseudo, summary["seconds"]))
        split = pseudo / "split.json"
        if not split.is_file():
            splits.save_split(splits.make_split(
                loading.find_pairs(pseudo), seed=config.split_seed,
                test_fraction=config.pseudo_holdout), split)
        pre = dataclasses.replace(
            labelled, stage="pretrain", data_dir=str(pseudo), image_size=size,
            split=str(split), folds=0, val_fold=0,
            epochs=config.pseudo_epochs, init=start, freeze_epochs=0,
            fine_tune_learning_rate=None, protect="", copy_paste=0.0,
            paste_backgrounds=None, negatives=0.0, negative_pastes=0.0,
            negative_photos=None,
            out=str(folder / f"student-{r}-pseudo"))
        pre_run = train(pre, verbose, callbacks)
        student = train(dataclasses.replace(
            labelled, init=str(pre_run.model_path),
            out=str(folder / f"student-{r}")), verbose, callbacks)
        parts += [pre_run, student]
        teacher = str(student.model_path)
        chain.append(Path(teacher))
    return chain, parts
